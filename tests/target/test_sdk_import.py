"""singer-sdk imported by the target (and its mapping workers) without upath (fsspec) and
joblib, which it still gets on use.

Each case runs in a fresh interpreter: the test process has imported the SDK already.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from target_amplitude.sdk_import import DEFERRED


def run_python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_target_starts_without_importing_upath_fsspec_or_joblib() -> None:
    out = run_python(
        """
        import sys
        from target_amplitude.target import TargetAmplitude
        print(sorted(m for m in ("upath", "fsspec", "joblib") if m in sys.modules))
        """
    )
    assert out == "[]"


def test_the_sdk_gets_the_real_objects_at_their_first_use() -> None:
    out = run_python(
        """
        import sys
        import target_amplitude.target
        from singer_sdk.helpers import _batch
        from singer_sdk import target_base

        path = _batch.UPath("/tmp/some-batch-file.jsonl")
        import upath
        print(isinstance(path, upath.UPath), str(path))
        with target_base.parallel_config(backend="threading", n_jobs=2):
            print(target_base.Parallel()(target_base.delayed(abs)(-n) for n in range(3)))
        import joblib
        print(type(joblib.Parallel).__name__, joblib.Parallel is not target_base.Parallel)
        print(sorted(type(sys.modules[m]).__name__ for m in ("upath", "joblib")))
        """
    )
    assert out.splitlines() == [
        "True /tmp/some-batch-file.jsonl",
        "[0, 1, 2]",
        "type True",  # the real class, not a stand-in
        "['module', 'module']",  # the real modules are imported (no placeholder left)
    ]


def test_an_sdk_taking_other_names_is_imported_with_the_real_modules() -> None:
    """A newer SDK taking a name the placeholders lack still imports (with the real module)."""
    out = run_python(
        """
        import sys
        from target_amplitude import sdk_import
        del sys.modules["singer_sdk"]  # imported by target_amplitude/__init__.py: import it again
        for name in [m for m in sys.modules if m.startswith(("singer_sdk.", "upath", "joblib"))]:
            del sys.modules[name]
        sdk_import.import_sdk({"joblib": ("delayed",)})  # singer_sdk also takes Parallel
        from singer_sdk import target_base
        import joblib
        print(target_base.Parallel is joblib.Parallel, type(sys.modules["joblib"]).__name__)
        """
    )
    assert out == "True module"


def test_the_deferred_names_are_the_ones_the_sdk_takes() -> None:
    """Each deferred name exists in the real module (an SDK or package upgrade renaming one
    fails here, not in a user's run)."""
    import importlib  # noqa: PLC0415

    for module, names in DEFERRED.items():
        real = importlib.import_module(module)
        assert all(callable(getattr(real, name)) for name in names), module


def test_a_mapping_worker_starts_without_them_too() -> None:
    out = run_python(
        """
        import sys
        import target_amplitude.mapping_worker
        print(sorted(m for m in ("upath", "fsspec", "joblib") if m in sys.modules))
        """
    )
    assert out == "[]"


def test_the_command_line_freezes_every_object_at_exit() -> None:
    """At exit, the interpreter's own collections find nothing to walk (gc_tuning.py)."""
    out = run_python(
        """
        import atexit, gc, sys
        # Registered first, so it runs last: after the target's exit handlers, before the
        # interpreter's own collections.
        atexit.register(lambda: print(gc.get_freeze_count(), len(gc.get_objects())))
        from target_amplitude.target import TargetAmplitude
        try:
            TargetAmplitude.cli(["--about", "--format", "json"])
        except SystemExit:
            pass
        """
    )
    about, counts = out.rsplit("\n", 1)
    assert json.loads(about)["name"] == "target-amplitude"  # the command itself unchanged
    frozen, tracked = map(int, counts.split())
    assert frozen > 10_000  # the SDK's objects and everything else alive
    assert tracked < 1_000  # left for the interpreter to walk: what the last handlers made
