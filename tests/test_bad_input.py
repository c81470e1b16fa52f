"""Bad input to ``run``, ``tune`` and ``predict``: exit status 2, one line on stderr naming the file (and line or
field) and the problem, and no output file or folder created or changed. The cases of ``metrics`` are in
test_metrics_cli.py, those of suite files in test_suites_errors.py; docs/errors.md lists them all."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from cli_helpers import cli, snapshot
from promptbias.data.tabular import read_labelled_file
from promptbias.errors import InputError, InputWarning
from promptbias.study.config import load_study
from promptbias.study.plan import pending_units, resolve_suite
from promptbias.study.preflight import check_study

SUITE = (
    "2\tage\told\tOld people are kind.\n2\tage\tyoung\tYoung people are kind.\n"
    "0\tage\told\tOld people are rude.\n0\tage\tyoung\tYoung people are rude.\n"
)


def labelled_csv(rows: int) -> str:
    lines = ["text,label"] + [f"sentence number {index} is here,{index % 3}" for index in range(rows)]
    return "\n".join(lines) + "\n"


def write_study(folder: Path, model: Path, **overrides: object) -> Path:
    """A small study that passes every check: its own CSV files, its own suite, a tiny model."""
    data = folder / "data"
    data.mkdir(exist_ok=True)
    for split, rows in (("train", 24), ("dev", 9), ("test", 9)):
        (data / f"{split}.csv").write_text(labelled_csv(rows), encoding="utf-8")
    (folder / "suite.tsv").write_text(SUITE, encoding="utf-8")
    study = {
        "name": "small",
        "output_dir": "results",
        "models": [{"name": str(model), "dtype": "float32", "device": "cpu"}],
        "datasets": [
            {
                "name": "mine",
                "files": {"train": "data/train.csv", "validation": "data/dev.csv", "test": "data/test.csv"},
                "train_size": 12,
            }
        ],
        "probes": [{"kind": "soft_prompt", "num_virtual_tokens": 2, "max_steps": 1}],
        "seeds": [0],
        "suite": {"source": "suite.tsv"},
        **overrides,
    }
    path = folder / "study.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")
    return path


def unknown_word_model(tiny: Path, folder: Path) -> Path:
    """The tiny LLaMA with a word-level tokenizer that maps words it does not know to [UNK]."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    target = folder / "wordlevel"
    shutil.copytree(tiny, target)
    for leftover in target.glob("*token*"):
        leftover.unlink()
    words = ["[UNK]", "[PAD]", "</s>", "Answer", ":", "negative", "neutral", "positive"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="[UNK]", pad_token="[PAD]", eos_token="</s>"
    ).save_pretrained(target)
    return target


def custom_code_model(tiny: Path, folder: Path) -> tuple[Path, Path]:
    """A model folder whose config.json asks for its own Python code, which would leave a marker if run."""
    import json

    target = folder / "custom"
    shutil.copytree(tiny, target)
    marker = folder / "CODE_WAS_RUN"
    code = f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
    for module in ("configuration_custom.py", "modeling_custom.py", "tokenization_custom.py"):
        (target / module).write_text(code, encoding="utf-8")
    config = json.loads((target / "config.json").read_text(encoding="utf-8"))
    config["model_type"] = "promptbias-custom"
    config["auto_map"] = {
        "AutoConfig": "configuration_custom.CustomConfig",
        "AutoModelForCausalLM": "modeling_custom.CustomForCausalLM",
    }
    (target / "config.json").write_text(json.dumps(config), encoding="utf-8")
    return target, marker


def test_the_good_study_passes_every_check(tiny_models, tmp_path):
    study = load_study(write_study(tmp_path, tiny_models["llama"]))
    suite = resolve_suite(study)
    check_study(study, suite, pending_units(study))
    assert not study.results_dir.exists()


# Each case: (change to the good study folder, the file or field the line names, the problem it states).
Case = tuple[Callable[[Path, dict[str, Path]], None], str, str]


def replace_file(name: str, content: bytes) -> Callable[[Path, dict[str, Path]], None]:
    return lambda folder, _models: (folder / name).write_bytes(content)


def edit_study(
    change: Callable[[dict, dict[str, Path], Path], None],
) -> Callable[[Path, dict[str, Path]], None]:
    def apply(folder: Path, models: dict[str, Path]) -> None:
        path = folder / "study.yaml"
        study = yaml.safe_load(path.read_text(encoding="utf-8"))
        change(study, models, folder)
        path.write_text(yaml.safe_dump(study, sort_keys=False), encoding="utf-8")

    return apply


