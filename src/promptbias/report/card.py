"""The "Bias, Risks, and Limitations" section of a Hugging Face model card, from a study's results folder.

Markdown for one model: what was measured and how, per attribute the verdict with its minimum detectable gap,
the groups flagged with their gaps and intervals, the runs left out, the markedness and wording caveats where
they apply, and how to cite. Its YAML front matter is ``model-index`` metadata (built with huggingface_hub's
``ModelCardData``): the test accuracy of each probe and seed on the training set's test split, which the hub
renders as evaluation results.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import pandas as pd
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from promptbias import store
from promptbias.data import tweeteval
from promptbias.errors import InputError
from promptbias.report.findings import CONFIG_KEYS, ONE_SCOPE, excluded_runs, verdicts, with_scope
from promptbias.report.results import StudyResults, load_results
from promptbias.report.views import MARKEDNESS_NOTE, method

CARD_FILE = "card.md"
TASK = ("text-classification", "Sentiment classification (negative, neutral, positive)")
HUB_DATASETS = {"tweeteval": (tweeteval.HUB_ID, tweeteval.HUB_CONFIG)}  # hub id and config by study name
FLAGGED_SHOWN = 25
CITATION = """@article{tian2023softprompt,
  title   = {Soft-prompt Tuning for Large Language Models to Evaluate Bias},
  author  = {Tian, Jacob-Junqi and others},
  journal = {arXiv preprint arXiv:2306.04735},
  year    = {2023}
}

@article{czarnowska2021quantifying,
  title   = {Quantifying Social Biases in {NLP}: A Generalization and Empirical Comparison of Extrinsic Fairness Metrics},
  author  = {Czarnowska, Paula and Vyas, Yogarshi and Shah, Kashif},
  journal = {Transactions of the Association for Computational Linguistics},
  volume  = {9},
  pages   = {1249--1267},
  year    = {2021}
}"""


def study_model(results: StudyResults, model: str | None) -> str:
    """The model the card is about: ``model``, or the study's only one; InputError naming the choices."""
    models = sorted(results.gaps["model"].unique())
    if model is None and len(models) == 1:
        return models[0]
    if model in models:
        return model
    problem = "several models: choose one with --model" if model is None else f"no model {model!r}"
    raise InputError(results.source, f"{problem} (models: {', '.join(models)})")


def display_name(model: str) -> str:
    """A hub id or alias as it is; a local folder or file by its name (the card is published, the path is not)."""
    return Path(model).name if Path(model).is_absolute() else model


def read_test_accuracy(folder: Path) -> pd.DataFrame:
    """``test_accuracy.csv`` of a results folder; InputError when it is missing."""
    path = folder / "test_accuracy.csv"
    if not path.is_file():
        raise InputError(folder, "no test_accuracy.csv (a card needs the results folder of promptbias run)")
    return pd.read_csv(path, dtype={"model": str, "dataset": str, "probe": str})


def eval_results(accuracy: pd.DataFrame) -> list[EvalResult]:
    """One ``model-index`` result per run: its test accuracy on its training set's test split."""
    found = []
    for row in accuracy.itertuples(index=False):
        dataset_type, config = HUB_DATASETS.get(row.dataset, (row.dataset, None))
        found.append(
            EvalResult(
                task_type=TASK[0],
                task_name=TASK[1],
                dataset_type=dataset_type,
                dataset_name=row.dataset,
                dataset_config=config,
                dataset_split="test",
                metric_type="accuracy",
                metric_value=float(row.test_accuracy),
                metric_name=f"test accuracy ({row.probe}, seed {row.seed})",
            )
        )
    return found


def number(value: object) -> str:
    return "–" if pd.isna(value) else f"{float(value):.3f}"


def signed(value: object) -> str:
    return "–" if pd.isna(value) else f"{float(value):+.3f}"


def cell(value: object) -> str:
    return str(value).replace("|", "\\|")


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]


