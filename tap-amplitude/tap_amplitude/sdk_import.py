"""singer-sdk imported without two packages its import pulls in for features this tap never uses.

``import singer_sdk`` imports every module of the SDK, taps' and targets' alike, and with them
``upath`` (universal_pathlib, which imports ``fsspec``: BATCH message files,
``singer_sdk.helpers._batch``) and ``joblib`` (a target's parallel drain of its sinks,
``singer_sdk.target_base``): about 0.15 s of CPU at every start (issue 23: at 200,000 small
events the SDK's import was most of the tap's distance to the floor). The tap sends no BATCH
message and is no target. So while the SDK is imported, those two modules are placeholders
whose names the SDK takes at import time (``from upath import UPath``, ``from joblib import
Parallel, delayed, parallel_config``) are stand-ins that import the real module at their first
call and call the real object; once the SDK is imported the placeholders are gone, and any later
``import upath`` or ``import joblib`` gets the real module.

The cyclic garbage collector is off during that import, and what it made is frozen after it
(:func:`gc.freeze`): no collection walks the SDK's objects again (about 0.05 s of CPU).

Nothing else changes: where the SDK takes another name from them (a newer SDK), the import is
simply done again with the real modules (:func:`import_sdk` never fails where a plain ``import
singer_sdk`` would not). tests/tap/test_sdk_import.py checks both, and that the stand-ins give the
real objects.

This module must not import singer_sdk itself: ``tap_amplitude/__init__.py`` calls
:func:`import_sdk` before any module of the tap imports the SDK.
"""

from __future__ import annotations

import gc
import importlib
import sys
import types
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["DEFERRED", "import_sdk"]

# module -> the names singer-sdk takes from it when imported (checked on singer-sdk 0.54.9).
DEFERRED: Mapping[str, tuple[str, ...]] = {
    "upath": ("UPath",),
    "joblib": ("Parallel", "delayed", "parallel_config"),
}


class _Placeholder(types.ModuleType):
    """Stands in for a module while singer-sdk is imported."""


def _stand_in(module: str, name: str) -> Callable[..., Any]:
    """A callable standing for ``module.name``: imports the real module at its first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        if isinstance(sys.modules.get(module), _Placeholder):  # called during the SDK's import
            del sys.modules[module]
        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = f"{module}.{name}, imported at the first call."
    return call


def import_sdk(deferred: Mapping[str, tuple[str, ...]] = DEFERRED) -> None:
    """Import singer_sdk (once) with the modules of ``deferred`` imported at their first use."""
    if "singer_sdk" in sys.modules:
        return
    placeholders: dict[str, _Placeholder] = {}
    for module, names in deferred.items():
        if module in sys.modules:  # already imported: nothing to save
            continue
        placeholder = _Placeholder(module, f"stands in for {module} while singer_sdk is imported")
        for name in names:
            setattr(placeholder, name, _stand_in(module, name))
        placeholders[module] = sys.modules[module] = placeholder
    # No cyclic garbage collection while the SDK's modules are made: each collection would walk
    # every object made so far, for nothing (a module's objects live as long as the process).
    collecting = gc.isenabled()
    gc.disable()
    try:
        importlib.import_module("singer_sdk")
    except ImportError:
        # The SDK takes something else from them: import it with the real modules. (Its modules
        # already imported keep their stand-ins, which call the real objects.)
        _remove(placeholders)
        importlib.import_module("singer_sdk")
    finally:
        _remove(placeholders)
        # What the import made lives as long as the process: later collections skip it (the
        # events stream's bulk_allocation_gc unfreezes everything when its export ends).
        gc.freeze()
        if collecting:
            gc.enable()


def _remove(placeholders: Mapping[str, _Placeholder]) -> None:
    for module, placeholder in placeholders.items():
        if sys.modules.get(module) is placeholder:
            del sys.modules[module]
