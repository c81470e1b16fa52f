"""`promptbias bench` end to end on a tiny model: the three methods run on the same sentences and agree."""

from __future__ import annotations

from promptbias.bench import bench_text, parse_label, run_bench


def test_parse_label_takes_the_first_label_word():
    assert parse_label(" positive") == 2
    assert parse_label(" Negative, not positive") == 0
    assert parse_label(" meh") is None


def test_bench_on_a_tiny_model(tiny_models):
    result = run_bench(str(tiny_models["llama"]), 40, device="cpu", dtype="float32", train_steps=1)
    assert result.sentences == 40
    assert result.agreement == 1.0  # fp32 on both paths: the same labels
    assert 0 <= result.reference_parse_failures <= 40
    for rate in (result.reference_sps, result.naive_sps, result.promptbias_sps):
        assert rate > 0
    assert result.naive_train_tps > 0 and result.promptbias_train_tps > 0
    keys = {
        "reference_sps",
        "naive_sps",
        "promptbias_sps",
        "agreement",
        "naive_train_tps",
        "promptbias_train_tps",
    }
    assert keys <= set(result.as_dict())
    assert "promptbias / naive" in bench_text(result)
