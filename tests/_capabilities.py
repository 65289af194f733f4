"""``require(name)``: a test that needs a machine capability skips without it, except in CI, where it fails.

CI installs every capability the tests use (scripts/setup.sh), so a missing one there is a broken
setup, not a reason to skip silently; on a developer's machine the skip says what to install.
The probes and fixes come from ``dse.doctor``, the same table ``python -m dse.doctor`` prints.
"""

from __future__ import annotations

import os

import pytest

from dse import doctor


def in_ci() -> bool:
    """True when the CI environment variable is set to anything but empty, "0" or "false"."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def require(name: str) -> None:
    """Skip (or under CI fail) the calling test unless capability ``name`` works on this machine."""
    ok, detail = doctor.check(name)
    if ok:
        return
    fix = doctor.CAPABILITIES[name].fix
    if in_ci():
        pytest.fail(f"CI installs {name} but it is missing: {detail}. Fix: {fix}", pytrace=False)
    pytest.skip(f"{name} missing: {detail}. Fix: {fix}", allow_module_level=True)  # also at import time
