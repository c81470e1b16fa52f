"""What a unit asks a cluster for: the memory budget per model size, the GPUs it gives, the overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptbias.probes.few_shot import FewShotConfig
from promptbias.probes.soft_prompt import SoftPromptConfig
from promptbias.probes.zero_shot import ZeroShotConfig
from promptbias.study.cluster import for_workers, worker_gpus, worker_model
from promptbias.study.config import ModelEntry, Study
from promptbias.study.resources import WorkerSettings, gpus_for, memory_budget, model_gpus, model_size_b

SOFT, ZERO, FEW = SoftPromptConfig(), ZeroShotConfig(), FewShotConfig()


@pytest.mark.parametrize(
    ("memory_gb", "gpus"), [(3, 0.25), (20, 0.25), (30, 0.5), (79, 1.0), (81, 2.0), (161, 3.0)]
)
def test_gpus_are_quarters_of_one_then_whole_ones(memory_gb, gpus):
    assert gpus_for(memory_gb, 80) == gpus


def test_memory_budget_parts():
    budget = memory_budget(13, SOFT)
    assert budget.weights_gb == pytest.approx(13e9 * 2 / 1024**3)  # bf16
    assert budget.prompt_state_gb < 0.01  # P x H floats x 4: nothing next to the model
    assert budget.weights_gb < budget.total_gb < 80
    assert memory_budget(13, SOFT, "float32").weights_gb == pytest.approx(2 * budget.weights_gb)
    # a few-shot prompt's keys and values, copied for each row of a batch, outweigh tuning's activations
    assert (
        memory_budget(13, FEW).activations_gb > budget.activations_gb > memory_budget(13, ZERO).activations_gb
    )
    assert memory_budget(13, FEW, batch_tokens=512).total_gb < memory_budget(13, FEW).total_gb
    sizes = [0.125, 1.3, 6.7, 13, 30, 70]
    totals = [memory_budget(size, SOFT).total_gb for size in sizes]
    assert totals == sorted(totals)


def test_model_gpus_follow_the_study_then_the_size():
    assert model_gpus(ModelEntry(name="facebook/opt-13b", gpus=4), [SOFT]) == 4
    assert model_gpus(ModelEntry(name="facebook/opt-13b", device="cpu"), [SOFT]) == 0
    assert model_gpus(ModelEntry(name="./my-model"), [SOFT]) == 1  # size unknown
    assert model_gpus(ModelEntry(name="facebook/galactica-125m"), [SOFT, ZERO, FEW]) == 0.25
    assert model_gpus(ModelEntry(name="facebook/opt-13b"), [SOFT]) == 0.75
    assert model_gpus(ModelEntry(name="facebook/opt-13b"), [SOFT, ZERO, FEW]) == 0.75
    assert model_gpus(ModelEntry(name="facebook/opt-13b"), [SOFT, FEW], gpu_memory_gb=40) == 2
    assert model_gpus(ModelEntry(name="meta-llama/Llama-2-70b-hf"), [SOFT]) == 3
    assert model_size_b("facebook/galactica-1.3b") == 1.3 and model_size_b("smollm2-135m") == 0.135


def test_a_worker_spreads_a_model_over_its_gpus_and_uses_none_on_a_cpu_cluster():
    model = ModelEntry(name="facebook/opt-66b")
    assert worker_model(model, 3).device_map == "auto"
    assert worker_model(model, 1).device_map is None
    assert worker_model(model.model_copy(update={"device_map": "balanced"}), 3).device_map == "balanced"
    study = Study(name="s", models=[model])
    assert worker_gpus(study, model, WorkerSettings(), cluster_gpus=0) == 0
    assert (
        worker_gpus(study, model, WorkerSettings(), cluster_gpus=8) == 3
    )  # the default probe: the soft prompt
    asked = model.model_copy(update={"gpus": 2.0})
    assert worker_gpus(study, asked, WorkerSettings(), cluster_gpus=0) == 2


def test_workers_get_absolute_folders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PROMPTBIAS_DATA", "data")
    study = for_workers(Study(name="s", models=[ModelEntry(name="m")]))
    assert study.results_dir == tmp_path / "results" / "s"
    assert study.data_dir == tmp_path / "data"
    assert Path(study.data_dir).is_absolute()
