"""Direct convolution: the textbook seven-loop conv, in NCHW or NHWC.

Same arithmetic as ``topi.nn.conv2d_nchw`` / ``group_conv2d_nchw`` / ``depthwise_conv2d_nchw``
(one compute covers all groups), written here so its block is named ``dse_direct`` and its
default schedule (``schedules``) can find it. NHWC converts the whole graph's layout first
(``relax.transform.ConvertLayout``) so the transposes happen once at the graph edges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search_spaces._base import Param, Params
from search_spaces.algorithms._base import ALGORITHMS, ConvAlgorithm
from search_spaces.algorithms._conv import ConvSpec, NotApplicable, te_pad

if TYPE_CHECKING:
    from search_spaces._context import BuildContext

LAYOUTS = ("nchw", "nhwc")


def convert_layout(mod: Any, layout: str) -> Any:
    """Rewrite every conv2d (and what follows it) to NHWC data / OHWI weights when asked."""
    if layout == "nchw":
        return mod
    from tvm import relax

    return relax.transform.ConvertLayout({"relax.nn.conv2d": ["NHWC", "OHWI"]})(mod)


def direct_compute(data: Any, weight: Any, spec: ConvSpec) -> Any:
    """NCHW data with OIHW weight, or NHWC data with HWIO weight (channels innermost)."""
    from tvm import te

    pad = te_pad(data, spec)
    od, icg, ocg = spec.out_dtype, spec.in_per_group, spec.out_per_group
    ric = te.reduce_axis((0, icg), name="ric")
    rkh = te.reduce_axis((0, spec.kernel_h), name="rkh")
    rkw = te.reduce_axis((0, spec.kernel_w), name="rkw")
    sh, sw, dh, dw = spec.stride_h, spec.stride_w, spec.dilation_h, spec.dilation_w

    if spec.data_layout == "NCHW":

        def nchw(n: Any, oc: Any, y: Any, x: Any) -> Any:
            ic = (oc // ocg) * icg + ric
            src = pad[n, ic, y * sh + rkh * dh, x * sw + rkw * dw].astype(od)
            return te.sum(src * weight[oc, ric, rkh, rkw].astype(od), axis=[ric, rkh, rkw])

        shape = (spec.batch, spec.out_channels, spec.out_h, spec.out_w)
        return te.compute(shape, nchw, name="dse_direct")

    def nhwc(n: Any, y: Any, x: Any, oc: Any) -> Any:
        ic = (oc // ocg) * icg + ric
        src = pad[n, y * sh + rkh * dh, x * sw + rkw * dw, ic].astype(od)
        return te.sum(src * weight[rkh, rkw, ric, oc].astype(od), axis=[rkh, rkw, ric])

    shape = (spec.batch, spec.out_h, spec.out_w, spec.out_channels)
    return te.compute(shape, nhwc, name="dse_direct_nhwc")


def emit_direct(bb: Any, call: Any, spec: ConvSpec) -> Any:
    """Emit the direct conv of ``call`` with its weight as a re-laid-out constant."""
    import numpy as np
    from tvm import relax

    w = spec.require_constant_weight()
    if spec.data_layout == "NHWC":
        w = np.ascontiguousarray(w.transpose(2, 3, 1, 0))  # OIHW -> HWIO
    return bb.call_te(
        lambda d, k: direct_compute(d, k, spec), call.args[0], relax.const(w), primfunc_name_hint="dse_direct"
    )


class LayoutAlgorithm(ConvAlgorithm):
    """An algorithm that runs in NCHW or NHWC: the module is converted to ``layout`` first."""

    params = (Param("layout", LAYOUTS),)

    def prepare(self, mod: Any, params: Params, ctx: BuildContext) -> Any:
        return convert_layout(mod, str(self.value(params, "layout")))

    @staticmethod
    def require_plain_layout(spec: ConvSpec) -> None:
        """Raise NotApplicable for a layer in spatial pack's packed NCHW[x]c flow (``per_layer``
        asks every candidate): these kernels index NCHW or NHWC tensors."""
        if spec.blocked:
            raise NotApplicable(f"takes NCHW or NHWC, not the packed layout {spec.data_layout}")


@ALGORITHMS.register("direct")
class Direct(LayoutAlgorithm):
    description = "direct convolution (NCHW or NHWC), parallel + vectorized default schedule"

    def emit(self, bb: Any, call: Any, spec: ConvSpec, params: Params, ctx: BuildContext) -> Any:
        self.require_plain_layout(spec)
        return emit_direct(bb, call, spec)