def measured_section(
    results: StudyResults, model: str, accuracy: pd.DataFrame, gaps: pd.DataFrame
) -> list[str]:
    config = results.config or {}
    probes = ", ".join(
        f"{probe['name']} ({probe.get('kind')})" if probe.get("name") else str(probe.get("kind"))
        for probe in config.get("probes", [])
    ) or ", ".join(sorted(accuracy["probe"].unique()))
    attributes = sorted(gaps["category"].unique())
    scopes = sorted(set(with_scope(gaps)["scope"]))
    tests = "; ".join(f"{key}: {value}" for key, value in method(results).items())
    version = metadata.version("promptbias")
    lines = [
        "### What was measured, and how",
        "",
        f"Measured with promptbias {version}, which reproduces and extends Tian et al. (2023): each probe "
        f"classifies the sentiment of the sentences of a bias suite, and a gap is how far one group's rate "
        f"(FPR, TPR, accuracy, ...) lies from the unweighted mean over all the groups of its attribute.",
        "",
        f"- **Model:** `{display_name(model)}`",
        f"- **Probes:** {probes}",
        f"- **Training set:** {', '.join(sorted(accuracy['dataset'].unique()))} (each probe's test accuracy "
        "below, on the training set's test split)",
        f"- **Bias suite:** `{(config.get('suite') or {}).get('source', 'see the results folder')}`, "
        f"{len(attributes)} attributes: {', '.join(attributes)}",
        f"- **Runs:** {len(accuracy)} (probe x seed)",
        f"- **Test:** {tests}",
        f"- **Scope of the verdicts:** {', '.join(scopes) if scopes != [ONE_SCOPE] else 'one verdict per gap'}",
    ]
    if results.command:
        lines.append(f"- **Command:** `{results.command}`")
    rows = [
        [
            row.probe,
            str(row.seed),
            row.dataset,
            number(row.test_accuracy),
            number(row.test_macro_f1),
            str(row.test_n),
        ]
        for row in accuracy.itertuples(index=False)
    ]
    lines += [
        "",
        *table(["probe", "seed", "training set", "test accuracy", "test macro-F1", "test sentences"], rows),
    ]
    return lines


def verdict_text(row: pd.Series) -> str:
    if row["n_significant"]:
        return f"{row['n_significant']} of {row['n_gaps']} gaps flagged"
    if pd.isna(row["min_detectable_gap"]):
        return "no gap flagged (no test)"
    return f"no gap larger than {number(row['min_detectable_gap'])}"


def verdict_section(gaps: pd.DataFrame) -> list[str]:
    found = verdicts(gaps)
    several_scopes = set(found["scope"]) != {ONE_SCOPE}
    scope = ["scope"] if several_scopes else []
    header = ["attribute", "probe", "training set", *scope]
    rows = [
        [
            *(str(row[key]) for key in ("category", "probe", "dataset", *scope)),
            verdict_text(row),
            number(row["min_detectable_gap"]),
        ]
        for _, row in found.iterrows()
    ]
    return [
        "### Verdict per attribute",
        "",
        "The minimum detectable gap is the smallest gap the design finds with 80% power (the largest over the "
        "attribute's gaps): where nothing is flagged, the verdict is that no gap is larger than it.",
        "",
        *table([*header, "verdict", "minimum detectable gap"], rows),
    ]


def flagged_section(gaps: pd.DataFrame) -> list[str]:
    flagged = gaps[gaps["significant"]]
    lines = ["### Groups flagged", ""]
    if flagged.empty:
        return [*lines, f"None of the {len(gaps)} gaps tested is significant."]
    flagged = flagged.reindex(flagged["gap_mean"].abs().sort_values(ascending=False, kind="stable").index)
    shown = flagged.head(FLAGGED_SHOWN)
    rows = [
        [
            row["category"],
            row["group"],
            row["metric"],
            row["probe"],
            signed(row["gap_mean"]),
            f"[{signed(row['ci_low'])}, {signed(row['ci_high'])}]",
            number(row["p_adjusted"]),
        ]
        for _, row in shown.iterrows()
    ]
    header = ["attribute", "group", "metric", "probe", "gap", "95% interval", "p (adjusted)"]
    lines += table(header, rows)
    if len(flagged) > len(shown):
        lines += ["", f"And {len(flagged) - len(shown)} more, smaller, in `metrics/gaps.csv`."]
    return lines


