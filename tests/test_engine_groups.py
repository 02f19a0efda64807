"""Same-shaped members trained together (engine/groups.py) against the one-by-one path."""

import json

import lightning as L
import pytest
import torch

from experiments.engine import config, registry
from experiments.engine.groups import group_checkpoint, grouped
from modules import LinearRegression

# A small cross-validation: degrees 2 and 3, four folds, two seeds; 16 members in 2 groups.
KFOLD = ["--fast", "--study.num_folds", "4", "--study.seeds", "2",
         "--study.grid", '{"data.degree": [2, 3]}', "--trainer.enable_progress_bar", "false"]


def plan_of(logdir, *options):
    return config.plan(registry.load("kfold"), ["--logdir", str(logdir), *KFOLD, *options])


def run(logdir, *options, callbacks=()) -> dict[str, dict]:
    study, plan = plan_of(logdir, *options)
    if callbacks:
        study.callbacks = lambda: list(callbacks)
    return {r["member"]: r for r in study.run(plan)}


def test_members_group_by_shape_and_selection_apart_from_final(tmp_path):
    _, plan = plan_of(tmp_path)
    groups = [[m.name for m in group] for group in grouped(plan.members)]
    assert groups == [[f"degree={d},fold={k},seed={s}" for k in range(4) for s in range(2)]
                      for d in (2, 3)]
    _, polynomial = config.plan(registry.load("polynomial"), ["--logdir", str(tmp_path)])
    # underfit and degree=1 would be one shape but underfit is final (tested), the grid not.
    sizes = {group[0].base_name: len(group) for group in grouped(polynomial.members)}
    assert sizes["underfit"] == 5 and sizes["overfit"] == 5


def metrics_by_member(results: dict) -> dict[str, dict]:
    return {name: {k: v for k, v in r["metrics"].items() if isinstance(v, float)}
            for name, r in results.items()}


@pytest.mark.slow
def test_a_group_ends_where_its_members_trained_one_by_one_end(tmp_path):
    together = metrics_by_member(run(tmp_path / "together"))
    alone = metrics_by_member(run(tmp_path / "alone", "--study.vectorize", "false"))
    assert together.keys() == alone.keys() and len(together) == 18  # 16 folds, 2 refits
    for name, metrics in alone.items():
        assert metrics.keys() == together[name].keys()
        for key, value in metrics.items():
            assert together[name][key] == pytest.approx(value, rel=1e-4), (name, key)


@pytest.mark.slow
def test_each_member_of_a_group_has_its_own_run_folder_and_plain_checkpoint(tmp_path):
    results = run(tmp_path)
    folder = tmp_path / "kfold" / "degree=3,fold=1,seed=1"
    saved = json.loads((folder / "metrics.json").read_text())
    assert saved == results["degree=3,fold=1,seed=1"] and saved["status"] == "completed"
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
    assert not (tmp_path / "kfold" / ".groups").exists()  # the group's own is gone


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
    assert group_checkpoint(plan, plan.members[:8]).exists()  # what the rerun resumes from
    resumed = metrics_by_member(run(tmp_path / "resumed", *options))
    for name, metrics in whole.items():
        for key, value in metrics.items():
            assert resumed[name][key] == pytest.approx(value, rel=1e-6), (name, key)
