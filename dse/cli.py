"""What the dse command-line tools share: one-line usage errors and comma-list options."""

from __future__ import annotations

import argparse
import sys
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


def report_usage_error(exc: UsageError, debug: bool) -> int:
    """Print ``exc`` as one line on stderr and return exit code 2 (re-raise it under --debug)."""
    if debug:
        raise exc
    # One line, always: a library's multi-line message is folded, the fix at its end kept.
    print("error: " + " ".join(line.strip() for line in str(exc).splitlines() if line.strip()), file=sys.stderr)
    return 2
