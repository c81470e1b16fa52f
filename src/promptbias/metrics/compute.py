"""From a predictions table to every metrics table: per group, gaps, counterfactual, generalized."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from promptbias.errors import InputError
from promptbias.metrics import counterfactual, diagnostics, gaps, generalized
from promptbias.metrics.inference import (
    calibration,
    engine,
    model_comparison,
    permutation,
    terms,
    uncertainty,
    wording,
)
from promptbias.metrics.loading import normalise_predictions, resolve_groups
from promptbias.metrics.metric_table import COUNT_COLUMNS, group_metrics, metric_frame, template_counts
from promptbias.metrics.probe_comparison import probe_differences
from promptbias.metrics.summary import build_summary, plain
from promptbias.schema import (
    DISAGREEMENT_COLUMNS,
    GAP_KEY,
    GROUP_KEY,
    MODEL_SUMMARY_COLUMNS,
    OVERALL_COLUMNS,
    RUN_KEY,
)
from promptbias.suites.defaults import default_groups

DEFAULT_BOOTSTRAP = 1000
RESAMPLED_INTERVALS = (uncertainty.PERMUTATION, "bootstrap", "multibootstrap")
INTERVAL_NAMES = {
    uncertainty.PERMUTATION: "the bootstrap of the verdict's scope: runs and templates (model), "
    "templates (prompts)",
    "multibootstrap": "two-level bootstrap (runs and templates)",
    "bootstrap": "template bootstrap (runs fixed)",
    "t": "t across runs",
    "z": "normal across runs",
}

# The question each other method's verdict answers: runs as a sample of prompts (model), or held fixed.
METHOD_SCOPES = {
    "t": permutation.MODEL,
    "z": permutation.MODEL,
    "multibootstrap": permutation.MODEL,
    "bootstrap": permutation.PROMPTS,
}


@dataclass
class MetricsResult:
    """Every output table of the metrics stage, and the summary (what went in, headline figures, warnings)."""

    group_metrics: pd.DataFrame
    run_gaps: pd.DataFrame
    gaps: pd.DataFrame
    overall: pd.DataFrame
    flip_rates: pd.DataFrame
    flip_examples: pd.DataFrame
    generalized_groups: pd.DataFrame
    generalized_pairs: pd.DataFrame
    generalized_summary: pd.DataFrame
    wording_gaps: pd.DataFrame
    prompt_disagreement: pd.DataFrame
    model_differences: pd.DataFrame
    probe_differences: pd.DataFrame
    model_summary: pd.DataFrame
    warnings: pd.DataFrame
    summary: dict[str, Any] = field(default_factory=dict)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables by their file name in the output folder."""
        return {
            "group_metrics.csv": self.group_metrics,
            "run_gaps.csv": self.run_gaps,
            "gaps.csv": self.gaps,
            "overall.csv": self.overall,
            "flip_rates.csv": self.flip_rates,
            "flip_examples.csv": self.flip_examples,
            "generalized_groups.csv": self.generalized_groups,
            "generalized_pairs.csv": self.generalized_pairs,
            "generalized_summary.csv": self.generalized_summary,
            "wording_gaps.csv": self.wording_gaps,
            "prompt_disagreement.csv": self.prompt_disagreement,
            "model_differences.csv": self.model_differences,
            "probe_differences.csv": self.probe_differences,
            "model_summary.csv": self.model_summary,
            "warnings.csv": self.warnings,
        }


