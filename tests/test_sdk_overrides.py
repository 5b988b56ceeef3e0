"""Every singer-sdk member either plugin overrides carries ``@override`` (typing_extensions) and
every private one is named, with its reason, in the package's SDK_OVERRIDES list (the module
docstring of tap_amplitude/tap.py and target_amplitude/target.py)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import types
import typing as t

import pytest
import tap_amplitude
import tap_amplitude.tap
import target_amplitude
import target_amplitude.target

PACKAGES: list[tuple[types.ModuleType, types.ModuleType]] = [
    (tap_amplitude, tap_amplitude.tap),
    (target_amplitude, target_amplitude.target),
]
# Members a subclass sets as plain values (the SDK's class attributes), or constructs with.
NOT_HOOKS = {"__init__", "__new__", "__init_subclass__", "__class_getitem__"}


def _classes(package: types.ModuleType) -> list[type]:
    found: dict[str, type] = {}
    for info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if info.name.endswith(".__main__"):  # runs the CLI when imported
            continue
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == module.__name__:
                found[f"{cls.__module__}.{cls.__qualname__}"] = cls
    return list(found.values())


def _sdk_overrides(cls: type) -> list[tuple[str, t.Any, type]]:
    """(name, our member, the SDK class it overrides) for each function or property."""
    sdk_bases = [b for b in cls.__mro__[1:] if b.__module__.startswith("singer_sdk")]
    overrides = []
    for name, member in vars(cls).items():
        if name in NOT_HOOKS:
            continue
        function = member.fget if isinstance(member, property) else member
        if isinstance(function, (staticmethod, classmethod)):
            function = function.__func__
        if not inspect.isfunction(function):
            continue
        base = next((b for b in sdk_bases if name in vars(b)), None)
        if base is not None:
            overrides.append((name, function, base))
    return overrides


def _all_overrides() -> list[tuple[str, str, t.Any, type]]:
    rows = []
    for package, _ in PACKAGES:
        for cls in _classes(package):
            for name, function, base in _sdk_overrides(cls):
                rows.append((package.__name__, f"{cls.__qualname__}.{name}", function, base))
    return rows


OVERRIDES = _all_overrides()


def test_both_packages_override_sdk_members() -> None:
    assert {row[0] for row in OVERRIDES} == {"tap_amplitude", "target_amplitude"}


@pytest.mark.parametrize(
    ("package", "member", "function", "base"), OVERRIDES, ids=[row[1] for row in OVERRIDES]
)
def test_each_sdk_override_is_marked(
    package: str, member: str, function: t.Any, base: type
) -> None:
    assert getattr(function, "__override__", False), (
        f"{package}: {member} overrides {base.__module__}.{base.__qualname__} without @override"
    )


@pytest.mark.parametrize(("package", "listing"), PACKAGES, ids=[p.__name__ for p, _ in PACKAGES])
def test_each_private_override_is_listed_with_its_reason(
    package: types.ModuleType, listing: types.ModuleType
) -> None:
    doc = listing.__doc__ or ""
    assert "SDK_OVERRIDES" in doc
    private = {
        f"{base.__qualname__}.{member.rsplit('.', 1)[1]}"
        for name, member, _, base in OVERRIDES
        if name == package.__name__
        and member.rsplit(".", 1)[1].startswith("_")
        and not member.rsplit(".", 1)[1].startswith("__")
    }
    missing = sorted(m for m in private if m not in doc)
    assert not missing, f"not in {listing.__name__}'s SDK_OVERRIDES: {missing}"
