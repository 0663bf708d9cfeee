"""Training speed: matching.training.train on about 100,000 synthetic records.

Generates the synthetic region (no database), normalises it, then times training (u from
random pairs, EM per training rule, prior, thresholds). Reports the median of --repeat.

    python bench/bench_train.py --persons 40000 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from matching.training import TrainingOptions, train
from mpi.demo.datasets import synthetic_records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--persons", type=int, default=40_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--u-pairs", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = synthetic_records(args.persons, seed=args.seed)
    print(f"{len(data.records)} records from {args.persons} persons; {os.cpu_count()} CPUs")
    times, cpu = [], []
    for _ in range(args.repeat):
        started, started_cpu = time.perf_counter(), time.process_time()
        result = train(data.records, options=TrainingOptions(u_pairs=args.u_pairs))
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
        print(
            f"  {times[-1]:.1f}s ({cpu[-1]:.1f}s CPU): {result.u_pairs} u pairs,"
            f" {result.candidate_pairs} candidate pairs, prior {result.model.prior:.3g},"
            f" thresholds {dict(result.model.thresholds)}"
        )
    print(
        f"median {statistics.median(times):.1f}s ({statistics.median(cpu):.1f}s CPU)"
        f" over {len(times)} runs"
    )


if __name__ == "__main__":
    main()
