"""Same-shaped members trained together (engine/groups.py) against the one-by-one path."""

import json

import lightning as L
import pytest
import torch

from experiments.engine import config, learning, registry
from experiments.engine.groups import group_checkpoint, grouped
from modules import LinearRegression

# linear_regression's two members (scratch, concise) with three seeds each: 2 groups of 3.
SEEDS = ["--fast", "--study.seeds", "3", "--trainer.enable_progress_bar", "false"]


def plan_of(logdir, *options):
    return config.plan(registry.load("linear_regression"),
                       ["--logdir", str(logdir), *SEEDS, *options])


def run(logdir, *options, callbacks=()) -> dict[str, dict]:
    study, plan = plan_of(logdir, *options)
    if callbacks:
        study.callbacks = lambda: list(callbacks)
    return {r["member"]: r for r in study.run(plan)}


def test_members_group_by_shape_and_selection_apart_from_final(tmp_path):
    _, plan = plan_of(tmp_path)
    groups = [[m.name for m in group] for group in grouped(plan.members)]
    assert groups == [[f"{style},seed={seed}" for seed in range(3)]
                      for style in ("scratch", "concise")]
    _, polynomial = config.plan(registry.load("polynomial"), ["--logdir", str(tmp_path)])
    # Each member's seeds are one group; members that differ in more (the degree) are not.
    sizes = {group[0].base_name: len(group) for group in grouped(polynomial.members)}
    # (the book's SGD members run 5 seeds, the fits in closed form 10)
    assert sizes["book_underfit"] == 5 and sizes["underfit"] == 10 and sizes["degree=0"] == 10


def metrics_by_member(results: dict) -> dict[str, dict]:
    return {name: {k: v for k, v in r["metrics"].items() if isinstance(v, float)}
            for name, r in results.items()}


@pytest.mark.slow
def test_a_group_ends_where_its_members_trained_one_by_one_end(tmp_path):
    together = metrics_by_member(run(tmp_path / "together"))
    alone = metrics_by_member(run(tmp_path / "alone", "--study.vectorize", "false"))
    assert together.keys() == alone.keys() and len(together) == 6
    for name, metrics in alone.items():
        assert metrics.keys() == together[name].keys()
        for key, value in metrics.items():
            assert together[name][key] == pytest.approx(value, rel=1e-4), (name, key)


@pytest.mark.slow
def test_each_member_of_a_group_has_its_own_run_folder_and_plain_checkpoint(tmp_path):
    results = run(tmp_path)
    folder = tmp_path / "linear_regression" / "concise,seed=1"
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved == results["concise,seed=1"] and saved["status"] == "completed"
    assert (folder / "config.yaml").exists() and list(folder.glob("events.out.tfevents.*"))
    from conftest import scalars
    assert [step for step, _ in scalars(folder)["val/loss"]] == [1, 2]  # by epoch
    # The checkpoint loads into the plain module and gives the member's own val loss.
    _, plan = plan_of(tmp_path)
    member = next(m for m in plan.members if m.name == folder.name)
    model, data = plan.trained(member)
    assert isinstance(model, LinearRegression)
    X, y = data.splits["val"].tensors
    with torch.no_grad():
        assert model.loss(model(X), y).item() == pytest.approx(
            saved["metrics"]["val/loss"], rel=1e-5)
    assert not (tmp_path / "linear_regression" / ".groups").exists()  # the group's own


@pytest.mark.slow
def test_a_group_member_killed_before_its_metrics_were_written_trains_again_alone(tmp_path):
    # The group wrote every member's plain last.ckpt and removed its own checkpoint; a
    # kill took concise,seed=2's metrics.json. Its last.ckpt has no Trainer state to
    # resume: it trains again, alone, to the same numbers.
    first = metrics_by_member(run(tmp_path))
    (tmp_path / "linear_regression" / "concise,seed=2" / "metrics.json").unlink()
    again = run(tmp_path)
    assert again["concise,seed=2"]["status"] == "completed"
    assert metrics_by_member(again)["concise,seed=2"] == pytest.approx(
        first["concise,seed=2"], rel=1e-4)


