"""Faults provoked for real, in real subprocesses: a diverging member, Ctrl-C, SIGKILL, a
folder that cannot be written, corrupt data; and same seed, same numbers."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import ROOT, RUN, metrics, numbers, run_cli, run_study, scalars

# Each runs experiments/run.py in a subprocess: seconds to minutes apiece.
pytestmark = pytest.mark.slow

# A study long enough (two members of 30 epochs, ~2 s each) to interrupt the second one
# midway, and touchy enough to show any slip on resuming: dropout draws random numbers,
# and the examples' order changes every epoch. Their widths differ, so they train one by
# one (members differing in activation alone would train as one group).
XOR_STUDY = """
model:
  init_args: {num_inputs: 2, num_outputs: 2, dropout: 0.5}
data:
  class_path: datamodules.XORPoints
  init_args: {num_train: 400, batch_size: 10}
trainer: {max_epochs: 30, enable_progress_bar: false}
study:
  class_path: experiments.engine.study.Study
  init_args:
    seeds: 1
    members:
      relu: {model.activation: relu, model.num_hiddens: [16]}
      tanh: {model.activation: tanh, model.num_hiddens: [24]}
"""


def strict_json(path: Path) -> dict:
    """Parse as JSON proper: Python's json writes and reads NaN and Infinity, JSON has none."""
    def refuse(constant):
        raise ValueError(f"{path} holds {constant}, which is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture(scope="module")
def long_study(tmp_path_factory) -> list[str]:
    """The command line of XOR_STUDY."""
    config = tmp_path_factory.mktemp("config") / "xor_study.yaml"
    config.write_text(XOR_STUDY)
    return ["mlp", "--config", str(config)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, long_study) -> Path:
    logdir = tmp_path_factory.mktemp("uninterrupted") / "runs"
    done = run_cli(*long_study, logdir=logdir)
    assert done.returncode == 0, done.stderr
    return logdir / "mlp"


def saved_epoch(checkpoint: Path) -> int:
    """The 0-based epoch a checkpoint was saved at the end of, -1 before the first."""
    if not checkpoint.exists():
        return -1
    # Read while the run writes it: only ever a whole file, as it is renamed into place.
    return torch.load(checkpoint, weights_only=True)["epoch"]


def interrupt(args: list[str], signum: int, logdir: Path, checkpoint: str = "tanh/checkpoints"
              ) -> subprocess.CompletedProcess:
    """Run the study and send `signum` once `checkpoint` (by default the second member's)
    has saved its 3rd epoch."""
    command = [sys.executable, str(RUN), *args, "--logdir", str(logdir)]
    # Ctrl-C's signal as a terminal delivers it: a shell's background job (`make test &`)
    # starts with SIGINT ignored, and Python then installs no KeyboardInterrupt for it.
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    checkpoint = logdir / "mlp" / checkpoint / "last.ckpt"
    while saved_epoch(checkpoint) < 2:
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.01)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(command, process.returncode, out, err)


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGKILL, -9)],
                         ids=["SIGINT", "SIGKILL"])
def test_an_interrupted_study_resumes_to_the_numbers_of_an_uninterrupted_one(
        long_study, uninterrupted, tmp_path, signum, code):
    logdir = tmp_path / "runs"
    stopped = interrupt(long_study, signum, logdir)
    assert stopped.returncode == code, stopped.stderr
    if signum == signal.SIGINT:  # Ctrl-C: a clean stop and a hint, no traceback
        assert "interrupted: run the same command again to resume" in stopped.stderr
        assert "Traceback" not in stopped.stderr
    study = logdir / "mlp"
    first = metrics(study / "relu")  # finished before the interrupt, with the same seed
    assert numbers(first) == numbers(metrics(uninterrupted / "relu"))
    assert not (study / "tanh" / "metrics.json").exists()
    saved = saved_epoch(study / "tanh" / "checkpoints" / "last.ckpt")
    assert saved >= 2
    earlier_events = set((study / "tanh").glob("events.out.tfevents.*"))

    rerun = run_cli(*long_study, logdir=logdir)
    assert rerun.returncode == 0, rerun.stderr
    assert metrics(study / "relu") == first  # skipped, not trained again
    assert numbers(metrics(study / "tanh")) == numbers(metrics(uninterrupted / "tanh"))
    # It went on from last.ckpt: at most the epoch in progress was done again.
    new_events = set((study / "tanh").glob("events.out.tfevents.*")) - earlier_events
    resumed_at = min(step for events in new_events
                     for step, _ in scalars(events).get("train/loss", []))
    assert resumed_at == saved + 2  # 1-based epoch after the saved 0-based one
    assert not list(study.rglob("*.tmp"))  # no half-written file was left or kept


def test_a_group_killed_mid_way_resumes_to_the_numbers_of_an_uninterrupted_one(
        long_study, tmp_path):
    # tanh's three seeds train as one stacked group (engine/groups.py), which checkpoints
    # itself under .groups/ every epoch; SIGKILL lands mid-group.
    group = [*long_study, "--study.member", "tanh", "--study.seeds", "3"]
    whole = run_study(tmp_path / "whole", *group)
    stopped = interrupt(group, signal.SIGKILL, tmp_path / "runs", ".groups/tanh,seed=0+3")
    assert stopped.returncode == -9, stopped.stderr
    study = tmp_path / "runs" / "mlp"
    assert not list(study.glob("tanh,seed=*/metrics.json"))  # killed before any finished
    rerun = run_cli(*group, logdir=tmp_path / "runs")
    assert rerun.returncode == 0, rerun.stderr
    assert "(3 together)" in rerun.stdout  # resumed as the group it was
    for seed in range(3):
        name = f"tanh,seed={seed}"
        resumed, expected = metrics(study / name), metrics(whole / name)
        assert resumed["status"] == "completed" and resumed["epochs"] == expected["epochs"]
        assert {k: v for k, v in resumed["metrics"].items() if isinstance(v, float)} == (
            pytest.approx({k: v for k, v in expected["metrics"].items() if isinstance(v, float)},
                          rel=1e-6))
    assert not (study / ".groups").exists()


