"""A previous version of both plugins, installed in an environment of its own, for A/B runs.

``make bench-tap BASELINE=<git ref>`` (likewise bench-target, bench-pipe) passes ``--baseline
<ref>``: the ref's tree is written with ``git archive`` to ``benchmarks/.cache/baseline-<sha>/``
and gets its own virtual environment there, made by the repository's pinned uv:

- a ref with a ``uv.lock``: ``uv sync --locked`` of that lock (its own dependencies, exactly);
- an older ref without one: its two packages installed editable, every third-party package
  constrained to the version the working tree's ``uv.lock`` pins, so the comparison is about our
  code, not about a newer singer-sdk.

Both are made once per commit and reused. The benchmark then runs the baseline's console
scripts (``tap-amplitude``, ``target-amplitude``) alternately with the working tree's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import REPO_ROOT

CACHE = REPO_ROOT / "benchmarks" / ".cache"
UV = REPO_ROOT / ".venv-uv" / "bin" / "uv"


@dataclass(frozen=True)
class Baseline:
    """An installed previous version: its ref as given, its commit, its console scripts."""

    ref: str
    sha: str
    bin_dir: Path

    @property
    def label(self) -> str:
        return f"{self.ref}" if self.sha.startswith(self.ref) else f"{self.ref} ({self.sha[:7]})"

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=REPO_ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def _uv() -> str:
    if UV.exists():
        return str(UV)
    found = shutil.which("uv")
    if found is None:
        raise SystemExit("uv is needed for --baseline: run `make venv` first (it installs uv)")
    return found


def prepare(ref: str) -> Baseline:
    """Install ``ref`` (once per commit) and return its console scripts."""
    sha = _git("rev-parse", "--verify", f"{ref}^{{commit}}")
    folder = CACHE / f"baseline-{sha[:12]}"
    venv = folder / ".venv"
    done = folder / ".installed"
    if not done.exists():
        print(f"  installing the baseline {ref} ({sha[:12]}) into {folder}", flush=True)
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", "--format=tar", sha],
            cwd=REPO_ROOT,
            check=True,
            capture_output=True,
        ).stdout
        tar_path = folder / "tree.tar"
        tar_path.write_bytes(archive)
        with tarfile.open(tar_path) as tar:
            tar.extractall(folder, filter="data")
        tar_path.unlink()
        env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
        python = ["--python", sys.executable]
        if (folder / "uv.lock").exists():
            subprocess.run(
                [_uv(), "sync", "--locked", "--compile-bytecode", "--no-python-downloads",
                 *python, "--project", str(folder)],
                check=True, env=env,
            )  # fmt: skip
        else:
            constraints = folder / "constraints.txt"
            exported = subprocess.run(
                [_uv(), "export", "--frozen", "--no-hashes", "--no-emit-workspace",
                 "--all-groups", "--project", str(REPO_ROOT)],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            constraints.write_text(exported, encoding="utf-8")
            subprocess.run([_uv(), "venv", "-q", *python, str(venv)], check=True)
            subprocess.run(
                [_uv(), "pip", "install", "-q", "--compile-bytecode", "--python",
                 str(venv / "bin" / "python"), "-c", str(constraints),
                 "-e", str(folder / "tap-amplitude"), "-e", str(folder / "target-amplitude")],
                check=True,
            )  # fmt: skip
        for package in ("tap-amplitude/tap_amplitude", "target-amplitude/target_amplitude"):
            subprocess.run(
                [str(venv / "bin" / "python"), "-m", "compileall", "-q", str(folder / package)],
                check=True,
            )
        done.write_text(sha, encoding="utf-8")
    return Baseline(ref, sha, venv / "bin")
