"""The trial configuration and the define-by-run search space over all layers."""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from dse.core.errors import UsageError
from dse.core.layers import CHOICE_LAYERS, LAYER_FLAGS, NOT_APPLICABLE, TVM_ONLY_LAYERS
from dse.core.registry import Registry, unknown_name_message
from search_spaces._base import Choice, ParamValue, Within

if TYPE_CHECKING:
    import optuna

    from dse.core.config import SpaceConfig


@dataclass(frozen=True)
class LayerChoice:
    """A layer's chosen option and that option's own parameters (short names)."""

    name: str
    params: tuple[tuple[str, ParamValue], ...] = ()

    @classmethod
    def of(cls, name: str, params: Mapping[str, ParamValue] | None = None) -> LayerChoice:
        return cls(name, tuple(sorted((params or {}).items())))

    @property
    def param_dict(self) -> dict[str, ParamValue]:
        return dict(self.params)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, **self.param_dict}

    def label(self) -> str:
        """``magnitude(sparsity=0.8)``: compact, for tables."""
        if not self.params:
            return self.name
        inner = ",".join(f"{k}={_short(v)}" for k, v in self.params)
        return f"{self.name}({inner})"


def _short(value: ParamValue) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class TrialConfig:
    """One point of the across-stack space, layer by layer (DLAS layers 1 to 6)."""

    dataset: str
    model: str
    pruning: LayerChoice
    precision: LayerChoice
    algorithm: LayerChoice
    tuning: LayerChoice
    target: str
    #: Layer 5's runtime: TVM (whose algorithm and tuning the trial chose) or another runtime,
    #: for which those two layers are NOT_APPLICABLE.
    runtime: LayerChoice = LayerChoice("tvm")

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "model": self.model,
            **{layer: getattr(self, layer).as_dict() for layer in CHOICE_LAYERS},
            "target": self.target,
        }

    def baseline(self) -> TrialConfig:
        """The same model on the same target, uncompressed and untuned."""
        return replace(
            self,
            pruning=BASELINE["pruning"],
            precision=BASELINE["precision"],
            algorithm=BASELINE["algorithm"],
            tuning=BASELINE["tuning"],
            runtime=BASELINE["runtime"],
        )


def reference_builds(config: TrialConfig) -> list[TrialConfig]:
    """What a trial's speedup is quoted against: ``config``'s model uncompressed, fp32 and
    untuned under every dense algorithm that has a default schedule (default parameters).

    ``tvm_default`` (TVM's unscheduled code) is not one: a speedup over it says how slow
    naive code is, not what a user gains. Sparse algorithms need a pruned model.
    """
    from search_spaces.algorithms import ALGORITHMS

    dense = [name for name, algorithm in ALGORITHMS.items() if not algorithm.sparse]
    scheduled = [name for name in dense if name != BASELINE["algorithm"].name] or dense
    return [replace(config.baseline(), algorithm=LayerChoice(name)) for name in scheduled]


BASELINE: dict[str, LayerChoice] = {
    "pruning": LayerChoice("none"),
    "precision": LayerChoice("fp32"),
    "algorithm": LayerChoice("tvm_default"),
    "tuning": LayerChoice("untuned"),
    "runtime": LayerChoice("tvm"),
}


def layer_registries() -> dict[str, Registry[Any]]:
    """The registries of the searched choice layers (imports every registered plugin)."""
    from search_spaces.algorithms import ALGORITHMS
    from search_spaces.compression import PRECISION, PRUNING
    from search_spaces.runtimes import RUNTIMES
    from search_spaces.tuning import TUNING

    registries: dict[str, Registry[Any]] = {"pruning": PRUNING, "precision": PRECISION, "runtime": RUNTIMES}
    return {**registries, "algorithm": ALGORITHMS, "tuning": TUNING}


