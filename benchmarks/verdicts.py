"""False alarms and power of every test of `promptbias metrics`, on synthetic studies with a known truth.

    PYTHONPATH=src python benchmarks/verdicts.py [--studies 200] [--resamples 1000] [--shifts 0.6 0.8 1.0]
        [--scenarios 200] [--runs 5 3]

First the group verdicts in both scopes (``--scenarios`` studies per scenario, ``--runs`` runs per study):
fair studies, fair studies whose runs tilt the groups their own way (``simulation.TILT``), fair studies where
one term of a group behaves apart (``term_shift``), biased studies; then the probe differences on simulated
probe pairs and the model differences on simulated model pairs. Then the older table:

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
import dataclasses
import time

import numpy as np
import pandas as pd

from promptbias.metrics.compute import gaps_of
from promptbias.metrics.gaps import gap_metrics
from promptbias.metrics.inference import engine, permutation, simulation, terms, uncertainty
from promptbias.metrics.inference.model_comparison import compare_models
from promptbias.metrics.loading import normalise_predictions, resolve_groups
from promptbias.metrics.metric_table import template_counts
from promptbias.metrics.probe_comparison import probe_differences

FAIR_SEEDS = 0
BIASED_SEEDS = 1_000_000
SHIFT_SEEDS = 2_000_000
LARGE_TEMPLATES_PER_CLASS = 600
RATE_METRICS = gap_metrics(probabilities=False)  # accuracy, and FPR and TPR per class
SCENARIOS = {  # name: simulate_study options
    "fair": {"biased": False},
    "fair, each run tilts the groups": {"biased": False, "tilt": simulation.TILT},
    "fair, one term of a group apart": {"biased": False, "term_shift": 2 * simulation.SHIFT},
    "fair, every term its own effect": {"biased": False, "term_sd": simulation.TERM_SD},
    "biased group (gap ~0.095)": {"biased": True},
    "biased group, two terms each": {"biased": True, "terms": simulation.TERMS},
}


def all_verdicts(predictions: pd.DataFrame, permutations: int, seed: int) -> dict[str, pd.DataFrame]:
    """The gap verdicts of one study in each scope and under each null (the group-level null only where
    the study names groups by several terms), from one set of permutations; and the disagreement."""
    parts = [
        (block, permutation.block_null(block, RATE_METRICS, permutations, seed))
        for block in engine.sentence_blocks(terms.with_terms(predictions))
    ]
    without = [(block, dataclasses.replace(result, term_spread=None)) for block, result in parts]
    tables = {}
    for scope in permutation.SCOPES:
        for null, chosen in ((terms.TERMS, without), (terms.GROUPS, parts)):
            table = permutation.family_gaps(chosen, RATE_METRICS, scope, engine.MAX_T, uncertainty.ALPHA)
            table["significant"] = table["p_adjusted"] < uncertainty.ALPHA
            if (table["null"] == null).all():
                tables[f"{scope}, {null}"] = table
    tables["disagreement"] = permutation.family_disagreement(parts, engine.MAX_T, uncertainty.ALPHA)
    return tables


def scope_rows(
    studies: int,
    runs: int,
    permutations: int,
    names: list[str] | None = None,
    first_seed: int | None = None,
    shift: float = simulation.SHIFT,
) -> list[dict[str, object]]:
    """Per scenario (``names``, default all), scope and null: share of studies with any flag, flags per
    study, planted group found. Study k of a scenario has seed ``first_seed`` + k (default: the scenario's
    own block of seeds); a biased group gets ``shift``."""
    rows = []
    for index, (name, options) in enumerate(SCENARIOS.items()):
        if names and name not in names:
            continue
        started = time.perf_counter()
        outcomes = []
        start = SHIFT_SEEDS * (index + 1) if first_seed is None else first_seed
        for seed in range(start, start + studies):
            chosen = {**options, "shift": shift} if options["biased"] else options
            predictions = normalise_predictions(simulation.simulate_study(seed, runs=runs, **chosen))
            outcomes.append(all_verdicts(predictions, permutations, seed))
        seconds = (time.perf_counter() - started) / studies
        ratio = np.mean([tables["disagreement"]["variance_ratio"].mean() for tables in outcomes])
        disagreeing = np.mean([tables["disagreement"]["significant"].any() for tables in outcomes])
        for verdict in [key for key in outcomes[0] if key != "disagreement"]:
            flagged = [tables[verdict] for tables in outcomes]
            rows.append(
                {
                    "scenario": name,
                    "runs": runs,
                    "scope, null": verdict,
                    "studies with any significant gap": np.mean([t["significant"].any() for t in flagged]),
                    "false flags per study": np.nan
                    if options["biased"]
                    else np.mean([t["significant"].sum() for t in flagged]),
                    "biased group found": np.mean([simulation.biased_group_found(t) for t in flagged])
                    if options["biased"]
                    else np.nan,
                    "variance ratio (mean)": ratio,
                    "prompt disagreement flagged": disagreeing,
                    "seconds per study (all verdicts)": seconds,
                }
            )
    return rows


def difference_rows(pairs: int, permutations: int) -> list[dict[str, object]]:
    """Probe differences (simulated probe pairs) and model differences (simulated model pairs)."""
    rows = []
    for kind, simulate, test, found in (
        ("probe", simulation.simulate_probe_pair, _probe_test, simulation.probe_difference_found),
        ("model", simulation.simulate_model_pair, _model_test, simulation.model_difference_found),
    ):
        for differ in (False, True):
            started = time.perf_counter()
            tables = [
                test(
                    template_counts(normalise_predictions(simulate(seed, differ=differ))), permutations, seed
                )
                for seed in range(BIASED_SEEDS * differ, BIASED_SEEDS * differ + pairs)
            ]
            rows.append(
                {
                    "test": f"{kind} differences",
                    "truth": "differ by ~0.095" if differ else "fair",
                    "pairs": pairs,
                    "pairs with any significant difference": np.mean(
                        [t["significant"].any() for t in tables]
                    ),
                    "planted difference found": np.mean([found(t) for t in tables]) if differ else np.nan,
                    "seconds per pair": (time.perf_counter() - started) / pairs,
                }
            )
    return rows


def _probe_test(counts: pd.DataFrame, permutations: int, seed: int) -> pd.DataFrame:
    options = {"n_permutations": permutations, "seed": seed, "correction": engine.MAX_T}
    return probe_differences(counts, RATE_METRICS, reference="reference", **options)


def _model_test(counts: pd.DataFrame, permutations: int, seed: int) -> pd.DataFrame:
    return compare_models(counts, RATE_METRICS, n_permutations=permutations, seed=seed)


def study_gaps(seed: int, *, biased: bool, method: str, resamples: int, shift: float) -> pd.DataFrame:
    predictions = normalise_predictions(simulation.simulate_study(seed, biased=biased, shift=shift))
    return gaps_of(
        predictions,
        resolve_groups(predictions, None),
        ci=method,
        correction=engine.default_correction(method),
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
    parser.add_argument("--scenarios", type=int, default=200, help="studies (pairs) per scope scenario")
    parser.add_argument("--runs", type=int, nargs="*", default=[5, 3], help="runs per study of the scenarios")
    parser.add_argument("--only", nargs="*", choices=list(SCENARIOS), help="scenarios to run (default: all)")
    parser.add_argument(
        "--first-seed", type=int, help="seed of each scenario's first study (default: its own)"
    )
    parser.add_argument("--shift", type=float, default=simulation.SHIFT, help="biased group's logit shift")
    parser.add_argument("--permutations", type=int, default=1000, help="permutations of the scope scenarios")
    parser.add_argument(
        "--differences", action=argparse.BooleanOptionalAction, default=True, help="paired tests"
    )
    arguments = parser.parse_args()
    if arguments.scenarios:
        started = time.perf_counter()
        rows = [
            row
            for runs in arguments.runs
            for row in scope_rows(
                arguments.scenarios,
                runs,
                arguments.permutations,
                arguments.only,
                arguments.first_seed,
                arguments.shift,
            )
        ]
        print(f"Scopes: {arguments.scenarios} studies per scenario, {arguments.permutations} permutations\n")
        print(markdown(pd.DataFrame(rows)))
        if arguments.differences:
            print("\nDifferences: paired tests\n")
            print(markdown(pd.DataFrame(difference_rows(arguments.scenarios, arguments.permutations))))
        print(f"\n{time.perf_counter() - started:.0f} s for the scenarios\n", flush=True)
    if not (arguments.studies and arguments.methods):
        return
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
