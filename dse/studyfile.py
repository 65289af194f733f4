"""Study files (``--config study.toml``): the command-line options, written down once.

Keys are the long option names (``n-trials`` or ``n_trials``); lists become comma lists (a
repeatable option, ``param``, takes a list of its values instead), and a ``true`` flag is given,
``false`` left out. The file is turned into command-line arguments, so
it is validated by exactly the same rules and messages as the command line itself::

    target = "x86"
    models = ["tiny_cnn", "resnet18"]
    n-trials = 40
    storage = "postgresql://dse@db.lan/dse"   # password from PGPASSWORD or ~/.pgpass, never here
"""

from __future__ import annotations

import argparse
from pathlib import Path

from dse.core.errors import UsageError
from dse.core.registry import unknown_name_message

#: Options that make no sense inside a study file.
_NOT_IN_FILE = ("config", "help", "list_targets", "list_models", "list_choices", "debug")


def study_file_argv(path: Path, parser: argparse.ArgumentParser) -> list[str]:
    """The arguments a study file stands for.

    Raises:
        UsageError: the file is missing, unreadable, not TOML, or holds an unknown key or a
            value that is not a string, number, boolean or list of those.
    """
    import tomllib

    try:
        with path.open("rb") as handle:
            table = tomllib.load(handle)
    except FileNotFoundError:
        raise UsageError(f"--config {str(path)!r} does not exist; give the path of a TOML study file") from None
    except OSError as exc:
        raise UsageError(
            f"--config {str(path)!r} cannot be read ({exc.strerror}); check the path and permissions"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"--config {str(path)!r} is not valid TOML ({exc}); fix the file") from None
    actions = {a.dest: a for a in parser._actions if a.option_strings and a.dest not in _NOT_IN_FILE}
    argv: list[str] = []
    for key, value in table.items():
        dest = key.replace("-", "_")
        if dest not in actions:
            valid = sorted(d.replace("_", "-") for d in actions)
            raise UsageError(f"in --config {str(path)!r}: " + unknown_name_message("key", key, valid))
        argv.extend(_as_arguments(actions[dest], key, value, path))
    return argv


def _as_arguments(action: argparse.Action, key: str, value: object, path: Path) -> list[str]:
    flag = action.option_strings[-1]
    if isinstance(action, argparse._StoreTrueAction):
        if not isinstance(value, bool):
            raise UsageError(f"in --config {str(path)!r}: {key} must be true or false, got {value!r}")
        return [flag] if value else []
    if isinstance(action, argparse._AppendAction) and isinstance(value, list):  # one flag per item
        if not all(isinstance(v, str) for v in value):
            raise UsageError(f"in --config {str(path)!r}: {key} must be a list of strings, got {value!r}")
        return [part for item in value for part in (flag, item)]
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        return [flag, ",".join(str(v) for v in value)]
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [flag, str(value)]
    raise UsageError(f"in --config {str(path)!r}: {key} must be a string, a number or a list of those, got {value!r}")
