"""False alarms and power of the model comparison (``promptbias.metrics.inference.model_comparison``) on simulated pairs of models.

    PYTHONPATH=src python benchmarks/model_differences.py [--pairs 200] [--permutations 500] [--shifts 1 1.5 2]

Each pair is two synthetic studies of ``promptbias.metrics.inference.simulation`` on the same sentences (5 runs each,
attributes of 6, 4 and 3 groups, 60 templates each), with their own template, seed and run effects: the two
models read the templates differently, as two real models do. In a fair pair neither model treats a group
differently; in a differing pair model b is biased against one group by ``shift`` on its negative logit (a
negative-FPR gap of about +0.095 at shift 1, so a difference of gaps of about -0.095). Prints, as Markdown,
the share of fair pairs with any significant difference, the false flags per fair pair, and per shift the
planted difference and the share of differing pairs where it is found.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from promptbias.metrics.gaps import gap_metrics
from promptbias.metrics.inference import simulation
from promptbias.metrics.inference.model_comparison import compare_models
from promptbias.metrics.loading import normalise_predictions
from promptbias.metrics.metric_table import template_counts

RATE_METRICS = gap_metrics(probabilities=False)  # accuracy, and FPR and TPR per class

DIFFERING_SEEDS = 1_000_000


def differences(seed: int, *, differ: bool, shift: float, permutations: int):
    predictions = normalise_predictions(simulation.simulate_model_pair(seed, differ=differ, shift=shift))
    return compare_models(template_counts(predictions), RATE_METRICS, n_permutations=permutations, seed=seed)


def planted_difference(table) -> float:
    row = table[
        (table["category"] == simulation.BIASED_ATTRIBUTE)
        & (table["group"] == simulation.BIASED_GROUP)
        & (table["metric"] == simulation.BIASED_METRIC)
    ]
    return float(row["difference"].iloc[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--permutations", type=int, default=500)
    parser.add_argument("--shifts", type=float, nargs="*", default=[1.0, 1.5, 2.0])
    args = parser.parse_args()
    start = time.perf_counter()
    fair = [
        differences(s, differ=False, shift=0.0, permutations=args.permutations) for s in range(args.pairs)
    ]
    flagged = [bool(table["significant"].any()) for table in fair]
    print(f"{args.pairs} fair pairs, {args.permutations} permutations each\n")
    print(
        "| truth | pairs | pairs with any significant difference | false flags per pair | planted difference found |"
    )
    print("|---|---|---|---|---|")
    flags = np.mean([table["significant"].sum() for table in fair])
    print(f"| fair | {args.pairs} | {np.mean(flagged):.3f} | {flags:.3f} | |")
    for shift in args.shifts:
        tables = [
            differences(DIFFERING_SEEDS + s, differ=True, shift=shift, permutations=args.permutations)
            for s in range(args.pairs // 2)
        ]
        found = np.mean([simulation.model_difference_found(table) for table in tables])
        size = np.mean([planted_difference(table) for table in tables])
        print(f"| b biased, shift {shift:g} (difference {size:+.3f}) | {len(tables)} | | | {found:.3f} |")
    print(f"\n{time.perf_counter() - start:.0f} s in all")


if __name__ == "__main__":
    main()
