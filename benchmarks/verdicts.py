"""False alarms and power of every test of `promptbias metrics`, on synthetic studies with a known truth.

    PYTHONPATH=src python benchmarks/verdicts.py [--studies 200] [--resamples 1000] [--shifts 0.6 0.8 1.0]

For each method (its own default correction: max-T for the permutation test, Holm otherwise), on ``--studies``
fair and as many biased studies of ``promptbias.metrics.inference.simulation`` (5 runs, attributes of 6, 4 and 3
groups, 60 templates each, strong template, seed and run x template effects; biased: one group's negative
logit +1, a negative-FPR gap of about +0.095), prints the share of fair studies with any significant gap, the
false flags per fair study and the share of biased studies where the biased group is found. Then, for the
permutation test, the minimum detectable gap it reports against the power it has at planted gaps of several
sizes (``--shifts``, each planted gap measured on one large study), to check the 80% claim. Markdown out.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from promptbias.metrics.compute import gaps_of
from promptbias.metrics.inference import simulation, uncertainty
from promptbias.metrics.loading import normalise_predictions, resolve_groups

FAIR_SEEDS = 0
BIASED_SEEDS = 1_000_000
SHIFT_SEEDS = 2_000_000
LARGE_TEMPLATES_PER_CLASS = 600


def study_gaps(seed: int, *, biased: bool, method: str, resamples: int, shift: float) -> pd.DataFrame:
    predictions = normalise_predictions(simulation.simulate_study(seed, biased=biased, shift=shift))
    return gaps_of(
        predictions,
        resolve_groups(predictions, None),
        ci=method,
        correction=uncertainty.default_correction(method),
        seed=seed,
        n_boot=resamples,
        n_permutations=resamples,
    )


def verdicts(method: str, studies: int, biased_studies: int, resamples: int) -> dict[str, float]:
    started = time.perf_counter()
    fair = [
        study_gaps(FAIR_SEEDS + index, biased=False, method=method, resamples=resamples, shift=0.0)
        for index in range(studies)
    ]
    found = [
        simulation.biased_group_found(
            study_gaps(
                BIASED_SEEDS + index, biased=True, method=method, resamples=resamples, shift=simulation.SHIFT
            )
        )
        for index in range(biased_studies)
    ]
    return {
        "method": method,
        "fair studies with any significant gap": np.mean([table["significant"].any() for table in fair]),
        "false flags per fair study": np.mean([table["significant"].sum() for table in fair]),
        "biased group found": np.mean(found) if found else np.nan,
        "seconds per study": (time.perf_counter() - started) / (studies + biased_studies),
    }


def planted_gap(shift: float) -> float:
    """The negative-FPR gap a shift plants, measured on one study with many templates."""
    predictions = normalise_predictions(
        simulation.simulate_study(
            SHIFT_SEEDS, biased=True, shift=shift, templates_per_class=LARGE_TEMPLATES_PER_CLASS
        )
    )
    table = gaps_of(
        predictions,
        resolve_groups(predictions, None),
        ci="t",
        correction="holm",
        seed=0,
        n_boot=1,
        n_permutations=1,
    )
    row = table[
        (table["category"] == simulation.BIASED_ATTRIBUTE)
        & (table["group"] == simulation.BIASED_GROUP)
        & (table["metric"] == simulation.BIASED_METRIC)
    ]
    return float(row["gap_mean"].iloc[0])


def power_check(studies: int, resamples: int, shifts: list[float]) -> pd.DataFrame:
    method = uncertainty.PERMUTATION
    rows = []
    for shift in shifts:
        tables = [
            study_gaps(SHIFT_SEEDS + 1 + index, biased=True, method=method, resamples=resamples, shift=shift)
            for index in range(studies)
        ]
        reported = [
            table.loc[
                (table["category"] == simulation.BIASED_ATTRIBUTE)
                & (table["group"] == simulation.BIASED_GROUP)
                & (table["metric"] == simulation.BIASED_METRIC),
                "min_detectable_gap",
            ].iloc[0]
            for table in tables
        ]
        rows.append(
            {
                "shift (logit)": shift,
                "planted gap": planted_gap(shift),
                "reported minimum detectable gap (mean)": np.mean(reported),
                "detected": np.mean([simulation.biased_group_found(table) for table in tables]),
            }
        )
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    """A Markdown table, numbers to three decimals."""
    cells = [
        [f"{value:.3f}" if isinstance(value, float) else str(value) for value in row]
        for row in table.to_numpy()
    ]
    lines = ["| " + " | ".join(table.columns) + " |", "|" + "---|" * len(table.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200, help="fair studies")
    parser.add_argument("--biased-studies", type=int, help="biased studies (default: as many as fair ones)")
    parser.add_argument(
        "--methods", nargs="*", default=list(uncertainty.INTERVAL_METHODS), help="methods to run"
    )
    parser.add_argument("--resamples", type=int, default=1000, help="permutations or bootstrap resamples")
    parser.add_argument(
        "--shifts", type=float, nargs="*", default=[0.6, 0.8, 1.0], help="logit shifts to plant"
    )
    parser.add_argument("--power-studies", type=int, default=100, help="biased studies per planted shift")
    arguments = parser.parse_args()
    biased = arguments.studies if arguments.biased_studies is None else arguments.biased_studies
    table = pd.DataFrame(
        [verdicts(method, arguments.studies, biased, arguments.resamples) for method in arguments.methods]
    )
    print(f"{arguments.studies} fair and {biased} biased studies, {arguments.resamples} resamples\n")
    print(markdown(table))
    if arguments.shifts:
        print("\nPermutation test: reported minimum detectable gap against power at planted gaps\n")
        power = power_check(arguments.power_studies, arguments.resamples, arguments.shifts)
        print(markdown(power))


if __name__ == "__main__":
    main()
