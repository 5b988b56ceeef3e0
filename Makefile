# The two commands of the README:
#   make demo   set everything up, run the demo on the local Amplitude emulator
#   make test   set everything up, run linters, type checks and the whole test suite
#
# Everything installs into virtual environments inside this folder, from the repository's files
# and the package index (PyPI) only: .venv (the plugins and dev tools, locked in uv.lock),
# .venv-meltano (Meltano, kept apart: it pins SQLAlchemy below the SDK's), .venv-uv (uv itself).

SHELL := /bin/bash
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	  if command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then \
	    echo $$p; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
UV_VENV := .venv-uv
UV := $(UV_VENV)/bin/uv
UV_VERSION := 0.13.9
MELTANO_VENV := .venv-meltano
MELTANO_VERSION := 4.4.1

.PHONY: demo test lint typecheck pytest venv lock meltano-venv postgres-server clean emulator bench-deps bench-tap bench-target bench-pipe bench-admin bench-storage bench-ledger

# uv, pinned, from PyPI into its own small venv; it then installs .venv exactly as uv.lock says
# (the two plugins editable, the dev tools). `make lock` after changing a dependency.
$(UV):
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3 --version)"; exit 1; }
	$(PYTHON) -m venv $(UV_VENV)
	$(UV_VENV)/bin/python -m pip install -q "uv==$(UV_VERSION)"

# --compile-bytecode: every installed module is compiled once here (as pip does), so no process
# compiles the SDK again at start; with PYTHONDONTWRITEBYTECODE set (as on this project's CI
# machines) each start of tap-amplitude or target-amplitude would otherwise cost twice the time.
$(BIN)/.installed: $(UV) uv.lock pyproject.toml tap-amplitude/pyproject.toml target-amplitude/pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3 --version)"; exit 1; }
	$(UV) sync --locked --compile-bytecode --no-python-downloads --python $(PYTHON)
	@touch $@

# The workspace's own sources are installed editable, so uv does not compile them: compiled
# here on every make (quick when nothing changed), so that a start of tap-amplitude or
# target-amplitude from .venv, by hand, in the demo or in the tests, compiles nothing (about
# 0.08 s of CPU a start otherwise, where PYTHONDONTWRITEBYTECODE is set).
WORKSPACE_SOURCES := tap-amplitude/tap_amplitude target-amplitude/target_amplitude emulator/amplitude_emulator

venv: $(BIN)/.installed
	@$(BIN)/python -m compileall -q $(WORKSPACE_SOURCES) >/dev/null

# Re-resolve uv.lock after changing a dependency in a pyproject.toml (then commit uv.lock).
lock: $(UV)
	$(UV) lock

# Meltano, pinned, into its own venv with the same uv (five times faster than pip here).
$(MELTANO_VENV)/bin/.installed: $(UV)
	@test -n "$(PYTHON)" || { echo "Python 3.11 or newer is needed (python3 --version)"; exit 1; }
	$(UV) venv -q --allow-existing --no-python-downloads --python $(PYTHON) $(MELTANO_VENV)
	$(UV) pip install -q --compile-bytecode --python $(MELTANO_VENV)/bin/python "meltano==$(MELTANO_VERSION)"
	@touch $@

meltano-venv: $(MELTANO_VENV)/bin/.installed

# The PostgreSQL server binaries for the warehouse end-to-end test and the demo, from the
# distribution's packages when missing; never fails (the test then says why it is skipped).
postgres-server:
	@bash demo/install_postgres.sh

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

# Two steps. First everything that is safe side by side, on every core (-n auto in
# pyproject.toml). Then, in one process (-n0): the SDK's standard tap and target suites
# (the SDK's parametrized attribute tests reuse one test object whose record values are
# cached, and under pytest-xdist's scheduling they were seen to check one stream's values against
# another's attribute), and the Meltano project tests, which share the repository's .meltano/run
# directory (meltano/meltano#8763) and were seen to lose their catalog files beside other workers.
SERIAL_TESTS := tests/tap/test_core.py tests/target/test_core.py tests/e2e/test_meltano.py
# The suite starts the tap and the target several hundred times: `venv` compiled their sources.
pytest: venv meltano-venv postgres-server
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/$(MELTANO_VENV)/bin:$$PATH" $(BIN)/pytest $(addprefix --ignore=,$(SERIAL_TESTS)) $(PYTEST_ARGS)
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/$(MELTANO_VENV)/bin:$$PATH" $(BIN)/pytest -n0 $(SERIAL_TESTS) $(PYTEST_ARGS)

test: lint typecheck pytest

emulator: venv
	$(BIN)/python -m amplitude_emulator serve

demo: venv meltano-venv postgres-server
	PATH="$(CURDIR)/$(BIN):$(CURDIR)/$(MELTANO_VENV)/bin:$$PATH" $(BIN)/python -m demo

# Benchmarks (issues 6, 23): contenders side by side, rounds alternated, medians and ratios
# printed; BENCH_ARGS passes options (e.g. BENCH_ARGS="--quick"); BASELINE=<git ref>[,<ref>...]
# installs each ref into its own environment (benchmarks/.cache/) and alternates it with the
# working tree (a BASELINE column). See benchmarks/README.md.
BASELINE ?=
BASELINE_ARG := $(if $(BASELINE),--baseline $(BASELINE),)

bench-deps: venv
	$(UV) sync --locked --compile-bytecode --no-python-downloads --python $(PYTHON) --group bench

bench-tap: bench-deps
	$(BIN)/python -m benchmarks.bench_tap $(BASELINE_ARG) $(BENCH_ARGS)

bench-target: bench-deps
	$(BIN)/python -m benchmarks.bench_target $(BASELINE_ARG) $(BENCH_ARGS)

bench-pipe: bench-deps
	$(BIN)/python -m benchmarks.bench_pipe $(BASELINE_ARG) $(BENCH_ARGS)

bench-admin: venv
	$(BIN)/python -m benchmarks.bench_admin $(BENCH_ARGS)

# Issue 24: the events stream from Amplitude's S3 export (moto's S3 server) vs the Export API.
bench-storage: bench-deps
	$(BIN)/python -m benchmarks.bench_storage $(BENCH_ARGS)

bench-ledger: bench-deps
	$(BIN)/python -m benchmarks.bench_ledger $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(MELTANO_VENV) $(UV_VENV) .meltano .demo output benchmarks/.cache