class SearchSpace:
    """Suggests :class:`TrialConfig` points; choice lists are fixed for the whole study."""

    def __init__(self, space: SpaceConfig, dataset: str, target: str) -> None:
        self.dataset = dataset
        self.target = target
        self.models = list(space.models)
        registries = layer_registries()
        self.choices: dict[str, dict[str, Choice]] = {}
        for layer in CHOICE_LAYERS:
            wanted: Sequence[str] = getattr(space, layer) or [
                name for name, choice in registries[layer].items() if not choice.opt_in
            ]
            self.choices[layer] = {name: registries[layer].get(name) for name in wanted}
        self._within = self._restrictions(space.params)

    def _restrictions(self, given: Sequence[tuple[str, Sequence[str]]]) -> dict[tuple[str, str], dict[str, tuple]]:
        """``--param LAYER.CHOICE.KEY=V1,V2``: per (layer, choice), the values each named key keeps."""
        declared = {
            choice.param_name(param.key): (layer, name, param)
            for layer in CHOICE_LAYERS
            for name, choice in self.choices[layer].items()
            for param in choice.parameters()
        }
        within: dict[tuple[str, str], dict[str, tuple]] = {}
        for full, texts in given:
            if full not in declared:
                layer, _, rest = full.partition(".")
                name = rest.partition(".")[0]
                if layer in self.choices and name in layer_registries()[layer] and name not in self.choices[layer]:
                    raise UsageError(
                        f"--param {full}: {layer} choice {name!r} is not searched by this study; "
                        f"add it to {LAYER_FLAGS[layer]} or drop the --param"
                    )
                raise UsageError("--param: " + unknown_name_message("parameter", full, sorted(declared)))
            layer, name, param = declared[full]
            if param.key in within.get((layer, name), {}):
                raise UsageError(f"--param {full} is given twice; give its values once, comma-separated")
            try:
                values = tuple(dict.fromkeys(param.parse(text.strip()) for text in texts))
            except ValueError as exc:
                raise UsageError(f"--param {full}: {exc}") from None
            within.setdefault((layer, name), {})[param.key] = values
        return within

    def costly_choices(self, params: Mapping[str, Any]) -> int:
        """How many of the configuration's choices (Optuna params) cost minutes a trial (tuning)."""
        return sum(
            1
            for layer in CHOICE_LAYERS
            if params.get(layer) in self.choices[layer] and self.choices[layer][str(params[layer])].costly
        )

    def within(self, layer: str, name: str) -> Within:
        """The values this study keeps of choice ``name``'s parameters (empty: all declared)."""
        return self._within.get((layer, name), {})

    def suggest(self, trial: optuna.Trial) -> TrialConfig:
        """Define-by-run: algorithm and tuning are drawn only for a trial that runs on TVM."""
        model = str(trial.suggest_categorical("model", self.models))
        picked: dict[str, LayerChoice] = {}
        for layer in CHOICE_LAYERS:
            if layer in TVM_ONLY_LAYERS and not self.uses_tvm(picked["runtime"].name):
                picked[layer] = LayerChoice(NOT_APPLICABLE)
                continue
            name = str(trial.suggest_categorical(layer, list(self.choices[layer])))
            picked[layer] = LayerChoice.of(name, self.choices[layer][name].suggest(trial, self.within(layer, name)))
        return TrialConfig(self.dataset, model, target=self.target, **picked)

    def uses_tvm(self, runtime: str) -> bool:
        """Whether trials on ``runtime`` choose TVM's algorithm and tuning."""
        return bool(getattr(self.choices["runtime"][runtime], "uses_tvm", False))

    def incompatibility(self, config: TrialConfig) -> str | None:
        """The first reason any chosen option gives for not working with the others."""
        for layer in CHOICE_LAYERS:
            if getattr(config, layer).name == NOT_APPLICABLE:
                continue
            reason = self.choices[layer][getattr(config, layer).name].incompatibility(config)
            if reason:
                return f"{layer}={getattr(config, layer).name}: {reason}"
        return None

    def grid(self) -> dict[str, list[ParamValue]]:
        """The discretized space for exhaustive search (GridSampler)."""
        grid: dict[str, list[ParamValue]] = {"model": list(self.models)}
        for layer in CHOICE_LAYERS:
            grid[layer] = list(self.choices[layer])
            for name, choice in self.choices[layer].items():
                grid.update({key: list(values) for key, values in choice.grid(self.within(layer, name)).items()})
        return grid


def _layer_options(space: SearchSpace, layer: str) -> list[dict[str, ParamValue]]:
    """Every distinct (choice, own parameters) of one layer, as Optuna params.

    Optuna's GridSampler would take the product of *every* parameter, including those of choices
    a trial did not take; each choice's own grid is walked through a FixedTrial instead, so a
    choice that asks for a parameter only sometimes is honoured.
    """
    import optuna

    options: dict[str, dict[str, ParamValue]] = {}
    for name, choice in space.choices[layer].items():
        within = space.within(layer, name)
        grid = {key: list(values) for key, values in choice.grid(within).items()}
        for combo in itertools.product(*grid.values()):
            trial = optuna.trial.FixedTrial(dict(zip(grid, combo, strict=True)))
            choice.suggest(trial, within)  # type: ignore[arg-type]  # FixedTrial is Optuna's stand-in for Trial
            params: dict[str, ParamValue] = {layer: name, **trial.params}
            options.setdefault(json.dumps(params, sort_keys=True), params)
    return list(options.values())


def _runtime_branches(space: SearchSpace) -> list[list[dict[str, ParamValue]]]:
    """Per runtime option, the options of the layers below it: TVM's algorithm x tuning, or
    nothing for a runtime that has neither (define-by-run: those are never drawn)."""
    tvm_only = [_layer_options(space, layer) for layer in TVM_ONLY_LAYERS]
    branches = []
    for runtime in _layer_options(space, "runtime"):
        if space.uses_tvm(str(runtime["runtime"])):
            for parts in itertools.product(*tvm_only):
                branches.append([runtime, *parts])
        else:
            branches.append([runtime])
    return branches


def distinct_configurations(space: SearchSpace) -> list[dict[str, ParamValue]]:
    """The Optuna params of every distinct configuration of the discretized ``space``."""
    above = [layer for layer in CHOICE_LAYERS if layer != "runtime" and layer not in TVM_ONLY_LAYERS]
    per_layer: list[Sequence[dict[str, Any]]] = [[{"model": m} for m in space.models]]
    per_layer += [_layer_options(space, layer) for layer in above]
    configs = []
    for combination in itertools.product(*per_layer, _runtime_branches(space)):
        *parts, branch = combination
        merged: dict[str, ParamValue] = {}
        for part in [*parts, *branch]:
            merged.update(part)  # type: ignore[arg-type]  # each part is one layer's params dict
        configs.append(merged)
    return configs


def compatible_configurations(space: SearchSpace) -> list[dict[str, ParamValue]]:
    """The :func:`distinct_configurations` whose choices work together (what a search can measure)."""
    import optuna

    return [
        params
        for params in distinct_configurations(space)
        if space.incompatibility(space.suggest(optuna.trial.FixedTrial(params))) is None  # type: ignore[arg-type]
    ]


def count_configurations(space: SearchSpace) -> int:
    """How many distinct configurations the discretized ``space`` holds (without listing them)."""
    count = len(space.models) * len(_runtime_branches(space))
    for layer in CHOICE_LAYERS:
        if layer != "runtime" and layer not in TVM_ONLY_LAYERS:
            count *= len(_layer_options(space, layer))
    return count