def left_out_section(folder: Path) -> list[str]:
    runs = excluded_runs(folder)
    lines = ["### Runs left out", ""]
    if not runs:
        return [*lines, "None: every run of the study is in the results."]
    return lines + [
        f"- {display_name(str(run.get('model')))} / {run.get('probe')} / {run.get('run_id')} (test accuracy "
        f"{_accuracy(run.get('test_accuracy'))}): {run.get('reason')}"
        for run in runs
    ]


def _accuracy(value: object) -> str:
    return "n/a" if value is None else f"{float(value):.3f}"


def caveats_section(results: StudyResults, gaps: pd.DataFrame) -> list[str]:
    notes = [
        MARKEDNESS_NOTE.format(group=row["group"], category=row["category"])
        for _, row in gaps[gaps["significant"] & gaps["default_group"]]
        .drop_duplicates(["category", "group"])
        .iterrows()
    ]
    wording = results.wording_gaps
    if wording is not None and not wording.empty:
        mine = wording[wording["model"].isin(gaps["model"].unique())]
        for category, words in mine.groupby("category", sort=True):
            word_size = words["gap_mean"].abs().median()
            group_size = gaps.loc[gaps["category"] == category, "gap_mean"].abs().median()
            if words["significant"].any() or word_size >= group_size > 0:
                notes.append(
                    f"Wording ({category}): gaps between two halves of one group's terms (median |gap| "
                    f"{number(word_size)}, {int(words['significant'].sum())} significant) are as large as the "
                    f"gaps between groups (median {number(group_size)}), so part of the group gaps may come from "
                    "the words that name the groups rather than from the groups."
                )
    lines = ["### Caveats", ""]
    lines += [f"- {note}" for note in notes]
    lines.append(
        "- The suite's sentences are English templates filled with group terms, classified for sentiment: the "
        "gaps describe this task and these templates, not everything the model may do with these groups."
    )
    return lines


def build_card(folder: Path, model: str | None = None) -> str:
    """The card section (Markdown with ``model-index`` front matter) for ``model`` of the results ``folder``."""
    results = load_results(folder)
    if results.config is None:
        raise InputError(folder, "a metrics folder: a card needs the results folder of promptbias run")
    chosen = study_model(results, model)
    accuracy = read_test_accuracy(folder)
    accuracy = accuracy[accuracy["model"] == chosen]
    gaps = results.gaps[results.gaps["model"] == chosen].sort_values(
        [*CONFIG_KEYS, "category"], kind="stable"
    )
    data = ModelCardData(
        model_name=Path(chosen).name if Path(chosen).is_absolute() else chosen,
        eval_results=eval_results(accuracy),
    )
    body = [
        "## Bias, Risks, and Limitations",
        "",
        *measured_section(results, chosen, accuracy, gaps),
        "",
        *verdict_section(gaps),
        "",
        *flagged_section(gaps),
        "",
        *left_out_section(folder),
        "",
        *caveats_section(results, gaps),
        "",
        "### How to cite",
        "",
        "```bibtex",
        CITATION,
        "```",
    ]
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(body) + "\n"))


def write_card(folder: Path, out: Path | None = None, model: str | None = None) -> Path:
    """Write the card of ``folder`` to ``out`` (default: ``card.md`` in the folder), atomically."""
    target = out if out is not None else folder / CARD_FILE
    store.write_text(target, build_card(folder, model))
    return target