def test_a_run_killed_after_its_last_epoch_reports_the_same_numbers_on_rerun(
        long_study, uninterrupted, tmp_path):
    # A kill while testing or writing metrics.json leaves a full last.ckpt and no
    # metrics.json; the rerun has nothing left to fit and must still report every metric.
    study = tmp_path / "runs" / "mlp"
    shutil.copytree(uninterrupted, study)
    (study / "tanh" / "metrics.json").unlink()
    rerun = run_cli(*long_study, logdir=study.parent)
    assert rerun.returncode == 0, rerun.stderr
    assert numbers(metrics(study / "tanh")) == numbers(metrics(uninterrupted / "tanh"))


def test_checkpoints_hold_only_plain_values(uninterrupted):
    for member in ("relu", "tanh"):
        saved = torch.load(uninterrupted / member / "checkpoints" / "last.ckpt",
                           weights_only=True)  # refuses anything but tensors and plain values
        assert saved["hyper_parameters"]["num_hiddens"] == {"relu": [16], "tanh": [24]}[member]
        assert saved["hyper_parameters"]["activation"] == member


def test_same_seed_gives_the_same_numbers_and_another_seed_other_ones(tmp_path):
    config = tmp_path / "seeds.yaml"
    config.write_text("study:\n  members:\n    seed=0: {seed: 0}\n    seed=1: {seed: 1}\n")
    runs = [tmp_path / "first", tmp_path / "second"]
    for logdir in runs:  # two processes, one command
        done = run_cli("linear_regression", "--fast", "--config", str(config), logdir=logdir)
        assert done.returncode == 0, done.stderr
    first, second = ({member: metrics(logdir / "linear_regression" / member)["metrics"]
                      for member in ("seed=0", "seed=1")} for logdir in runs)
    assert first == second
    assert first["seed=0"]["weights"] != first["seed=1"]["weights"]
    assert first["seed=0"]["val/loss"] != first["seed=1"]["val/loss"]


def test_a_diverging_member_is_reported_and_the_study_goes_on(tmp_path, logdir):
    config = tmp_path / "lrs.yaml"
    config.write_text("study:\n  members:\n"
                      "    small: {model.lr: 0.03}\n"
                      "    huge: {model.lr: 1.0e+30}\n"  # its weights overflow to inf
                      "    large: {model.lr: 0.1}\n")
    done = run_cli("linear_regression", "--config", str(config),
                   "--trainer.enable_progress_bar", "false", logdir=logdir)
    assert done.returncode == 0, done.stderr  # a diverged run is a result, not a crash
    study = logdir / "linear_regression"
    huge = strict_json(study / "huge" / "metrics.json")
    assert huge["status"] == "diverged"
    assert huge["message"].startswith("loss became inf in epoch 1: lr 1e+30 is likely too large")
    assert huge["metrics"]["w_norm"] is None  # infinite: JSON has no such number
    for member in ("small", "large"):
        assert strict_json(study / member / "metrics.json")["status"] == "completed"
        assert metrics(study / member)["metrics"]["w_err"] < 0.01
    rows = strict_json(study / "summary.json")
    assert [(r["member"], r["status"]) for r in rows] == [
        ("small", "completed"), ("huge", "diverged"), ("large", "completed")]
    assert "**huge** diverged: loss became inf in epoch 1" in (study / "summary.md").read_text()


def test_a_folder_that_cannot_be_written_mid_study_fails_that_member_and_keeps_the_others(
        logdir):
    # Where the second member's checkpoints go there is a file: its first checkpoint
    # write fails mid-run, after the first member finished.
    blocked = logdir / "linear_regression" / "concise" / "checkpoints"
    blocked.parent.mkdir(parents=True)
    blocked.write_text("in the way")
    done = run_cli("linear_regression", "--fast", logdir=logdir)
    assert done.returncode == 1
    assert f"failed: linear_regression/concise: File exists: {blocked}" in done.stderr
    assert "Traceback" not in done.stderr
    study = logdir / "linear_regression"
    assert metrics(study / "scratch")["status"] == "completed"
    assert (study / "scratch" / "checkpoints" / "last.ckpt").exists()
    assert metrics(study / "concise")["status"] == "failed"
    rows = json.loads((study / "summary.json").read_text())
    assert [r["status"] for r in rows] == ["completed", "failed"]


def test_corrupt_fashion_mnist_fails_the_run_naming_the_file_and_what_was_expected(
        tmp_path, logdir):
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(bytes(1000))  # cut short
    done = run_cli("softmax_regression", "--fast", "--data.data_dir", str(tmp_path / "data"),
                   logdir=logdir)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    # Seeds of a member would train as one group; data that cannot load leaves them to
    # train one by one, each run failing with the reason.
    for member in ("scratch,seed=0", "scratch,seed=1", "concise,seed=0"):
        line = next(line for line in done.stderr.splitlines()
                    if line.startswith(f"failed: softmax_regression/{member}:"))
        assert f"{raw / 'train-images-idx3-ubyte'} is corrupt" in line
        assert "expected train-images-idx3-ubyte with 47040016 bytes" in line
        assert "found 1000 bytes" in line
        assert metrics(logdir / "softmax_regression" / member)["status"] == "failed"
    assert os.listdir(raw) == ["train-images-idx3-ubyte"]  # nothing added beside it
