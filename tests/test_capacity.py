"""Capacity and learning curves: the verdict rule, the one-factor sweeps, end to end."""

import dataclasses
import json

import pytest
from conftest import run_cli

from experiments.engine import config, registry
from experiments.engine.study import sweep
from experiments.studies.capacity import SIZE, WIDTH


def test_each_curve_holds_the_members_that_differ_in_its_setting_alone():
    _, plan = config.plan(registry.load("capacity"), [])
    assert [m.name for m in sweep(plan, *WIDTH)] == [
        "width=4", "width=16", "width=64", "width=256", "width=1024"]
    assert [m.name for m in sweep(plan, *SIZE)] == [
        "width=256", "size=500", "size=8000", "size=32000"]


@pytest.mark.parametrize("keys", [WIDTH, SIZE])
def test_a_sweep_takes_a_value_given_twice_once(keys):
    _, plan = config.plan(registry.load("capacity"), [])
    doubled = dataclasses.replace(plan, members=[*plan.members, plan.members[3]])
    assert sweep(doubled, *keys) == sweep(plan, *keys)


@pytest.mark.slow
def test_capacity_opens_the_gap_with_width_and_closes_it_with_data(logdir):
    # Small settings: two widths on 500 images, and 4000 images for about as many steps.
    members = {
        "width=4": {"model.num_hiddens": [4], "data.train_size": 500,
                    "trainer.max_epochs": 40},
        "width=256": {"data.train_size": 500, "trainer.max_epochs": 40},
        "size=4000": {"data.train_size": 4000, "trainer.max_epochs": 5},
    }
    done = run_cli("capacity", "--study.members", json.dumps(members),
                   "--data.val_size", "2000", logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "capacity"
    rows = {row["member"]: row for row in json.loads((study / "summary.json").read_text())}
    assert rows["width=256"]["train/acc"] > rows["width=4"]["train/acc"] + 0.1
    gap = {name: row["train/acc"] - row["val/acc"] for name, row in rows.items()}
    assert gap["width=256"] > gap["width=4"] and gap["size=4000"] < gap["width=256"]
    assert rows["width=4"]["verdict by width"] == "underfitting"
    assert rows["width=256"]["verdict by size"] == "overfitting"
    assert (study / "width.png").exists() and (study / "learning_curve.png").exists()
    assert "**Verdict**" in (study / "summary.md").read_text()
