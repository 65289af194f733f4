"""Base class and registry of the algorithm layer."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from dse.core.registry import Registry
from search_spaces._base import Choice, Params

if TYPE_CHECKING:
    from search_spaces._context import BuildContext
    from search_spaces.algorithms._conv import ConvSpec


class ConvAlgorithm(Choice):
    """Lowers the module's convolutions with one algorithm (through Relax legalization).

    ``lower`` receives the Relax module after compression and returns an all-TIR module:
    each ``relax.nn.conv2d`` this algorithm can handle becomes a call to its TE compute (main
    block named ``dse_<rule>...``), every other operator gets TVM's legalization, and the
    kernels are fused with their elementwise epilogues. Nothing is scheduled yet: the tuning
    layer schedules it (``schedules.apply_default_schedules`` or MetaSchedule). Per-layer
    decisions land in ``ctx.info["algorithm_layers"]``.

    Subclasses implement :meth:`emit` for one layer; a layer it cannot take (it raises
    :class:`~search_spaces.algorithms._conv.NotApplicable`) goes to :meth:`fallback`.
    """

    layer: ClassVar[str] = "algorithm"
    #: Whether it computes on sparse weights (useful only for a pruned model).
    sparse: ClassVar[bool] = False
    #: Whether it hands each layer to another algorithm (:meth:`delegate`): the trial then
    #: counts as this algorithm, whatever the layers ran.
    delegates: ClassVar[bool] = False

    def lower(self, mod: Any, params: Params, ctx: BuildContext) -> Any:
        from search_spaces.algorithms._lowering import lower_module

        return lower_module(mod, self, ALGORITHMS.get, params, ctx)

    def prepare(self, mod: Any, params: Params, ctx: BuildContext) -> Any:
        """Whole-module rewrite before legalization (e.g. a layout conversion); default: none."""
        return mod

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        """Emit this algorithm's computation of ``call`` into ``bb``; return the new Relax expr."""
        raise NotImplementedError

    def delegate(self, spec: ConvSpec, params: Params, ctx: BuildContext) -> tuple[str, Params, dict[str, Any]] | None:
        """The registered algorithm (with its parameters) that should compute this layer instead,
        and what to record about the choice; None: this algorithm emits it itself."""
        return None

    def fallback(self, params: Params) -> str | None:
        """The registered algorithm for layers :meth:`emit` rejects (None: TVM's default)."""
        return None


ALGORITHMS: Registry[ConvAlgorithm] = Registry("algorithm")