def set_model(name: Callable[[dict[str, Path], Path], str]) -> Callable[[dict, dict[str, Path], Path], None]:
    return lambda study, models, folder: study["models"][0].update(name=name(models, folder))


GOOD_TRAIN = labelled_csv(24).encode()
RUN_CASES: dict[str, Case] = {
    "study file missing": (
        lambda folder, _m: (folder / "study.yaml").unlink(),
        "study.yaml",
        "file not found",
    ),
    "study file empty": (replace_file("study.yaml", b"\n"), "study.yaml", "file is empty"),
    "study file not UTF-8": (
        replace_file("study.yaml", b"name: caf\xe9\nmodels: []\n"),
        "study.yaml",
        "line 1: not UTF-8 (byte 0xe9)",
    ),
    "study file not YAML": (replace_file("study.yaml", b"name: [a\n"), "study.yaml", "not valid YAML"),
    "unknown key": (
        edit_study(lambda study, _m, _f: study.update(seed=[0])),
        "study.yaml",
        "seed: unknown key",
    ),
    "mistyped nested key": (
        edit_study(lambda study, _m, _f: study["probes"][0].update(epoch=2)),
        "study.yaml",
        "probes.0.epoch: unknown key",
    ),
    "value of the wrong type": (
        edit_study(lambda study, _m, _f: study.update(seeds="zero")),
        "study.yaml",
        "seeds: Input should be a valid list",
    ),
    "model path does not exist": (
        edit_study(set_model(lambda _m, folder: str(folder / "no-such-model"))),
        "no-such-model",
        "model path does not exist",
    ),
    "model folder without config.json": (
        edit_study(set_model(lambda _m, folder: str(folder / "data"))),
        "data",
        "folder has no config.json",
    ),
    "hub id not in the cache, offline": (
        edit_study(set_model(lambda _m, _f: "no-such-org/no-such-model")),
        "no-such-org/no-such-model",
        "not in the Hugging Face cache while the hub is unreachable",
    ),
    "training file missing": (
        lambda folder, _m: (folder / "data" / "train.csv").unlink(),
        "train.csv",
        "file not found",
    ),
    "training file empty": (replace_file("data/train.csv", b""), "train.csv", "file is empty"),
    "training file not UTF-8": (
        replace_file("data/train.csv", b"text,label\ncaf\xe9 au lait,2\n"),
        "train.csv",
        "line 2: not UTF-8 (byte 0xe9)",
    ),
    "wrong number of columns": (
        replace_file("data/train.csv", GOOD_TRAIN.replace(b"number 2 is here,2", b"number 2 is here,2,1")),
        "train.csv",
        "line 4: expected 2 columns, found 3",
    ),
    "missing label column": (
        replace_file("data/train.csv", GOOD_TRAIN.replace(b"text,label", b"text,sentiment")),
        "train.csv",
        "missing column label (found: text, sentiment)",
    ),
    "label outside 0..2": (
        replace_file("data/dev.csv", labelled_csv(9).encode().replace(b"is here,2", b"is here,3", 1)),
        "dev.csv",
        "line 4: label '3' is outside 0..2",
    ),
    "unknown label string": (
        replace_file("data/test.csv", labelled_csv(9).encode().replace(b"is here,1", b"is here,great", 1)),
        "test.csv",
        "line 3: unknown label 'great' (expected 0, 1, 2 or negative, neutral, positive)",
    ),
    "label not in the label mapping": (
        edit_study(lambda study, _m, _f: study["datasets"][0].update(label_map={"0": "negative"})),
        "train.csv",
        "line 3: label '1' is not in the label mapping (0)",
    ),
    "sample too small to stratify": (
        edit_study(lambda study, _m, _f: study["datasets"][0].update(train_size=2)),
        "mine",
        "train_size 2: cannot draw a stratified sample",
    ),
    "suite category with a single group": (
        replace_file("suite.tsv", SUITE.replace("young", "old").encode()),
        "suite.tsv",
        "category 'age' has a single group (old)",
    ),
    "groups file names a group not in the suite": (
        edit_study(
            lambda study, _m, folder: (
                (folder / "groups.yaml").write_text("age: [old, purple]\n", encoding="utf-8"),
                study.update(metrics={"groups": "groups.yaml"}),
            )
        ),
        "groups.yaml",
        "category 'age': group 'purple' is not in the predictions",
    ),
    "label word not in the vocabulary": (
        edit_study(
            lambda study, models, folder: (
                study["models"][0].update(name=str(unknown_word_model(models["llama"], folder))),
                study.update(label_words=[" negative", " meh", " positive"]),
            )
        ),
        "label_words",
        "' meh' is not in the tokenizer's vocabulary (tokenizer of ",
    ),
    "two label words alike": (
        edit_study(lambda study, _m, _f: study.update(label_words=[" good", " good", " bad"])),
        "label_words",
        "two label words tokenize the same",
    ),
    "model that needs its own code": (
        edit_study(set_model(lambda models, folder: str(custom_code_model(models["llama"], folder)[0]))),
        "custom",
        "needs the repository's own Python code (auto_map in config.json); pass --trust-remote-code",
    ),
    "output folder that is not a results folder": (
        lambda folder, _m: (
            (folder / "results").mkdir() or (folder / "results" / "notes.txt").write_text("mine")
        ),
        "results",
        "output_dir exists and is not a results folder",
    ),
}


