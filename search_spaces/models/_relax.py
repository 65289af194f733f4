"""The one preparation every imported Relax module gets before the compression layer."""

from __future__ import annotations

from typing import Any


def for_inference(mod: Any) -> Any:
    """Fold each batch norm that follows a convolution into the convolution's weight and a bias
    (what ONNX Runtime and OpenVINO do on load), then decompose the remaining inference-only
    ops. Without the fold every conv carried the BN arithmetic, a division included, in its
    epilogue, and int8 quantized the unfolded weight."""
    from tvm import relax

    from search_spaces._folding import fold_constants

    mod = relax.transform.FoldBatchnormToConv2D()(mod)
    mod = fold_constants(mod)
    mod = relax.transform.DecomposeOpsForInference()(mod)
    return relax.transform.CanonicalizeBindings()(mod)
