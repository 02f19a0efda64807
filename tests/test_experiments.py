"""The command line end to end, in a subprocess, read back with TensorBoard's reader."""

import json

import pytest
import yaml
from conftest import metrics, run_cli, scalars
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

# Each runs experiments/run.py in a subprocess: seconds to minutes apiece.
pytestmark = pytest.mark.slow


def test_print_config_shows_the_books_settings():
    done = run_cli("softmax_regression", "--print_config")
    assert done.returncode == 0
    config = yaml.safe_load(done.stdout)
    assert config["model"]["init_args"]["lr"] == 0.1
    assert config["data"]["init_args"]["batch_size"] == 256
    assert config["trainer"]["max_epochs"] == 10


@pytest.fixture(scope="module")
def softmax_fast(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("softmax") / "runs"
    done = run_cli("softmax_regression", "--fast", "--study.seeds", "1", logdir=logdir)
    assert done.returncode == 0, done.stderr
    return logdir / "softmax_regression", done


@pytest.mark.parametrize("member", ["scratch", "concise"])
def test_a_run_leaves_its_folder_as_the_contract_says(softmax_fast, member):
    folder = softmax_fast[0] / member
    assert list(folder.glob("events.out.tfevents.*"))
    assert (folder / "checkpoints" / "last.ckpt").exists()
    settings = yaml.safe_load((folder / "config.yaml").read_text())
    assert settings["model"]["init_args"]["style"] == member
    result = metrics(folder)
    assert {k: result[k] for k in ("experiment", "member", "status", "epochs")} == {
        "experiment": "softmax_regression", "member": member, "status": "completed", "epochs": 2,
    }
    assert result["seconds"] > 0


@pytest.mark.parametrize("member", ["scratch", "concise"])
def test_epoch_curves_are_stepped_by_epoch_fall_and_match_metrics_json(softmax_fast, member):
    folder = softmax_fast[0] / member
    curves = scalars(folder)
    for stage in ("train", "val"):
        for name in ("loss", "acc"):
            assert [step for step, _ in curves[f"{stage}/{name}"]] == [1, 2]
    assert curves["test/loss"][-1][0] == 2 and curves["test/acc"][-1][0] == 2
    train_loss = [value for _, value in curves["train/loss"]]
    assert train_loss[1] < train_loss[0]
    final = metrics(folder)["metrics"]
    for tag, points in curves.items():  # the study's own numbers are `<experiment>/<name>`
        name = tag.removeprefix("softmax_regression/")
        assert final[name] == pytest.approx(points[-1][1], rel=1e-6), tag
    assert "hp_metric" not in curves


def test_tensorboard_overlays_train_and_val_and_compares_members(softmax_fast):
    # The Custom Scalars layout is the study's own run (its folder); each member writes
    # its HPARAMS session, and TensorBoard builds the experiment from all of them.
    study = EventAccumulator(str(softmax_fast[0]))
    study.Reload()
    layout = study.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0]
    assert b"^softmax_regression/(train|val)/loss$" in layout
    assert b"^softmax_regression/(train|val)/acc$" in layout
    member = EventAccumulator(str(softmax_fast[0] / "concise"))
    member.Reload()
    hparams = member.PluginTagToContent("hparams")
    assert "_hparams_/session_start_info" in hparams and "_hparams_/experiment" not in hparams
    assert "model.style" in hparams["_hparams_/session_start_info"].decode(errors="ignore")


def test_the_study_writes_a_summary_and_prints_the_table(softmax_fast):
    study, done = softmax_fast
    rows = json.loads((study / "summary.json").read_text())
    assert [row["member"] for row in rows] == ["scratch", "concise", "tuned"]
    assert all("test/acc" in row for row in rows)
    assert [row["model.style"] for row in rows] == ["scratch", "concise", "concise"]
    summary = (study / "summary.md").read_text()
    assert "| member |" in summary and "tensorboard --logdir" in summary
    assert "test/acc" in done.stdout and "tensorboard --logdir" in done.stdout


def test_linear_regression_recovers_w_and_b_at_the_books_settings(logdir):
    done = run_cli("linear_regression", logdir=logdir)
    assert done.returncode == 0, done.stderr
    for member in ("scratch", "concise"):
        result = metrics(logdir / "linear_regression" / member)["metrics"]
        assert result["w_err"] < 0.01 and result["b_err"] < 0.01, result


def test_bad_input_is_one_short_message_exit_2_and_nothing_written(logdir):
    # As a user's shell sees it; test_bad_input.py tries the many cases in process.
    done = run_cli("softmax_regression", "--model.lr", "abc", logdir=logdir)
    assert done.returncode == 2
    assert "--model.lr" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not logdir.exists()


def test_the_console_shows_results_not_lightnings_warnings(tmp_path):
    # A closed-form member has no optimizer by design; Lightning would warn that it has none.
    done = run_cli("polynomial", "--fast", "--study.member", "overfit", logdir=tmp_path)
    assert done.returncode == 0
    assert done.stderr == ""
