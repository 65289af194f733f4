"""Base classes shared by every DLAS layer's registered choices.

A *choice* is one option of one layer (a compression technique, a convolution algorithm, a
tuning mode...). It owns its Optuna parameters, whose names start with ``<layer>.<choice>.``
so the dashboard shows which layer owns each parameter, and it says itself which other
choices it cannot work with (the trial is then pruned with that reason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import optuna

ParamValue = bool | int | float | str
Params = Mapping[str, ParamValue]


@dataclass(frozen=True)
class Param:
    """One parameter of a choice, declared once: sampling and the exhaustive grid both read it.

    Either ``choices`` (a categorical; the list never changes during a study, as Optuna wants)
    or a stepped float range ``low..high`` by ``step`` (sampled with ``suggest_float(step=)``;
    its grid is every step). ``when=(key, value)`` asks the parameter only when the choice's
    earlier parameter ``key`` took ``value`` (a conditional space, e.g. BSR's block size).
    """

    key: str
    choices: tuple[ParamValue, ...] = ()
    low: float | None = None
    high: float | None = None
    step: float | None = None
    when: tuple[str, ParamValue] | None = None

    def __post_init__(self) -> None:
        stepped = self.low is not None and self.high is not None and self.step is not None
        if bool(self.choices) == stepped:
            raise ValueError(f"Param {self.key!r} needs either choices or low/high/step, got {self!r}")

    def values(self) -> tuple[ParamValue, ...]:
        """Every value this parameter can take (the exhaustive grid)."""
        if self.choices:
            return self.choices
        assert self.low is not None and self.high is not None and self.step is not None  # __post_init__
        count = round((self.high - self.low) / self.step) + 1
        return tuple(round(self.low + i * self.step, 10) for i in range(count))

    def parse(self, text: str) -> ParamValue:
        """The declared value ``text`` stands for (``--param``), or ValueError naming the allowed ones."""
        for value in self.values():
            if text == str(value) or (not isinstance(value, (bool, str)) and _same_number(text, value)):
                return value
        allowed = ", ".join(str(v) for v in self.values())
        raise ValueError(f"{text!r} is not a declared value (allowed: {allowed})")

    def only(self, values: Sequence[ParamValue]) -> Param:
        """This parameter drawn from ``values`` alone (declared ones): a categorical, so a grid
        and every sampler see just those."""
        return Param(self.key, choices=tuple(values), when=self.when)

    def applies(self, drawn: Mapping[str, ParamValue]) -> bool:
        return self.when is None or drawn.get(self.when[0]) == self.when[1]

    def suggest(self, trial: optuna.Trial, name: str) -> ParamValue:
        if self.choices:
            value = trial.suggest_categorical(name, list(self.choices))
            assert value is not None  # None is never among the choices
            return value
        assert self.low is not None and self.high is not None
        return trial.suggest_float(name, self.low, self.high, step=self.step)


def _same_number(text: str, value: float) -> bool:
    try:
        return abs(float(text) - value) < 1e-9
    except ValueError:
        return False


#: Per parameter key of one choice, the values a study restricts it to (``--param``).
Within = Mapping[str, Sequence[ParamValue]]


class Choice:
    """One registered option of a layer.

    Subclasses set ``name`` and ``layer`` (done by the registry helpers) and declare their own
    parameters once, in ``params`` (or :meth:`parameters` when they depend on the instance).
    """

    name: ClassVar[str] = ""
    layer: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: Costly choices (minutes per trial, e.g. auto-tuning) are searched only when named
    #: explicitly (``--tuning untuned,metaschedule``), so the default study stays minutes long.
    opt_in: ClassVar[bool] = False
    #: Minutes per trial (auto-tuning): exhaustive search measures such configurations after all
    #: the others, so a grid run stopped by --timeout has covered the cheap part of the space.
    costly: ClassVar[bool] = False
    params: ClassVar[tuple[Param, ...]] = ()

    def parameters(self) -> tuple[Param, ...]:
        """This choice's own parameters, in the order they are drawn."""
        return self.params

    def value(self, params: Params, key: str) -> ParamValue:
        """``params[key]``, or the declared default (its first value), checked against the declaration.

        Raises:
            ValueError: the value is not among the declared choices.
        """
        param = next(p for p in self.parameters() if p.key == key)
        value = params.get(key, param.values()[0])
        if param.choices and value not in param.choices:
            raise ValueError(f"{self.param_name(key)} must be one of {param.choices}, got {value!r}")
        return value

    def param_name(self, key: str) -> str:
        """The Optuna parameter name of this choice's ``key``: ``<layer>.<choice>.<key>``."""
        return f"{self.layer}.{self.name}.{key}"

    def searched(self, within: Within | None = None) -> tuple[Param, ...]:
        """The parameters a study draws: the declared ones, those named in ``within`` cut to its values."""
        within = within or {}
        return tuple(param.only(within[param.key]) if param.key in within else param for param in self.parameters())

    def suggest(self, trial: optuna.Trial, within: Within | None = None) -> dict[str, ParamValue]:
        """Draw this choice's own parameters from ``trial`` (define-by-run)."""
        drawn: dict[str, ParamValue] = {}
        for param in self.searched(within):
            if param.applies(drawn):
                drawn[param.key] = param.suggest(trial, self.param_name(param.key))
        return drawn

    def grid(self, within: Within | None = None) -> dict[str, Sequence[ParamValue]]:
        """Every value of each of this choice's parameters, by full Optuna name."""
        return {self.param_name(param.key): list(param.values()) for param in self.searched(within)}

    def incompatibility(self, config: Any) -> str | None:
        """Why this choice cannot run with the rest of ``config`` (a TrialConfig), or None."""
        return None
