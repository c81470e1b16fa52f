"""What a suite holds and what may skew the gaps measured on it: counts per group and class, and warnings.

The warnings, each per category:

- ``incomplete-template``: a template does not fill every group: groups are compared on different sentences;
- ``duplicate-in-group``: a sentence repeats inside one group and counts twice;
- ``duplicate-across-groups``: one sentence belongs to two groups of a category, which are then not disjoint;
- ``duplicate-across-categories``: one sentence belongs to two categories;
- ``conflicting-labels``: one sentence carries two labels;
- ``group-imbalance``: the largest group has over ``max_group_ratio`` times the sentences of the smallest;
- ``class-imbalance``: the share of a class differs between groups by more than ``max_class_gap``;
- ``few-sentences``: a group has fewer than ``min_per_class`` sentences of some class (its rates are noisy).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import pandas as pd

from promptbias.labels import LABELS

WARNING_KINDS = (
    "incomplete-template",
    "duplicate-in-group",
    "duplicate-across-groups",
    "duplicate-across-categories",
    "conflicting-labels",
    "group-imbalance",
    "class-imbalance",
    "few-sentences",
)


@dataclass(frozen=True)
class CheckWarning:
    """One warning: its kind (one of WARNING_KINDS), the category (or categories) and what was found."""

    kind: str
    category: str
    message: str


@dataclass(frozen=True)
class CheckReport:
    """Counts per category and per group and class, and the warnings, for one suite."""

    source: str
    categories: pd.DataFrame
    groups: pd.DataFrame
    warnings: tuple[CheckWarning, ...]

    def render(self) -> str:
        """The report as plain text: a summary line, the two tables and one line per warning."""
        totals = self.categories
        lines = [
            f"suite: {self.source}",
            ", ".join(
                [
                    _count(totals["sentences"].sum(), "sentence"),
                    _count(len(totals), "category", "categories"),
                    _count(totals["groups"].sum(), "group"),
                ]
            ),
            "",
            format_table(totals),
            "",
            "sentences per group and class:",
            format_table(self.groups),
            "",
            f"warnings: {len(self.warnings) or 'none'}",
        ]
        width = max((len(warning.kind) for warning in self.warnings), default=0)
        lines += [f"  {w.kind:<{width}}  {w.category}: {w.message}" for w in self.warnings]
        return "\n".join(lines)


def _count(number: int, singular: str, plural: str | None = None) -> str:
    return f"{number:,} {singular if number == 1 else plural or singular + 's'}"


def format_table(frame: pd.DataFrame) -> str:
    """A frame as aligned plain text: text columns to the left, numbers to the right."""
    cells = [[str(name) for name in frame.columns]]
    cells += [
        [f"{value:,}" if isinstance(value, numbers.Integral) else str(value) for value in row]
        for row in frame.itertuples(index=False)
    ]
    numeric = [pd.api.types.is_numeric_dtype(dtype) for dtype in frame.dtypes]
    widths = [max(len(row[index]) for row in cells) for index in range(len(frame.columns))]
    return "\n".join(
        "  ".join(
            cell.rjust(width) if right else cell.ljust(width)
            for cell, width, right in zip(row, widths, numeric, strict=True)
        ).rstrip()
        for row in cells
    )


def check_suite(
    suite: pd.DataFrame,
    source: str = "suite",
    *,
    max_group_ratio: float = 1.5,
    max_class_gap: float = 0.05,
    min_per_class: int = 20,
) -> CheckReport:
    """Count and check a suite frame (label 0..2, category, group, text, template_id)."""
    groups = _group_table(suite)
    warnings = [
        *_incomplete_templates(suite),
        *_duplicates_in_group(suite),
        *_duplicates_across_groups(suite),
        *_duplicates_across_categories(suite),
        *_conflicting_labels(suite),
        *_group_imbalance(groups, max_group_ratio),
        *_class_imbalance(groups, max_class_gap),
        *_few_sentences(groups, min_per_class),
    ]
    order = {kind: index for index, kind in enumerate(WARNING_KINDS)}
    warnings.sort(key=lambda warning: (warning.category, order[warning.kind]))
    return CheckReport(source, _category_table(suite, groups), groups, tuple(warnings))


def _group_table(suite: pd.DataFrame) -> pd.DataFrame:
    counts = pd.crosstab([suite["category"], suite["group"]], suite["label"]).reindex(
        columns=range(len(LABELS)), fill_value=0
    )
    counts.columns = list(LABELS)
    counts["total"] = counts.sum(axis=1)
    return counts.reset_index().rename_axis(columns=None)


def _category_table(suite: pd.DataFrame, groups: pd.DataFrame) -> pd.DataFrame:
    by_category = suite.groupby("category", sort=True)
    table = pd.DataFrame(
        {
            "groups": by_category["group"].nunique(),
            "templates": by_category["template_id"].nunique(),
            "sentences": by_category.size(),
        }
    )
    classes = groups.groupby("category", sort=True)[list(LABELS)].sum()
    return table.join(classes).reset_index()


def _examples(values: list[str], limit: int = 2) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _incomplete_templates(suite: pd.DataFrame) -> list[CheckWarning]:
    warnings = []
    for category, rows in suite.groupby("category", sort=True):
        every = set(rows["group"])
        filled = rows.groupby("template_id", sort=False)["group"].agg(set)
        lacking = {tid: sorted(every - groups) for tid, groups in filled.items() if groups != every}
        if lacking:
            first, missing = next(iter(lacking.items()))
            warnings.append(
                CheckWarning(
                    "incomplete-template",
                    str(category),
                    f"{len(lacking)} of {len(filled)} templates do not fill every group "
                    f"(e.g. {first} has no {_examples(missing, 3)})",
                )
            )
    return warnings


def _duplicates_in_group(suite: pd.DataFrame) -> list[CheckWarning]:
    repeated = suite[suite.duplicated(["category", "group", "text"], keep=False)]
    warnings = []
    for category, rows in repeated.groupby("category", sort=True):
        first = rows.iloc[0]
        count = rows.drop_duplicates(["group", "text"]).shape[0]
        warnings.append(
            CheckWarning(
                "duplicate-in-group",
                str(category),
                f"{count} sentences repeat inside a group (e.g. {first['text']!r} in {first['group']})",
            )
        )
    return warnings


def _duplicates_across_groups(suite: pd.DataFrame) -> list[CheckWarning]:
    unique = suite.drop_duplicates(["category", "group", "text"])
    shared = unique.groupby(["category", "text"], sort=True)["group"].agg(list)
    shared = shared[shared.map(len) > 1]
    warnings = []
    for category, texts in shared.groupby(level="category", sort=True):
        (_, text), names = next(iter(texts.items()))
        warnings.append(
            CheckWarning(
                "duplicate-across-groups",
                str(category),
                f"{len(texts)} sentences are in two or more groups (e.g. {text!r} in {', '.join(names)})",
            )
        )
    return warnings


def _duplicates_across_categories(suite: pd.DataFrame) -> list[CheckWarning]:
    unique = suite.drop_duplicates(["category", "text"])
    shared = unique.groupby("text", sort=True)["category"].agg(lambda names: ", ".join(sorted(names)))
    shared = shared[shared.str.contains(", ", regex=False)]
    warnings = []
    for categories, texts in shared.groupby(shared, sort=True):
        warnings.append(
            CheckWarning(
                "duplicate-across-categories",
                str(categories),
                f"{len(texts)} sentences are in each of these categories (e.g. {texts.index[0]!r})",
            )
        )
    return warnings


def _conflicting_labels(suite: pd.DataFrame) -> list[CheckWarning]:
    labels = suite.groupby(["category", "text"], sort=True)["label"].agg(lambda values: sorted(set(values)))
    conflicting = labels[labels.map(len) > 1]
    warnings = []
    for category, texts in conflicting.groupby(level="category", sort=True):
        (_, text), values = next(iter(texts.items()))
        names = "/".join(LABELS[value] for value in values)
        warnings.append(
            CheckWarning(
                "conflicting-labels",
                str(category),
                f"{len(texts)} sentences carry two or more labels (e.g. {text!r}: {names})",
            )
        )
    return warnings


def _group_imbalance(groups: pd.DataFrame, max_ratio: float) -> list[CheckWarning]:
    warnings = []
    for category, rows in groups.groupby("category", sort=True):
        smallest = rows.loc[rows["total"].idxmin()]
        largest = rows.loc[rows["total"].idxmax()]
        if largest["total"] > max_ratio * smallest["total"]:
            warnings.append(
                CheckWarning(
                    "group-imbalance",
                    str(category),
                    f"group sizes range from {smallest['total']} ({smallest['group']}) to {largest['total']} "
                    f"({largest['group']}), more than {max_ratio:g} times",
                )
            )
    return warnings


def _class_imbalance(groups: pd.DataFrame, max_gap: float) -> list[CheckWarning]:
    warnings = []
    for category, rows in groups.groupby("category", sort=True):
        shares = rows.set_index("group")[list(LABELS)].div(rows["total"].to_numpy(), axis=0)
        gaps = shares.max() - shares.min()
        worst = str(gaps.idxmax())
        if gaps[worst] > max_gap:
            low, high = shares[worst].idxmin(), shares[worst].idxmax()
            warnings.append(
                CheckWarning(
                    "class-imbalance",
                    str(category),
                    f"the share of {worst} sentences ranges from {shares[worst][low]:.0%} ({low}) to "
                    f"{shares[worst][high]:.0%} ({high})",
                )
            )
    return warnings


def _few_sentences(groups: pd.DataFrame, minimum: int) -> list[CheckWarning]:
    warnings = []
    for category, rows in groups.groupby("category", sort=True):
        short = [
            f"{row['group']} {row[label]} {label}"
            for _, row in rows.iterrows()
            for label in LABELS
            if row[label] < minimum
        ]
        if short:
            warnings.append(
                CheckWarning(
                    "few-sentences",
                    str(category),
                    f"{len(short)} group-class cells have fewer than {minimum} sentences "
                    f"(e.g. {_examples(short)})",
                )
            )
    return warnings
