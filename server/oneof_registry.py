"""Registries keyed by the member names of one proto oneof: one home per concept.

An optimizer algorithm (OptimizerSpec.algorithm) or a schedule (Schedule.kind) is one class
in one module of its package, registered under its oneof member name; parsing, state slots,
dispatch and the codecs look it up here instead of keeping lists of their own. The proto is
not imported (the domain layers must not depend on protobuf): tests hold each registry to
its oneof's members.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator, Mapping
from typing import Callable, TypeVar

C = TypeVar("C", bound=type)


class OneofRegistry(Mapping[str, type]):
    """Classes by oneof member name, in registration order; `name_of` maps an instance back."""

    def __init__(self, oneof: str) -> None:
        self.oneof = oneof
        self._classes: dict[str, type] = {}
        self._names: dict[type, str] = {}

    def register(self, name: str) -> Callable[[C], C]:
        """A class decorator registering the class under `name`; registering a name or a class
        twice is a ValueError, so two modules cannot claim one member."""
        def add(cls: C) -> C:
            if name in self._classes:
                raise ValueError(f"{self.oneof} member {name!r} is already {self._classes[name].__qualname__}")
            if cls in self._names:
                raise ValueError(f"{cls.__qualname__} is already {self.oneof} member {self._names[cls]!r}")
            self._classes[name] = cls
            self._names[cls] = name
            return cls
        return add

    def __getitem__(self, name: str) -> type:
        return self._classes[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._classes)

    def __len__(self) -> int:
        return len(self._classes)

    def types(self) -> tuple[type, ...]:
        """Every registered class, for isinstance checks."""
        return tuple(self._classes.values())

    def name_of(self, value: object) -> str:
        """The member name of `value`: that of the nearest registered class in its type's MRO
        (a subclass of a registered class is that member); TypeError when there is none."""
        for cls in type(value).__mro__:
            if cls in self._names:
                return self._names[cls]
        raise TypeError(f"not a registered {self.oneof} member: {value!r}")


def import_modules(package: str, path: Iterable[str]) -> None:
    """Imports every public module of `package` (whose __path__ is `path`), so that each
    registers what it defines: adding a member is adding its module."""
    for module in pkgutil.iter_modules(path):
        if not module.name.startswith("_"):
            importlib.import_module(f"{package}.{module.name}")
