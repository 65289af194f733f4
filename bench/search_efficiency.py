"""Search efficiency on a small real space: exhaustive vs TPE, NSGA-II, GP, random and QMC.

Embedded default data set (digits), tiny_cnn on the host x86 target; every distinct
configuration is compiled and measured once (joblib cache under the work folder, so a second
run only replays the samplers), then each guided sampler runs for several seeds on the cached
evaluations. Prints the table of trials needed to reach 90/95/99% of the exhaustive front's
hypervolume; writes the plot next to the studies.

    python bench/search_efficiency.py                      # the default space (28 configurations)
    python bench/search_efficiency.py --seeds 0,1,2,3,4    # any dse.compare option overrides

The default space (tiny_cnn; no pruning or channel pruning at 3 ratios x 2 fine-tune budgets;
fp32; im2col+GEMM or direct, 2 layouts each) has 28 configurations whose accuracy and latency
both vary. Run on a quiet machine: the exhaustive pass measures for real (about 10-60 s a
configuration on 2 cores), the guided replays take a few minutes (GP is the slowest sampler).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULTS = [
    "--models",
    "tiny_cnn",
    "--pruning",
    "none,channel",
    "--precision",
    "fp32",
    "--algorithms",
    "im2col_gemm,direct",
    "--tuning",
    "untuned",
    "--samplers",
    "tpe,nsga2,gp,random,qmc",
    "--seeds",
    "0,1,2",
    "--n-trials",
    "10",
    "--work-dir",
    "studies/bench-search",
    "--html",
    "studies/bench-search/search_efficiency.html",
    "--csv",
    "studies/bench-search/search_efficiency.csv",
]


def main(argv: list[str]) -> int:
    from bench._common import machine_line
    from dse.compare import main as compare

    Path("studies/bench-search").mkdir(parents=True, exist_ok=True)
    overridden = {a.split("=")[0] for a in argv if a.startswith("--")}
    args: list[str] = []
    for i in range(0, len(DEFAULTS), 2):
        if DEFAULTS[i] not in overridden:
            args += DEFAULTS[i : i + 2]
    given = args + argv
    threads = next((given[i + 1] for i, a in enumerate(given[:-1]) if a == "--threads"), None)
    print(machine_line(int(threads) if threads else os.cpu_count() or 1), flush=True)
    return compare(given)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
