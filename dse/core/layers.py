"""The list of layers: which DLAS layers a configuration is made of, in stack order.

Layers 1 (data set) and 6 (target) are fixed per study; the others are searched. ``model`` is
layer 2; the *choice layers* are registries of choices with parameters of their own.
"""

from __future__ import annotations

#: The searched layers that are registries of choices, in stack order (layer 3 to 5). The
#: runtime (layer 5) comes before the algorithm: it decides whether there is one to choose.
CHOICE_LAYERS: tuple[str, ...] = ("pruning", "precision", "runtime", "algorithm", "tuning")

#: Layers only TVM has: a trial on another runtime (ONNX Runtime, OpenVINO) has its own kernels
#: and no tuning to choose, and records these layers as NOT_APPLICABLE.
TVM_ONLY_LAYERS: tuple[str, ...] = ("algorithm", "tuning")
NOT_APPLICABLE = "n/a"

#: What a record written before a layer existed ran (every trial ran on TVM before ``runtime``).
LEGACY_CHOICE: dict[str, str] = {"runtime": "tvm"}

#: The dse.optimize option that restricts each choice layer's choices.
LAYER_FLAGS: dict[str, str] = {
    "pruning": "--pruning",
    "precision": "--precision",
    "runtime": "--runtimes",
    "algorithm": "--algorithms",
    "tuning": "--tuning",
}

#: Every searched layer of a configuration, in stack order (model first).
LAYERS: tuple[str, ...] = ("model", *CHOICE_LAYERS)

#: The DLAS layer number of each part of a configuration (for reports).
DLAS_LAYER: dict[str, int] = {
    "dataset": 1,
    "model": 2,
    "pruning": 3,
    "precision": 3,
    "algorithm": 4,
    "tuning": 5,
    "runtime": 5,
    "target": 6,
}
