"""A name -> plugin registry with helpful errors.

Every extension point of dse (datasets, models, compression techniques, convolution
algorithms, tuning modes, targets) is a :class:`Registry`. Adding a choice means adding one
file whose class is decorated with ``@REGISTRY.register``.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from dse.core.errors import UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to plugins of one kind (``what`` names the kind in error messages)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[Any], Any]:
        """Decorator registering a plugin under ``name``; a duplicate name raises.

        Decorating a class registers one instance of it (and sets its ``name``), so plugin
        classes stay plain classes while the registry hands out ready objects.
        """

        def decorator(obj: Any) -> Any:
            if name in self._entries:
                raise ValueError(f"{self.what} {name!r} is registered twice")
            if isinstance(obj, type):
                obj.name = name  # type: ignore[attr-defined]  # every plugin class declares it
                self._entries[name] = obj()
            else:
                self._entries[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        """Return the plugin called ``name`` or raise a :class:`UsageError` listing the valid names."""
        try:
            return self._entries[name]
        except KeyError:
            raise UsageError(unknown_name_message(self.what, name, self.names())) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        return [(name, self._entries[name]) for name in self.names()]


def unknown_name_message(what: str, name: str, valid: list[str]) -> str:
    """``Unknown target 'arn'. Available: arm, cuda, x86. Did you mean 'arm'?``"""
    message = f"Unknown {what} {name!r}. Available: {', '.join(valid)}."
    close = difflib.get_close_matches(name, valid, n=1)
    if close:
        message += f" Did you mean {close[0]!r}?"
    return message