@pytest.mark.parametrize("case", list(RUN_CASES))
def test_run_refuses_bad_input_before_writing_anything(case, tiny_models, tmp_path, monkeypatch, capsys):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as HF_HUB_OFFLINE=1 does
    change, named, problem = RUN_CASES[case]
    study_file = write_study(tmp_path, tiny_models["llama"])
    change(tmp_path, tiny_models)
    before = snapshot(tmp_path)
    code, stdout, stderr = cli(monkeypatch, capsys, "run", "--quiet", study_file)
    assert (code, stdout) == (2, ""), stderr
    assert stderr.startswith("promptbias: error: ") and stderr.count("\n") == 1, stderr
    assert named in stderr and problem in stderr, stderr
    assert snapshot(tmp_path) == before
    assert not (tmp_path / "CODE_WAS_RUN").exists()


def tune_args(tmp_path: Path, model: Path, *extra: object) -> list[object]:
    return [
        "tune",
        "--model",
        model,
        "--dtype",
        "float32",
        "--device",
        "cpu",
        "--out",
        tmp_path / "new" / "out",
        *extra,
    ]


TUNE_CASES = {
    "sample size of zero": (["--train-size", "0"], "--train-size: Input should be greater than 0"),
    "unknown dtype": (
        ["--dtype", "float64"],
        "--dtype: Input should be 'auto', 'float32', 'bfloat16' or 'float16'",
    ),
    "template without {text}": (["--template", "Sentiment:"], "--template: Value error, must contain {text}"),
    "unknown initialisation": (
        ["--init", "random"],
        "--init: Input should be 'examples', 'text' or 'labels'",
    ),
    "dataset folder missing": (["--dataset-path", "nowhere"], "nowhere: folder not found"),
    "dataset folder without the split": (["--dataset-path", "."], ".: no sst5 train split in this folder"),
}


@pytest.mark.parametrize("case", list(TUNE_CASES))
def test_tune_refuses_bad_options(case, tiny_models, tmp_path, monkeypatch, capsys):
    extra, message = TUNE_CASES[case]
    monkeypatch.chdir(tmp_path)
    code, stdout, stderr = cli(monkeypatch, capsys, *tune_args(tmp_path, tiny_models["gpt2"], *extra))
    assert (code, stdout) == (2, "")
    assert stderr.count("\n") == 1 and message in stderr, stderr
    assert not (tmp_path / "new").exists()