class Crash(L.Callback):
    """Stops the run after epoch `epoch` as a kill would: nothing after it is written."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch + 1 == self.epoch:
            raise RuntimeError("killed")


@pytest.mark.slow
def test_a_group_stopped_mid_way_resumes_to_the_numbers_of_an_uninterrupted_one(tmp_path):
    options = ("--trainer.max_epochs", "4")
    whole = metrics_by_member(run(tmp_path / "whole", *options))
    crashed = run(tmp_path / "resumed", *options, callbacks=[Crash(epoch=2)])
    assert {r["status"] for r in crashed.values()} >= {"failed"}
    _, plan = plan_of(tmp_path / "resumed", *options)
    assert group_checkpoint(plan, plan.members[:3]).exists()  # what the rerun resumes from
    resumed = metrics_by_member(run(tmp_path / "resumed", *options))
    for name, metrics in whole.items():
        for key, value in metrics.items():
            assert resumed[name][key] == pytest.approx(value, rel=1e-6), (name, key)


def test_a_group_that_cannot_train_stacked_shows_progress_one_member_at_a_time(
        tmp_path, capsys):
    results = run(tmp_path, "--study.member", "concise", "--model.optimizer", "adamw")
    assert [r["status"] for r in results.values()] == ["completed"] * 3
    out = capsys.readouterr().out
    assert "together" not in out  # AdamW is not stacked: the three trained one by one
    assert all(f"[{i + 1}/3] linear_regression/concise,seed={i}" in out for i in range(3))


def test_closed_form_fits_solve_as_one_group_each_as_alone(tmp_path, capsys):
    # polynomial's `overfit`: 10 seeds of the degree-19 least-squares solve, each its own data.
    def run_overfit(logdir, *options) -> dict[str, dict]:
        study, plan = config.plan(registry.load("polynomial"), [
            "--logdir", str(logdir), "--study.member", "overfit", *options])
        return plan, {r["member"]: r for r in study.run(plan)}

    plan, together = run_overfit(tmp_path / "together")
    assert "(10 together)" in capsys.readouterr().out
    _, alone = run_overfit(tmp_path / "alone", "--study.vectorize", "false")
    assert [r["epochs"] for r in together.values()] == [1] * 10
    for name, metrics in metrics_by_member(alone).items():
        assert metrics_by_member(together)[name] == pytest.approx(metrics, rel=1e-6), name
    member = plan.members[3]
    model, data = plan.trained(member)  # its last.ckpt, into the plain LeastSquares
    X, y = data.splits["val"].tensors
    with torch.no_grad():
        assert model.loss(model(X), y).item() == pytest.approx(
            together[member.name]["metrics"]["val/loss"], rel=1e-6)


def run_concise(logdir, *options) -> dict[str, dict]:
    """linear_regression's concise member, 3 seeds, at full settings (not --fast: a run
    that did not learn is judged only there)."""
    study, plan = config.plan(registry.load("linear_regression"), [
        "--logdir", str(logdir), "--study.seeds", "3", "--study.member", "concise",
        "--trainer.enable_progress_bar", "false", *options])
    return {r["member"]: r for r in study.run(plan)}


def test_a_group_member_is_judged_against_its_own_first_train_loss_as_alone(
        tmp_path, capsys, monkeypatch):
    # Here any final train/loss above 0 has "risen": every member is flagged, alone or in
    # the group, naming its own first train/loss (its first epoch's score).
    monkeypatch.setattr(learning, "LOSS_RISE", -1.0)
    together = run_concise(tmp_path / "together")
    assert "(3 together)" in capsys.readouterr().out
    alone = run_concise(tmp_path / "alone", "--study.vectorize", "false")
    for name, result in alone.items():
        assert result["flag"] == together[name]["flag"] == "did not learn"
        assert together[name]["message"] == result["message"], name
        assert "train/loss rose from" in result["message"]


def test_a_group_with_early_stopping_stops_each_member_where_it_stops_alone(tmp_path, capsys):
    # The callback's settings come from the command line (the config's init_args).
    options = ("--trainer.max_epochs", "12", "--trainer.callbacks+=EarlyStopping",
               "--trainer.callbacks.monitor=val/loss", "--trainer.callbacks.patience=1",
               "--trainer.callbacks.min_delta=1e-5")
    together = run_concise(tmp_path / "together", *options)
    assert "(3 together)" in capsys.readouterr().out
    alone = run_concise(tmp_path / "alone", "--study.vectorize", "false", *options)
    epochs = {name: r["epochs"] for name, r in alone.items()}
    assert {name: r["epochs"] for name, r in together.items()} == epochs
    assert max(epochs.values()) < 12  # they stopped early
    for name, metrics in metrics_by_member(alone).items():
        assert metrics_by_member(together)[name] == pytest.approx(metrics, rel=1e-5), name
