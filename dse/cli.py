"""What the dse command-line tools share: one-line usage errors and comma-list options."""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import NoReturn

from dse.core.errors import UsageError


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is a UsageError (one line, exit 2), not argparse's usage block."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")


def csv_list(value: str) -> tuple[str, ...]:
    """``a, b,c`` -> ``("a", "b", "c")``; an empty list is an argument error."""
    items = tuple(item.strip() for item in value.split(",") if item.strip())
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {value!r}")
    return items


def param_values(value: str) -> tuple[str, tuple[str, ...]]:
    """``pruning.magnitude.sparsity=0.5,0.8`` -> ``("pruning.magnitude.sparsity", ("0.5", "0.8"))``."""
    name, sep, values = value.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"expected LAYER.CHOICE.KEY=V1,V2, got {value!r}")
    return name.strip(), csv_list(values)


def finite_float(value: str) -> float:
    """A float option that rejects ``nan`` and ``inf`` (they pass every comparison check silently)."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {value!r}")
    return number


def check_output_file(flag: str, path: Path) -> None:
    """A UsageError naming the fix unless ``path`` can be written as a file (checked before any work)."""
    if path.is_dir():
        raise UsageError(f"{flag} {str(path)!r} is a folder; give a file name, e.g. {str(path / 'report.html')!r}")
    folder = path.resolve().parent
    if not folder.is_dir():
        raise UsageError(f"{flag} folder {str(path.parent)!r} does not exist; create it first")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{flag} {str(path)!r} is not writable; choose a path you can write to")


def write_output(flag: str, path: Path, text: str) -> None:
    """Write ``text`` to ``path``; a failure (disk full, permissions changed) is a one-line UsageError."""
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(
            f"{flag} {str(path)!r} could not be written ({exc.strerror or exc}); choose another path"
        ) from None


def report_usage_error(exc: UsageError, debug: bool) -> int:
    """Print ``exc`` as one line on stderr and return exit code 2 (re-raise it under --debug)."""
    if debug:
        raise exc
    # One line, always: a library's multi-line message is folded, the fix at its end kept.
    print("error: " + " ".join(line.strip() for line in str(exc).splitlines() if line.strip()), file=sys.stderr)
    return 2
