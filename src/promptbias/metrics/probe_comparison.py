"""Do hand-written probes move the measured bias? Each probe's gaps against a reference probe's, tested.

The reference probe is chosen by one rule (``reference_probe``): the study's tuned probe (the soft prompt),
else the first probe by name. For each other probe of the same model and training set, the engine's paired
test (``engine.paired_test``) compares the two probes' gaps on the same sentences: runs paired by seed number
(a probe without seeds pairs its one run with every run of the reference), cells of a template swapped
between the two probes, ``--correction`` over every difference of one probe pair (all attributes). Written
to ``probe_differences.csv``; the report and the end of ``promptbias run`` show its significant rows.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import pandas as pd

from promptbias.metrics.inference import engine
from promptbias.schema import PROBE_DIFFERENCE_COLUMNS


def reference_probe(probes: Sequence[str], tuned: Collection[str] = ()) -> str:
    """The probe every other is compared with: the first tuned probe by name, else the first probe by name."""
    ordered = sorted(probes)
    return next((probe for probe in ordered if probe in tuned), ordered[0])


def probe_differences(
    counts: pd.DataFrame,
    metrics: tuple[str, ...],
    *,
    reference: str | None,
    n_permutations: int,
    seed: int,
    correction: str,
) -> pd.DataFrame:
    """One row per model x dataset x probe x attribute x group x metric of every probe but the reference
    (``PROBE_DIFFERENCE_COLUMNS``): its gap, the reference's, the difference with its test and interval.
    ``counts``: per-template counts of the compared groups; ``reference``: None for ``reference_probe``'s
    choice by name. Empty with a single probe or without the reference."""
    probes = sorted(counts["probe"].unique())
    if len(probes) < 2:
        return pd.DataFrame(columns=list(PROBE_DIFFERENCE_COLUMNS))
    reference = reference_probe(probes) if reference is None else reference
    frames = []
    for (model, dataset), part in counts.groupby(["model", "dataset"], sort=True, observed=True):
        if reference not in set(part["probe"]):
            continue
        for probe in sorted(set(part["probe"]) - {reference}):
            pair = part[part["probe"].isin([probe, reference])].assign(arm=lambda frame: frame["probe"])
            table = engine.paired_test(
                pair,
                (probe, reference),
                metrics,
                n_permutations=n_permutations,
                seed=seed,
                key=("probes", str(model), str(dataset), probe, reference),
                correction=correction,
            )
            if not table.empty:
                frames.append(
                    table.rename(columns={"gap_a": "gap_mean", "gap_b": "reference_gap_mean"}).assign(
                        model=model, dataset=dataset, probe=probe, reference_probe=reference
                    )
                )
    if not frames:
        return pd.DataFrame(columns=list(PROBE_DIFFERENCE_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(PROBE_DIFFERENCE_COLUMNS)]


def largest_differences(differences: pd.DataFrame, count: int = 10) -> pd.DataFrame:
    """The ``count`` significant differences largest in size (none when none is significant)."""
    significant = differences[differences["significant"].astype(bool)]
    order = significant["difference"].abs().sort_values(ascending=False, kind="stable").index[:count]
    return significant.loc[order].reset_index(drop=True)


def probe_differences_text(differences: pd.DataFrame, count: int = 5) -> str:
    """The largest significant differences between a probe's gaps and the reference probe's (paired test,
    95% interval), or a line saying that none is significant."""
    reference = ", ".join(sorted(set(differences["reference_probe"])))
    tested = int(differences["p_value"].notna().sum())
    largest = largest_differences(differences, count)
    if largest.empty:
        return f"Probe differences against {reference}: none of {tested} tested differences is significant."
    columns = [
        "model",
        "probe",
        "category",
        "group",
        "metric",
        "difference",
        "ci_low",
        "ci_high",
        "p_adjusted",
    ]
    title = (
        f"Largest significant differences of a gap between a probe and {reference} "
        f"({len(differences[differences['significant'].astype(bool)])} of {tested} tested):"
    )
    return "\n".join([title, largest[columns].to_string(index=False, float_format=lambda v: f"{v:+.3f}")])