def check_options(
    ci: str,
    correction: str | None,
    n_boot: int = DEFAULT_BOOTSTRAP,
    n_permutations: int = engine.DEFAULT_PERMUTATIONS,
    calibrate: int = 0,
    scope: str | None = None,
    null: str = terms.TERMS,
) -> str:
    """Reject an unknown method, correction or scope, max-T without the permutation test, or no resamples;
    return the correction to use (``None``: the method's own, max-T for the permutation test, else Holm)."""
    if ci not in uncertainty.INTERVAL_METHODS:
        raise InputError(
            "--ci", f"unknown interval method {ci!r} (expected {', '.join(uncertainty.INTERVAL_METHODS)})"
        )
    correction = engine.default_correction(ci) if correction is None else correction
    if correction not in engine.CORRECTIONS:
        raise InputError(
            "--correction",
            f"unknown correction {correction!r} (expected {', '.join(engine.CORRECTIONS)})",
        )
    if scope is not None and scope not in permutation.SCOPES:
        raise InputError("--scope", f"unknown scope {scope!r} (expected {', '.join(permutation.SCOPES)})")
    if null not in terms.NULLS:
        raise InputError("--null", f"unknown null {null!r} (expected {', '.join(terms.NULLS)})")
    if null != terms.TERMS and ci != uncertainty.PERMUTATION:
        raise InputError("--null", f"{null} needs --ci {uncertainty.PERMUTATION} (got --ci {ci})")
    if correction == engine.MAX_T and ci != uncertainty.PERMUTATION:
        raise InputError("--correction", f"maxt needs --ci {uncertainty.PERMUTATION} (got --ci {ci})")
    if n_boot < 1:
        raise InputError("--n-boot", f"needs at least one resample, got {n_boot}")
    if n_permutations < 1:
        raise InputError("--n-permutations", f"needs at least one permutation, got {n_permutations}")
    if calibrate < 0:
        raise InputError("--calibrate", f"needs a number of copies (0 or more), got {calibrate}")
    return correction


def compute_metrics(
    predictions: pd.DataFrame,
    *,
    ci: str = uncertainty.DEFAULT_METHOD,
    groups: Mapping[str, Sequence[str]] | None = None,
    correction: str | None = None,
    seed: int = 0,
    n_boot: int = DEFAULT_BOOTSTRAP,
    n_permutations: int = engine.DEFAULT_PERMUTATIONS,
    calibrate: int = 0,
    suite: str | Path | None = None,
    scope: str | None = None,
    null: str = terms.TERMS,
    reference_probe: str | None = None,
) -> MetricsResult:
    """All metrics of ``predictions`` (a frame like ``load_predictions`` returns).

    ``ci``: ``permutation`` (the test of ``metrics/inference/permutation.py`` with ``n_permutations`` permutations and
    the two-level bootstrap's interval), ``t``, ``z``, ``bootstrap`` or ``multibootstrap`` (``n_boot``
    resamples; everything drawn from ``seed``); ``groups``: the groups to compare per category (others: all
    groups); ``correction``: ``maxt`` (permutation only), ``holm``, ``bh`` or ``none`` (default: max-T for
    the permutation test, else Holm over every row of the gaps table); ``calibrate``: rerun the test on
    this many copies with groups permuted within templates (``metrics/inference/calibration.py``); ``suite``: the
    suite the predictions came from, whose marked default groups join the built-in ones (``default_group``);
    ``scope``: ``model``, ``prompts`` or None (the model's from ``permutation.MIN_MODEL_RUNS`` runs on);
    ``null``: ``terms`` or ``groups`` (``metrics/inference/terms.py``; permutation test only);
    ``reference_probe``: the probe the others are compared with (None: ``probe_comparison.reference_probe``).
    """
    correction = check_options(ci, correction, n_boot, n_permutations, calibrate, scope, null)
    predictions = normalise_predictions(predictions)
    selected = resolve_groups(predictions, groups)
    runs = run_table(predictions)
    counts = template_counts(predictions)
    compared = counts[_in_selection(counts, selected)].reset_index(drop=True)
    sentences = predictions[_in_selection(predictions, selected)].reset_index(drop=True)
    per_group = group_metrics(counts, runs, selected)

    metrics = gap_metrics(counts)
    per_run = gaps.run_gaps(compared, metrics)
    options = {
        "ci": ci,
        "correction": correction,
        "seed": seed,
        "n_boot": n_boot,
        "n_permutations": n_permutations,
        "scope": scope,
        "null": null,
        "defaults": default_groups(suite),
    }
    table, disagreement = gap_table(per_run, compared, sentences, runs, metrics, **options)
    wording_table = wording.wording_gaps(
        sentences, metrics, n_permutations=n_permutations, seed=seed, correction=correction, scope=scope
    )
    tests = {"n_permutations": n_permutations, "seed": seed, "correction": correction}
    differences = model_comparison.compare_models(compared, metrics, **tests)
    probes = probe_differences(compared, metrics, reference=reference_probe, **tests)
    model_summary = pd.DataFrame(columns=list(MODEL_SUMMARY_COLUMNS))
    if sentences["model"].nunique() > 1:  # the report's model comparison
        model_summary = model_comparison.attribute_summary(
            compared, table, gaps.gap_metrics(probabilities=False)
        )

    flips = counterfactual.template_flips(compared)
    examples = counterfactual.flip_examples(flips, sentences)
    group_totals = compared.groupby(list(GROUP_KEY), sort=True, observed=True)[list(COUNT_COLUMNS)].sum()
    general = generalized.generalized_metrics(group_totals.reset_index())

    overall = overall_table(counts, runs)
    warnings = diagnostics.warning_table(per_group, overall)
    nan_counts = diagnostics.nan_rate_counts(per_group)
    interval = {
        "method": ci,
        "level": uncertainty.LEVEL,
        "seed": seed,
        "n_boot": n_boot if ci in RESAMPLED_INTERVALS else None,
        "n_permutations": n_permutations,
        "interval": INTERVAL_NAMES[ci],
    }
    summary = build_summary(
        runs=runs,
        overall=overall,
        gaps=table,
        selected=selected,
        options=interval,
        correction=correction,
        metrics=metrics,
        nan_counts=nan_counts,
        messages=diagnostics.warning_messages(warnings, nan_counts),
    )
    if calibrate:
        test = partial(gaps_of, selected=selected, **options)
        summary["calibration"] = plain(
            {**calibration.calibrate(predictions, calibrate, seed, test), "alpha": uncertainty.ALPHA}
        )
    return MetricsResult(
        group_metrics=per_group,
        run_gaps=per_run,
        gaps=table,
        overall=overall,
        flip_rates=counterfactual.flip_rates(flips),
        flip_examples=examples,
        generalized_groups=general[0],
        generalized_pairs=general[1],
        generalized_summary=general[2],
        wording_gaps=wording_table,
        prompt_disagreement=disagreement,
        model_differences=differences,
        probe_differences=probes,
        model_summary=model_summary,
        warnings=warnings,
        summary=summary,
    )


