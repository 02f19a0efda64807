"""DDP with 2 CPU processes (gloo), through the command line.

Plain `ddp` re-launches sys.argv, so these run `experiments/run.py` in a subprocess, as a
user would, never a Trainer inside pytest. Each run is a few seconds of training.
"""

import json
import re
from pathlib import Path

import pytest
from conftest import metrics, run_cli, scalars

# Each runs experiments/run.py in a subprocess: seconds to minutes apiece.
pytestmark = pytest.mark.slow

DDP = ["--trainer.accelerator", "cpu", "--trainer.devices", "2", "--trainer.strategy", "ddp"]
QUIET = ["--trainer.enable_progress_bar", "false"]
# "frozen" learns nothing (lr 1e-30 rounds every update away), so the 1- and 2-process runs
# score the very same model: a sample missed or counted twice shows in its means. val_size
# 9985 gives rank 0 one sample (so one batch) more than rank 1 under DDP.
FASHION = [
    "softmax_regression", "--data.train_size", "6000", "--data.val_size", "9985",
    "--trainer.max_epochs", "2", *QUIET,
    "--study.members", json.dumps({"frozen": {"model.lr": 1e-30}, "trained": {}}),
    "--study.seeds", "1", "--study.compared", "[]",
]


@pytest.fixture(scope="module")
def fashion(tmp_path_factory):
    """The study on 1 process with batch 256 and on 2 with 128 each: every step of the
    2-process run sees the same 256 samples as the 1-process one (EpochBatches deals one
    permutation out to the ranks), so the two should train alike. Its two members differ
    in lr alone, so each run trains them as one stacked group."""
    logdir = tmp_path_factory.mktemp("ddp")
    one = run_cli(*FASHION, logdir=logdir / "one")
    assert one.returncode == 0, one.stderr
    two = run_cli(*FASHION, "--data.batch_size", "128", *DDP, logdir=logdir / "two")
    assert two.returncode == 0, two.stderr
    return logdir / "one" / "softmax_regression", logdir / "two" / "softmax_regression", two


def events_by_folder(study: Path) -> dict[str, list[Path]]:
    return {
        folder.name: sorted(folder.glob("events.out.tfevents.*"))
        for folder in [study, *(p for p in study.iterdir() if p.is_dir())]
    }


def writer_pids(study: Path) -> set[str]:
    """The process ids in the event files' names (events.out.tfevents.TIME.HOST.PID.N)."""
    return {path.name.split(".")[-2] for path in study.rglob("events.out.tfevents.*")}


@pytest.mark.parametrize("stage", ["train", "val", "test"])
def test_ddp_counts_every_sample_exactly_once(fashion, stage):
    one, two, _ = fashion
    expected, got = metrics(one / "frozen")["metrics"], metrics(two / "frozen")["metrics"]
    for name in ("loss", "acc"):
        assert got[f"{stage}/{name}"] == pytest.approx(expected[f"{stage}/{name}"], rel=1e-5)


def test_ddp_trains_like_one_process_with_the_same_samples_per_step(fashion):
    one, two, _ = fashion
    expected, got = metrics(one / "trained"), metrics(two / "trained")
    assert got["status"] == "completed" and got["epochs"] == expected["epochs"] == 2
    assert expected["metrics"]["val/acc"] > 0.6  # it did learn
    assert abs(got["metrics"]["val/acc"] - expected["metrics"]["val/acc"]) < 0.01
    assert got["metrics"]["val/loss"] == pytest.approx(expected["metrics"]["val/loss"], rel=1e-3)


def test_ddp_writes_one_set_of_logs_from_rank_zero(fashion):
    one, two, done = fashion
    assert len(writer_pids(two)) == 1  # rank 1 opened no event file, not even the study's
    assert {k: len(v) for k, v in events_by_folder(two).items()} == {
        k: len(v) for k, v in events_by_folder(one).items()
    }
    assert [p.name for p in two.rglob(".*")] == []  # no temporary or moved-aside leftovers
    for member in ("frozen", "trained"):
        assert [step for step, _ in scalars(two / member)["val/acc"]] == [1, 2]
    summary = json.loads((two / "summary.json").read_text())
    assert [row["member"] for row in summary] == ["frozen", "trained"]
    # One progress line per member, one summary, one closing line: rank 1 says nothing.
    assert done.stdout.count("[1/2] softmax_regression/frozen … trained (2 together)") == 1
    assert done.stdout.count("summary.md") == 1
    assert done.stdout.count("TensorBoard:") == 1


def test_a_synthetic_study_under_ddp_trains_every_member_on_both_ranks(logdir):
    # Odd sizes: training pads to equal shares per rank, validation shards differ by one.
    done = run_cli("linear_regression", "--data.num_train", "1001", "--data.num_val", "1001",
                   "--data.batch_size", "5", *DDP, *QUIET, logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "linear_regression"
    assert len(writer_pids(study)) == 1
    for member in ("scratch", "concise"):
        result = metrics(study / member)
        assert result["status"] == "completed" and result["epochs"] == 3
        assert result["metrics"]["w_err"] < 0.01 and result["metrics"]["b_err"] < 0.01
        assert [step for step, _ in scalars(study / member)["val/loss"]] == [1, 2, 3]
    progress = re.findall(r"\[\d/2\] linear_regression/\w+", done.stdout)
    assert progress == ["[1/2] linear_regression/scratch", "[2/2] linear_regression/concise"]
