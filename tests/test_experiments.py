"""The command line end to end, in a subprocess, read back with TensorBoard's reader."""

import json

import pytest
import yaml
from conftest import metrics, run_cli, scalars
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from experiments.engine import registry

# Each runs experiments/run.py in a subprocess: seconds to minutes apiece.
pytestmark = pytest.mark.slow


def test_list_names_every_experiment_in_course_order():
    done = run_cli("--list")
    assert done.returncode == 0
    listed = [line.split()[0] for line in done.stdout.splitlines()]
    assert listed == registry.names()
    assert listed.index("linear_regression") < listed.index("softmax_regression")


def test_help_shows_an_experiments_settings_with_defaults():
    done = run_cli("softmax_regression", "--help")
    assert done.returncode == 0
    assert "--model.lr" in done.stdout or "--model.init_args.lr" in done.stdout
    assert "--trainer.max_epochs" in done.stdout


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
    done = run_cli("softmax_regression", "--fast", logdir=logdir)
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
    for tag, points in curves.items():
        assert final[tag] == pytest.approx(points[-1][1], rel=1e-6), tag
    assert "hp_metric" not in curves


def test_tensorboard_overlays_train_and_val_and_compares_members(softmax_fast):
    # The Custom Scalars layout is the study's own run (its folder); each member writes
    # its HPARAMS session, and TensorBoard builds the experiment from all of them.
    study = EventAccumulator(str(softmax_fast[0]))
    study.Reload()
    layout = study.Tensors("custom_scalars__config__")[0].tensor_proto.string_val[0]
    assert b"^train/loss$" in layout and b"^val/loss$" in layout and b"^val/acc$" in layout
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


def test_rerunning_reuses_finished_members_and_refuses_other_settings(logdir):
    assert run_cli("linear_regression", "--fast", logdir=logdir).returncode == 0
    first = metrics(logdir / "linear_regression" / "concise")
    again = run_cli("linear_regression", "--fast", logdir=logdir)
    assert again.returncode == 0
    assert metrics(logdir / "linear_regression" / "concise") == first  # not trained again
    other = run_cli("linear_regression", "--fast", "--model.lr", "0.1", logdir=logdir)
    assert other.returncode == 2
    assert "model.lr" in other.stderr and "--overwrite" in other.stderr
    replaced = run_cli("linear_regression", "--fast", "--model.lr", "0.1", "--overwrite",
                       logdir=logdir)
    assert replaced.returncode == 0
    assert metrics(logdir / "linear_regression" / "concise")["metrics"] != first["metrics"]


@pytest.mark.parametrize(
    "args, named",
    [
        (["softmax_regresion"], "softmax_regression"),
        (["softmax_regression", "--model.lr", "abc"], "--model.lr"),
        (["softmax_regression", "--model.lr", "0"], "lr must be > 0"),
        (["softmax_regression", "--model.num_inputz", "3"], "num_inputs"),
        (["softmax_regression", "--model.style", "fancy"], "scratch, concise"),
        (["softmax_regression", "--data.batch_size", "0"], "batch_size"),
        (["softmax_regression", "--data.val_size", "70000"], "val_size"),
        (["softmax_regression", "--data.train_size", "-5"], "train_size"),
        (["linear_regression", "--trainer.max_epochs", "many"], "--trainer.max_epochs"),
        (["linear_regression", "--study.member", "nope"], "scratch, concise"),
    ],
)
def test_bad_input_is_one_short_message_exit_2_and_nothing_written(logdir, args, named):
    done = run_cli(*args, logdir=logdir)
    assert done.returncode == 2
    assert named in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not logdir.exists()
