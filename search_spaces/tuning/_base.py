"""Base class and registry of the tuning layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dse.core.registry import Registry
from search_spaces._base import Choice, Params

if TYPE_CHECKING:
    from search_spaces._context import BuildContext


class TuningMode(Choice):
    """Schedules the lowered module before ``tvm.compile`` (e.g. MetaSchedule with a database)."""

    layer: ClassVar[str] = "tuning"

    def schedule(self, mod: Any, params: Params, ctx: BuildContext) -> Any:
        raise NotImplementedError


TUNING: Registry[TuningMode] = Registry("tuning mode")