def gap_metrics(counts: pd.DataFrame) -> tuple[str, ...]:
    """The metrics that get gaps: those of probabilities only when the inputs have probabilities."""
    return gaps.gap_metrics(probabilities=counts["n_prob"].sum() > 0)


def gaps_of(predictions: pd.DataFrame, selected: Mapping[str, Sequence[str]], **options: Any) -> pd.DataFrame:
    """The gaps table alone (what ``--calibrate`` reruns on each permuted copy); ``options`` as ``gap_table``."""
    counts = template_counts(predictions)
    compared = counts[_in_selection(counts, selected)].reset_index(drop=True)
    sentences = predictions[_in_selection(predictions, selected)].reset_index(drop=True)
    metrics = gap_metrics(counts)
    runs = run_table(predictions)
    return gap_table(gaps.run_gaps(compared, metrics), compared, sentences, runs, metrics, **options)[0]


def gap_table(
    per_run: pd.DataFrame,
    compared: pd.DataFrame,
    sentences: pd.DataFrame,
    runs: pd.DataFrame,
    metrics: tuple[str, ...],
    *,
    ci: str,
    correction: str,
    seed: int,
    n_boot: int,
    n_permutations: int,
    scope: str | None = None,
    null: str = terms.TERMS,
    defaults: Mapping[str, set[str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``gaps.csv``: per-run gaps across runs, with intervals, p-values, adjusted p-values, significance, and
    whether a group is its category's unmarked default (``defaults``: category -> default groups; the built-in
    ones when not given); and ``prompt_disagreement.csv`` (permutation test only, else empty).

    ``compared`` holds the per-template counts of the compared groups (for the bootstraps), ``sentences``
    their predictions (for the permutation test). With the permutation test each family's interval is the
    bootstrap of its verdict's scope (``permutation.SCOPE_INTERVALS``).
    """
    disagreement = pd.DataFrame(columns=list(DISAGREEMENT_COLUMNS))
    resampled = None
    if ci == uncertainty.PERMUTATION:
        test, disagreement = permutation.permutation_test(
            sentences,
            metrics,
            n_permutations=n_permutations,
            seed=seed,
            correction=correction,
            scope=scope,
            null=null,
        )
        resampled = scope_intervals(compared, test, metrics, n_boot, seed).merge(
            test.drop(columns="gap_mean"), on=list(GAP_KEY), how="left"
        )
    elif ci in RESAMPLED_INTERVALS:
        two_level = ci != "bootstrap"
        resampled = gaps.bootstrap_gaps(compared, metrics, n_boot, seed, resample_runs=two_level)
    table = gaps.across_runs(per_run, runs, ci, resampled)
    if ci != uncertainty.PERMUTATION:  # the permutation test adjusts within each family (engine)
        table["p_adjusted"] = engine.adjust_p_values(table["p_value"].to_numpy(), correction)
    table["significant"] = table["p_adjusted"] < uncertainty.ALPHA
    templates = compared.groupby(list(GAP_KEY[:-1]), observed=True)["template_id"].nunique()
    table = table.merge(templates.rename("n_templates").reset_index(), on=list(GAP_KEY[:-1]))
    table["default_group"] = is_default_group(table, default_groups() if defaults is None else defaults)
    table["method"] = ci
    for column in permutation.TEST_COLUMNS:
        if column not in table.columns:
            table[column] = np.nan
    if ci != uncertainty.PERMUTATION:
        table["scope"] = METHOD_SCOPES[ci]
    return gaps.order_gaps(table, metrics), disagreement


def scope_intervals(
    compared: pd.DataFrame, test: pd.DataFrame, metrics: tuple[str, ...], n_boot: int, seed: int
) -> pd.DataFrame:
    """``ci_low``, ``ci_high`` per gap row from the bootstrap that answers each family's scope: runs and
    templates resampled for the model, templates alone (runs fixed) for these prompts."""
    scopes = test.groupby(list(engine.FAMILY_KEY), observed=True)["scope"].first()
    family = pd.MultiIndex.from_frame(compared[list(engine.FAMILY_KEY)])
    parts = []
    for scope in sorted(set(scopes)):
        chosen = compared[family.isin(scopes.index[scopes == scope])]
        two_level = permutation.SCOPE_INTERVALS[scope] == "multibootstrap"
        parts.append(gaps.bootstrap_gaps(chosen, metrics, n_boot, seed, resample_runs=two_level))
    return pd.concat(parts, ignore_index=True).drop(columns="p_value")


def is_default_group(table: pd.DataFrame, defaults: Mapping[str, set[str]]) -> list[bool]:
    """Per row of ``table``: is its group the unmarked default of its category?"""
    return [
        group in defaults.get(category, ())
        for category, group in zip(table["category"], table["group"], strict=True)
    ]


def run_table(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per run: its key, ``num_params``, number of sentences and the file(s) it came from."""
    table = predictions.groupby(list(RUN_KEY), sort=True).agg(
        num_params=("num_params", "first"), n_sentences=("y_true", "size")
    )
    if "source" in predictions.columns:
        table["source"] = predictions.groupby(list(RUN_KEY), sort=True)["source"].first()
    else:
        table["source"] = ""
    return table.reset_index()


def overall_table(counts: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per run, over all its sentences: n, accuracy, macro-F1 and per class the share predicted, TPR, F1."""
    frame = metric_frame(counts, list(RUN_KEY))
    frame = frame.merge(runs[[*RUN_KEY, "num_params"]], on=list(RUN_KEY), how="left")
    return frame[list(OVERALL_COLUMNS)]


def _in_selection(frame: pd.DataFrame, selected: Mapping[str, Sequence[str]]) -> np.ndarray:
    """Whether each row's (category, group) is one of the selected groups."""
    pairs = pd.MultiIndex.from_tuples(
        [(category, group) for category, names in selected.items() for group in names],
        names=["category", "group"],
    )
    return pd.MultiIndex.from_frame(frame[["category", "group"]]).isin(pairs)