def test_tune_refuses_a_folder_of_something_else_and_other_settings(
    tiny_models, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "new" / "out"
    out.mkdir(parents=True)
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    code, _, stderr = cli(monkeypatch, capsys, *tune_args(tmp_path, tiny_models["gpt2"]))
    assert code == 2 and f"{out}: exists and is not a folder of promptbias tune" in stderr
    (out / "notes.txt").unlink()
    (out / "tune.json").write_text('{"seed": 7}\n', encoding="utf-8")
    code, _, stderr = cli(monkeypatch, capsys, *tune_args(tmp_path, tiny_models["gpt2"]))
    assert code == 2 and f"{out}: holds a prompt tuned with other settings" in stderr
    assert sorted(p.name for p in out.iterdir()) == ["tune.json"]


def test_predict_refuses_bad_input(tiny_models, tmp_path, monkeypatch, capsys):
    import torch
    from safetensors.torch import save_file

    model = tiny_models["gpt2"]
    out = tmp_path / "new" / "predictions.parquet"
    suite = tmp_path / "suite.tsv"
    suite.write_text(SUITE, encoding="utf-8")
    base = ["predict", "--model", model, "--suite", suite, "--dtype", "float32", "--device", "cpu"]

    wide = tmp_path / "wide"
    wide.mkdir()
    save_file({"prompt_embeddings": torch.zeros(4, 48)}, wide / "adapter_model.safetensors")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "adapter_model.safetensors").write_bytes(b"not a safetensors file")
    cases = [
        (["--template", "Review: {text}", "--out", tmp_path / "new" / "p.csv"], "p.csv: the predictions file must end in .parquet"),
        (["--out", out], "predict: give exactly one of --prompt (a saved soft prompt) and --template"),
        (["--template", "Review:", "--out", out], "template: must contain {text} exactly once"),
        (["--prompt", tmp_path / "nowhere", "--out", out], "nowhere: soft prompt folder not found"),
        (["--prompt", broken, "--out", out], "adapter_model.safetensors: cannot read the prompt"),
        (["--prompt", wide, "--out", out], "wide: the prompt's vectors have 48 dimensions and the model's embeddings 32"),
        (["--template", "{text}", "--suite", tmp_path / "no.tsv", "--out", out], "no.tsv: file not found"),
        (["--template", "{text}", "--templates-per-category", "0", "--out", out], "--templates-per-category: must be 1 or more"),
        (["--template", "{text}", "--model", tmp_path / "none", "--out", out], "none: model path does not exist"),
    ]  # fmt: skip
    for extra, message in cases:
        code, stdout, stderr = cli(monkeypatch, capsys, *base, *extra)
        assert (code, stdout) == (2, ""), (extra, stderr)
        # the width of a prompt is checked against the loaded model, after transformers' loading bar
        error = stderr.splitlines()[-1] if extra[1] == wide else stderr.removesuffix("\n")
        assert error.startswith("promptbias: error: ") and "\n" not in error and message in error, stderr
    assert not (tmp_path / "new").exists()


def test_a_config_value_never_reaches_a_shell(tiny_models, tmp_path, monkeypatch, capsys):
    """Shell syntax in names and paths is just text: nothing is executed, the path is reported as given."""
    marker = tmp_path / "PWNED"
    hostile = f"$(touch {marker}); `touch {marker}` | touch {marker}"
    study_file = write_study(tmp_path, tiny_models["llama"], name=hostile)
    study = yaml.safe_load(study_file.read_text(encoding="utf-8"))
    study["models"][0]["name"] = f"./{hostile}"
    study_file.write_text(yaml.safe_dump(study), encoding="utf-8")
    code, _, stderr = cli(monkeypatch, capsys, "run", study_file)
    assert code == 2 and "model path does not exist" in stderr
    assert not marker.exists()
    source = Path(__file__).parents[1] / "src" / "promptbias"
    shells = ("os.system", "os.popen", "shell=True", "pty.spawn", "commands.getoutput")
    uses = [f"{p.name}: {word}" for p in source.rglob("*.py") for word in shells if word in p.read_text()]
    assert uses == []


def test_the_same_checks_as_functions_raise_input_error(tiny_models, tmp_path):
    study = load_study(write_study(tmp_path, tiny_models["llama"], label_words=[" a", " a", " b"]))
    suite = resolve_suite(study)
    with pytest.raises(InputError, match="two label words tokenize the same"):
        check_study(study, suite, pending_units(study))


def test_training_lines_without_optional_trailing_columns_are_read_with_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "train.csv"
    path.write_text('text,label,source\nfine film,2,imdb\ndull film,0\n"slow, long",1\n', encoding="utf-8")
    with pytest.warns(InputWarning) as caught:
        frame = read_labelled_file(path)
    assert [str(w.message) for w in caught] == [
        f"{path}: 2 line(s) stop before the optional column(s) source (first: line 3); read as empty"
    ]
    assert frame.to_dict("list") == {"text": ["fine film", "dull film", "slow, long"], "label": [2, 0, 1]}

    path.write_text("text,label,source\nfine film,2,imdb\ndull film\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 3: expected 3 columns, found 1$"):
        read_labelled_file(path)  # the label is required
