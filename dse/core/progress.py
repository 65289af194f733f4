"""Progress that fits where the output goes: a redrawn bar on a terminal, a few lines elsewhere.

A bar redraws itself with ``\\r``; written to a file or a CI log every redraw is kept, so a
ten-trial study's log grows by thousands of characters. Off a terminal (or with
``DSE_NO_PROGRESS`` set) a task prints one line when it ends instead, or nothing.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any


def on_terminal() -> bool:
    """Whether progress bars belong on stderr: it is a terminal and ``DSE_NO_PROGRESS`` is unset."""
    return os.environ.get("DSE_NO_PROGRESS") is None and sys.stderr.isatty()


class _EndLine:
    """The off-terminal stand-in for a tqdm bar: the same calls, one line at ``close``."""

    def __init__(self, total: int, desc: str, unit: str, announce: bool) -> None:
        self._total, self._desc, self._unit, self._announce = total, desc, unit, announce
        self._done = 0
        self._postfix = ""
        self._start = time.monotonic()

    def update(self, n: int = 1) -> None:
        self._done += n

    def set_postfix(self, **values: Any) -> None:
        self._postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def close(self) -> None:
        if self._announce:
            postfix = f" ({self._postfix})" if self._postfix else ""
            elapsed = time.monotonic() - self._start
            print(f"{self._desc}: {self._done}/{self._total} {self._unit} in {elapsed:.1f} s{postfix}", file=sys.stderr)

    def __enter__(self) -> _EndLine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(total: int, desc: str, unit: str, initial: int = 0, end_line: bool = True, leave: bool = False) -> Any:
    """A tqdm bar on a terminal; elsewhere an object with the same ``update``/``set_postfix``/
    ``close`` that prints one line at the end (``end_line``) or nothing."""
    if on_terminal():
        from tqdm.auto import tqdm

        return tqdm(total=total, initial=initial, desc=desc, unit=unit, leave=leave)
    bar = _EndLine(total, desc, unit, end_line)
    bar.update(initial)
    return bar


__all__ = ["on_terminal", "progress"]
