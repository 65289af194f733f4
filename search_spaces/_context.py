"""What every layer's build hook may read: the data, the target, and where to cache artifacts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dse.core.config import MeasureConfig

if TYPE_CHECKING:
    import torch

    from dse.core.config import DeviceOptions
    from search_spaces.datasets import DataSplits
    from search_spaces.targets import TargetPreset


@dataclass
class BuildContext:
    """Shared inputs of one trial's build.

    Attributes:
        model_key: model name + weights hash; keys caches of derived artifacts (fine-tuned weights).
        work_dir: the study folder; layers keep their caches and databases below it.
        tvm_target: the ``tvm.target.Target`` the module is compiled for.
        info: what the layers report about the build (per-layer algorithm, tuned kernel count...);
            it ends up in the trial's user attributes.
    """

    dataset: str
    data: DataSplits
    model_key: str
    work_dir: Path
    target: TargetPreset
    tvm_target: Any
    threads: int
    device_options: DeviceOptions
    #: The MetaSchedule database folder of this target (shared by trials, studies, workers).
    tuning_db: Path
    info: dict[str, Any] = field(default_factory=dict)
    #: The latency protocol of the study (MetaSchedule's candidates are timed with it too).
    measure: MeasureConfig = field(default_factory=MeasureConfig)

    @property
    def example_input(self) -> torch.Tensor:
        """One evaluation image as a batch of 1: the shape every module is compiled for."""
        return self.data.eval_x[:1]

    @classmethod
    def on_host(cls, work_dir: Path, threads: int, data: Any = None, target: str = "x86") -> BuildContext:
        """A context for building on this host outside a study (benchmarks, tests): tuning
        records under ``work_dir/tuning/<target>`` as a study keeps them; ``data`` needs what
        the builds read of it (``eval_x``)."""
        import tvm

        from dse.core.config import DeviceOptions
        from search_spaces.targets import TARGETS

        preset = TARGETS.get(target)
        return cls(
            dataset="none",
            data=data,
            model_key="host",
            work_dir=work_dir,
            target=preset,
            tvm_target=tvm.target.Target(preset.tvm_target(threads)),
            threads=threads,
            device_options=DeviceOptions(),
            tuning_db=work_dir / "tuning" / target,
        )
