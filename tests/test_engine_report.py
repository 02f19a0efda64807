"""A study's report in process: summary rows, the Markdown table, summary.json/.md, the
figures, and what goes to TensorBoard beside Lightning's scalars (board)."""

import json
import os

import pytest
from conftest import run_main
from matplotlib.figure import Figure as MplFigure
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
from torch.utils.tensorboard import SummaryWriter

from experiments.engine import board, config, registry, report


def result(member: str, loss: float, **extra) -> dict:
    return {"member": member, "status": "completed", "epochs": 3,
            "metrics": {"val/loss": loss, "weights": [1.0, 2.0], **extra}}


def linear_regression(tmp_path, *options: str):
    return config.plan(registry.load("linear_regression"), ["--logdir", str(tmp_path), *options])[1]


def test_rows_hold_the_settings_that_vary_the_scalar_metrics_and_the_studys_columns(tmp_path):
    plan = linear_regression(tmp_path)
    rows = report.rows(plan, [result("scratch", 0.5), result("concise", 0.25)],
                       columns={"concise": {"verdict": "best"}})
    assert rows[0] == {"member": "scratch", "status": "completed", "model.style": "scratch",
                       "epochs": 3, "seeds": 1, "val/loss": 0.5}  # weights, a list: no column
    assert rows[1]["model.style"] == "concise" and rows[1]["verdict"] == "best"


def test_settings_all_members_share_are_not_columns(tmp_path):
    members = '{"a": {"model.lr": 0.1}, "b": {"model.lr": 0.1, "model.bias": false}}'
    plan = linear_regression(tmp_path, "--study.members", members)
    assert report.varying_settings(plan) == {"a": {"model.bias": True},
                                             "b": {"model.bias": False}}


def test_the_table_is_markdown_with_a_cell_per_column_and_escaped_bars():
    lines = report.table([{"member": "a|b", "loss": 0.123456}, {"member": "c", "acc": 1}])
    assert lines == ["| member | loss | acc |", "|---|---|---|",
                     "| a\\|b | 0.1235 | – |", "| c | – | 1 |"]


def test_clock_and_progress(capsys):
    assert report.clock(3725.4) == "1:02:05"
    report.progress("mlp", "relu", 1, 4, started=0.0)
    assert capsys.readouterr().out.startswith("[2/4] mlp/relu · ")


def test_the_summary_holds_the_rows_the_notes_and_links_its_figures(tmp_path, capsys):
    plan = linear_regression(tmp_path)
    results = [result("scratch", 0.5), {**result("concise", 0.25), "status": "diverged",
                                        "message": "loss became nan in epoch 2"}]
    figure = MplFigure()
    figure.subplots().plot([0, 1], [1, 0])
    report.write_summary(plan, results, [report.Figure("curve", "A falling line", figure)],
                         notes="How to read it.")
    summary = json.loads((plan.folder / "summary.json").read_text())
    assert summary == report.rows(plan, results)
    md = (plan.folder / "summary.md").read_text()
    assert "| scratch | completed | scratch | 0.5 |" in md
    assert "- **concise** diverged: loss became nan in epoch 2\n\nHow to read it." in md
    assert "How to read it." in md and "![curve](curve.png)" in md and "*A falling line*" in md
    assert (plan.folder / "curve.png").stat().st_size > 1000
    console = capsys.readouterr().out
    assert "concise" in console and "diverged" in console and "0.25" in console
    assert "  concise diverged: loss became nan in epoch 2" in console  # the hint, there too


def test_console_tables_compare_train_with_val_and_leave_the_running_mean_out(tmp_path):
    plan = linear_regression(tmp_path)
    metrics = {"train_running/loss": 9.0, "train/loss": 0.5, "val/loss": 0.75}
    lines = report.console_tables(plan, report.rows(plan, [result("scratch", 0.75, **metrics)]))
    assert lines[0].split() == ["member", "train/loss", "val/loss"]
    assert lines[1].split() == ["scratch", "0.5", "0.75"]


def test_a_single_members_run_prints_its_final_metrics_and_a_tensorboard_that_runs(logdir):
    done = run_main("softmax_regression", "--study.member", "concise", "--study.seeds", "1",
                    "--trainer.max_epochs",
                    "2", "--trainer.limit_train_batches", "4", "--trainer.limit_val_batches",
                    "2", "--trainer.limit_test_batches", "2", logdir=logdir)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:1] == ["member"])
    columns = lines[header].split()
    assert {"train/acc", "train/loss", "val/acc", "val/loss", "test/acc"} <= set(columns)
    assert not any(c.startswith("train_running") for c in columns)
    row = dict(zip(columns, lines[header + 1].split(), strict=True))
    metrics = json.loads((logdir / "softmax_regression/concise/metrics.json").read_text())
    assert float(row["val/acc"]) == pytest.approx(metrics["metrics"]["val/acc"], abs=1e-4)
    program, *rest = lines[-1].removeprefix("TensorBoard: ").split()
    assert rest == ["--logdir", str(logdir / "softmax_regression")]
    assert os.access(program, os.X_OK)  # the venv's own, found without activating it


def summaries(folder) -> dict[str, list]:
    """plugin name -> the summary values written with it, from every event file there."""
    found: dict[str, list] = {}
    for path in folder.glob("events.out.tfevents.*"):
        for event in EventFileLoader(str(path)).Load():
            for value in event.summary.value:
                found.setdefault(value.metadata.plugin_data.plugin_name, []).append(value)
    return found


def test_board_writes_the_study_layout_and_hparams_without_extra_scalars(tmp_path):
    plan = linear_regression(tmp_path)
    plan.folder = tmp_path
    board.write_study(plan, [], {}, classifies=False, images={}, summary_md="# summary")
    with SummaryWriter(log_dir=str(tmp_path / "member")) as writer:
        params = board.session_hparams({"model.lr": 0.1, "model.num_hiddens": [256]}, "m")
        board.add_session(writer, "linear_regression", params,
                          {"epochs": 3, "metrics": {"val/loss": 0.8}})
    layout = summaries(tmp_path)["custom_scalars"][0].tensor.string_val[0].decode()
    assert "^linear_regression/(train|val)/loss$" in layout and "acc" not in layout
    found = summaries(tmp_path / "member")
    hparams = b"".join(v.metadata.plugin_data.content for v in found["hparams"])
    assert b"model.lr" in hparams and b"model.num_hiddens" in hparams
    assert "scalars" not in found  # no stray point at step 0 on any curve


@pytest.mark.parametrize("args, text", [
    ((0.41234, 0.00812), "0.412 ± 0.0081"),
    ((0.41234, float("nan")), "0.412"),  # one seed: no error bar
    ((0.41234, None), "0.412"),
    ((-0.0112, 0.0015, "+.3g"), "-0.0112 ± 0.0015"),  # a difference, signed
    ((0.0112, 0.0015, "+.3f", ".3f"), "+0.011 ± 0.002"),
])
def test_mean_and_standard_error_are_written_one_way(args, text):
    assert report.pm(*args) == text


def test_a_merged_metric_is_shown_with_its_standard_error_where_it_has_one():
    metrics = {"val/loss": 0.1484, "val/loss_se": 0.01234, "w_norm": 13.21}
    assert report.shown(metrics, "val/loss") == "0.148 ± 0.012"
    assert report.shown(metrics, "w_norm") == "13.2"
