"""One writer per results folder: the same study started twice at once, a run killed with SIGKILL, a second
run that waits, and the claim of a frozen holder (a lost node) taken over after its lease."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from promptbias.study.claim import HOLDER_FILE, LOCK_FILE, ClaimSettings, FolderInUse, claim_folder
from promptbias.study.config import load_study
from promptbias.study.plan import plan_units
from promptbias.study.runner import run_study
from study_helpers import OVERRIDES, run_until, unit_outputs, write_study

# `promptbias run ARGS` as the console script runs it, but for the bf16 matmul rate of its last line, which
# takes minutes on a CPU without bf16 instructions and says nothing about the claim
RUN = (
    "import sys\n"
    "import promptbias.lm.machine as machine\n"
    "machine.matmul_flops_per_second = lambda *args, **kwargs: 1e12\n"
    "from promptbias.cli import main\n"
    "sys.argv = ['promptbias', 'run', *sys.argv[1:]]\n"
    "main()\n"
)
HOLD = (
    "import sys, time\nfrom pathlib import Path\n"
    "from promptbias.study.claim import ClaimSettings, claim_folder\n"
    "with claim_folder(Path(sys.argv[1]), 'holder', ClaimSettings(lease_seconds=float(sys.argv[3]))):\n"
    "    print('held', flush=True)\n"
    "    time.sleep(float(sys.argv[2]))\n"
)
RESULT_FILES = ("metrics/gaps.csv", "metrics/group_metrics.csv", "test_accuracy.csv")


def outputs(results: Path) -> dict[str, bytes]:
    found = unit_outputs(results)
    return found | {name: (results / name).read_bytes() for name in RESULT_FILES}


@pytest.fixture(scope="module")
def clean(tiny_models, tmp_path_factory) -> dict[str, bytes]:
    """The outputs of an undisturbed run of the small study."""
    folder = tmp_path_factory.mktemp("clean")
    study = load_study(write_study(folder, {"llama": tiny_models["llama"]}, **OVERRIDES))
    run_study(study, progress=False)
    return outputs(study.results_dir)


@pytest.mark.slow  # 50 s: two processes run a study (make test-slow)
def test_the_same_study_started_twice_at_once_runs_once(tiny_models, tmp_path, clean):
    study_file = write_study(tmp_path, {"llama": tiny_models["llama"]}, **OVERRIDES)
    results = tmp_path / "results"
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, str(study_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    ended = [run.communicate(timeout=300) for run in runs]
    codes = [run.returncode for run in runs]
    assert sorted(codes) == [0, 2], ended
    winner, loser = (0, 1) if codes[0] == 0 else (1, 0)
    assert not any("Traceback" in stderr for _, stderr in ended)
    lines = ended[loser][1].splitlines()
    assert ended[loser][0] == "" and len(lines) == 1, lines
    held = re.fullmatch(
        rf"promptbias: error: {re.escape(str(results))}: results folder in use by pid (\d+) on host "
        rf"{re.escape(socket.gethostname())} since \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d UTC \(promptbias run "
        rf"{re.escape(str(study_file))}\); wait for it with --wait, or choose another folder",
        lines[0],
    )
    assert held is not None, lines[0]
    assert int(held.group(1)) == runs[winner].pid
    started = re.findall(r"\[\d+/\d+\] (\S+)\n", ended[winner][1])  # the line each unit starts with
    assert sorted(started) == sorted(unit.unit_id for unit in plan_units(load_study(study_file)))
    assert "[1/" not in ended[loser][1]
    assert outputs(results) == clean
    assert not (results / LOCK_FILE).exists() and not (results / HOLDER_FILE).exists()


@pytest.mark.slow  # 30 s: a study killed, then run again in a second process (make test-slow)
def test_a_run_killed_with_sigkill_leaves_a_claim_that_the_next_run_takes_over(tiny_models, tmp_path, clean):
    study_file = write_study(tmp_path, {"llama": tiny_models["llama"]}, **OVERRIDES)
    results = tmp_path / "results"
    run_until(
        [sys.executable, "-c", RUN, "--quiet", str(study_file)],
        dict(os.environ),
        lambda: (results / HOLDER_FILE).exists() and any(results.glob("units/*/unit.json")),
    )
    assert (results / LOCK_FILE).exists() and (results / HOLDER_FILE).exists()  # left by the killed run
    started = time.perf_counter()
    run_study(load_study(study_file), progress=False)
    assert time.perf_counter() - started < 120  # taken over at once, not after a lease
    assert outputs(results) == clean
    assert not (results / LOCK_FILE).exists()


def hold(folder: Path, seconds: float, lease: float = 60.0) -> subprocess.Popen:
    """A process that claims ``folder`` for ``seconds``, started once it holds it."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder), str(seconds), str(lease)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def test_a_second_run_stops_naming_the_holder_or_waits_for_it(tmp_path):
    folder = tmp_path / "results"
    holder = hold(folder, 4)
    with pytest.raises(FolderInUse) as stopped, claim_folder(folder, "second"):
        pass
    assert f"in use by pid {holder.pid} on host {socket.gethostname()} since " in str(stopped.value)
    assert "(holder)" in str(stopped.value)
    started = time.perf_counter()
    with claim_folder(folder, "second", ClaimSettings(wait=True)):
        assert time.perf_counter() - started > 2  # the holder's four seconds
        assert "second" in (folder / HOLDER_FILE).read_text()
    assert holder.wait(timeout=30) == 0
    assert sorted(folder.iterdir()) == []  # the claim goes with its holder


def test_a_claim_left_untouched_for_its_lease_is_taken_over(tmp_path):
    """A holder that stops touching its claim (a frozen process here, a lost node on a cluster) loses it
    after one lease, though its process is still there."""
    folder = tmp_path / "results"
    holder = hold(folder, 60, lease=1.0)
    try:
        with pytest.raises(FolderInUse), claim_folder(folder, "second", ClaimSettings(lease_seconds=1.0)):
            pass  # the holder's heartbeat touches its claim
        os.kill(holder.pid, signal.SIGSTOP)
        time.sleep(1.5)
        started = time.perf_counter()
        with claim_folder(folder, "second", ClaimSettings(lease_seconds=1.0)):
            assert "second" in (folder / HOLDER_FILE).read_text()
        assert time.perf_counter() - started < 5
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
