"""Base classes shared by every DLAS layer's registered choices.

A *choice* is one option of one layer (a compression technique, a convolution algorithm, a
tuning mode...). It owns its Optuna parameters, whose names start with ``<layer>.<choice>.``
so the dashboard shows which layer owns each parameter, and it says itself which other
choices it cannot work with (the trial is then pruned with that reason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import optuna

ParamValue = bool | int | float | str
Params = Mapping[str, ParamValue]


class Choice:
    """One registered option of a layer.

    Subclasses set ``name`` and ``layer`` (done by the registry helpers) and override
    :meth:`suggest` / :meth:`grid` when they have parameters of their own.
    """

    name: ClassVar[str] = ""
    layer: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: Costly choices (minutes per trial, e.g. auto-tuning) are searched only when named
    #: explicitly (``--tuning untuned,metaschedule``), so the default study stays minutes long.
    opt_in: ClassVar[bool] = False

    def param_name(self, key: str) -> str:
        """The Optuna parameter name of this choice's ``key``: ``<layer>.<choice>.<key>``."""
        return f"{self.layer}.{self.name}.{key}"

    def suggest(self, trial: optuna.Trial) -> dict[str, ParamValue]:
        """Draw this choice's own parameters from ``trial`` (define-by-run)."""
        return {}

    def grid(self) -> dict[str, Sequence[ParamValue]]:
        """Discretized values of each of this choice's parameters, by full Optuna name."""
        return {}

    def incompatibility(self, config: Any) -> str | None:
        """Why this choice cannot run with the rest of ``config`` (a TrialConfig), or None."""
        return None


def suggest_layer(
    trial: optuna.Trial, layer: str, choices: Mapping[str, Choice]
) -> tuple[str, dict[str, ParamValue]]:
    """Suggest which choice a layer takes, then that choice's own parameters."""
    name = str(trial.suggest_categorical(layer, list(choices)))
    return name, choices[name].suggest(trial)
