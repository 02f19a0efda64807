"""Capacity and learning curves: the verdict rule, the one-factor sweeps, end to end."""

import dataclasses
import json

import pytest
from conftest import run_main

from experiments.engine import config, registry
from experiments.engine.study import sweep
from experiments.studies.capacity import SIZE, WIDTH


def test_each_curve_holds_the_members_that_differ_in_its_setting_alone():
    _, plan = config.plan(registry.load("capacity"), [])
    assert [m.name for m in sweep(plan, *WIDTH)] == [
        "width=2", "width=8", "width=16", "width=64", "width=256"]
    assert [m.name for m in sweep(plan, *SIZE)] == ["size=250", "size=1000", "size=4000"]


@pytest.mark.parametrize("keys", [WIDTH, SIZE])
def test_a_sweep_takes_a_value_given_twice_once(keys):
    _, plan = config.plan(registry.load("capacity"), [])
    doubled = dataclasses.replace(plan, members=[*plan.members, plan.members[3]])
    assert sweep(doubled, *keys) == sweep(plan, *keys)


@pytest.mark.slow
def test_past_the_best_width_val_loss_rises_and_more_data_closes_the_gap(logdir):
    # The YAML's settings, one seed (seed 0: the same numbers on every CPU run), fewer
    # members: the best width and one that memorises the wrong labels, two early-stopped
    # sizes. About 40 s: 300 epochs per width are what memorising takes.
    members = registry.load("capacity").defaults["study"]["init_args"]["members"]
    chosen = {name: members[name] for name in ("width=8", "width=64", "size=250", "size=1000")}
    done = run_main("capacity", "--study.members", json.dumps(chosen), "--study.seeds", "1",
                   logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "capacity"
    rows = {row["member"]: row for row in json.loads((study / "summary.json").read_text())}
    best, wide = rows["width=8"], rows["width=64"]
    assert wide["train/acc"] >= 0.98  # memorised, the wrong labels too (scored like val)
    assert best["train/acc"] < 0.8  # 20% of the labels are wrong: it learned the true ones
    assert wide["val/loss"] > 1.2 * best["val/loss"]  # val/loss rises past its minimum
    assert best["verdict by width"] == "good fit (1 seed)"
    assert wide["verdict by width"] == "overfitting (1 seed)"
    gap = {name: row["train/acc"] - row["val/acc"] for name, row in rows.items()}
    assert gap["size=1000"] < gap["size=250"] - 0.05
    assert rows["size=250"]["epochs"] < 200 and rows["size=1000"]["epochs"] < 200  # stopped
    assert (study / "width.png").exists() and (study / "learning_curve.png").exists()
    summary = (study / "summary.md").read_text()
    assert "20% of their labels wrong" in summary and "then rises" in summary
    assert "**Verdict**" in summary
