"""The data shipped inside the package: what it holds, that it is what the loaders read when no data folder is
given, and (with the shared folder) that it reads exactly as the originals and is remade byte for byte by
scripts/package_data.py."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from promptbias.data.files import read_text
from promptbias.data.location import packaged_file
from promptbias.data.sst5 import SPLIT_FILES, read_packaged_fine, read_tree_file
from promptbias.data.training import load_split
from promptbias.suites.loading import CZARNOWSKA_FILE, czarnowska_path, load_suite

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "package_data.py"
SHIPPED = [
    *(f"sst5/{split}.tsv.gz" for split in SPLIT_FILES),
    f"{CZARNOWSKA_FILE}.gz",
    "czarnowska/NOTICE",
    "czarnowska/LICENSE",
    "README.md",
    "CITATION.bib",
]


@pytest.fixture
def no_data_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMPTBIAS_DATA", raising=False)


def test_the_package_holds_the_data_with_licence_and_citation() -> None:
    for relative in SHIPPED:
        assert packaged_file(relative).is_file(), relative
    assert "Apache License" in packaged_file("czarnowska/LICENSE").read_text(encoding="utf-8")
    assert "Apache License 2.0" in packaged_file("czarnowska/NOTICE").read_text(encoding="utf-8")
    citations = packaged_file("CITATION.bib").read_text(encoding="utf-8")
    assert {"socher2013recursive", "pang2005seeing", "czarnowska2021quantifying"} <= {
        line.split("{", 1)[1].rstrip(",") for line in citations.splitlines() if line.startswith("@")
    }


def test_sst5_splits_have_the_canonical_sizes_and_fine_labels(no_data_folder: None) -> None:
    sizes = {split: len(read_packaged_fine(split)) for split in SPLIT_FILES}
    assert sizes == {"train": 8544, "validation": 1101, "test": 2210}
    test = read_packaged_fine("test")
    assert sorted(test["label"].unique()) == [0, 1, 2, 3, 4]
    coarse = load_split("sst5", "test")  # what the loader reads without a data folder: the shipped copy
    assert list(coarse["text"]) == list(test["text"])
    expected = [0 if fine < 2 else 1 if fine == 2 else 2 for fine in test["label"]]
    assert list(coarse["label"]) == expected
    assert coarse["text"].iloc[0].startswith("Effective but too-tepid biopic")


def test_the_czarnowska_suite_without_a_data_folder_is_the_shipped_copy(no_data_folder: None) -> None:
    assert czarnowska_path() == packaged_file(f"{CZARNOWSKA_FILE}.gz")
    suite = load_suite("czarnowska")
    assert len(suite) == 31972
    assert suite.groupby("category")["template_id"].nunique().tolist() == [60] * 8


def test_a_data_folder_comes_before_the_shipped_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sst5").mkdir()
    (tmp_path / "sst5" / "test.txt").write_text("(4 (3 Fine) (2 film))\n(0 (0 Dull))\n", encoding="utf-8")
    monkeypatch.setenv("PROMPTBIAS_DATA", str(tmp_path))
    assert load_split("sst5", "test").to_dict("list") == {"text": ["Fine film", "Dull"], "label": [2, 0]}
    assert len(load_split("sst5", "validation")) == 1101  # not in the folder: the shipped copy


def load_script():
    spec = importlib.util.spec_from_file_location("package_data_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_data_reads_as_the_shared_originals_and_is_remade_byte_for_byte(
    shared_data: Path, tmp_path: Path
) -> None:
    for split, name in SPLIT_FILES.items():
        original = read_tree_file(shared_data / "sst5" / name)
        assert load_split("sst5", split, path=shared_data / "sst5").equals(original)
        assert load_split("sst5", split, data_root=tmp_path).equals(original), split  # the shipped copy
    original_suite = (shared_data / CZARNOWSKA_FILE).read_text(encoding="utf-8")
    assert read_text(packaged_file(f"{CZARNOWSKA_FILE}.gz")) == original_suite

    script = load_script()
    script.main(shared_data, tmp_path / "remade")
    for relative in SHIPPED[:5]:
        assert (tmp_path / "remade" / relative).read_bytes() == packaged_file(relative).read_bytes(), relative
    assert os.environ.get("PROMPTBIAS_DATA")  # the fixture found the shared folder
