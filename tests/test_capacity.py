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
        "size=250", "size=1000", "size=4000", "size=16000"]


@pytest.mark.parametrize("keys", [WIDTH, SIZE])
def test_a_sweep_takes_a_value_given_twice_once(keys):
    _, plan = config.plan(registry.load("capacity"), [])
    doubled = dataclasses.replace(plan, members=[*plan.members, plan.members[3]])
    assert sweep(doubled, *keys) == sweep(plan, *keys)


@pytest.mark.slow
def test_the_widest_net_memorises_and_more_data_closes_the_gap(logdir):
    # The YAML's settings, fewer members: two widths, two early-stopped sizes, one seed.
    members = registry.load("capacity").defaults["study"]["init_args"]["members"]
    chosen = {name: members[name] for name in ("width=4", "width=1024", "size=250", "size=4000")}
    done = run_cli("capacity", "--study.members", json.dumps(chosen), "--study.seeds", "1",
                   logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "capacity"
    rows = {row["member"]: row for row in json.loads((study / "summary.json").read_text())}
    assert rows["width=1024"]["train/acc"] >= 0.98  # memorised: scored like val, eval mode
    assert rows["width=4"]["train/acc"] < 0.9
    gap = {name: row["train/acc"] - row["val/acc"] for name, row in rows.items()}
    assert gap["size=4000"] < gap["size=250"] - 0.05
    assert rows["size=4000"]["epochs"] < 300  # stopped early, not at max_epochs
    assert (study / "width.png").exists() and (study / "learning_curve.png").exists()
    assert "**Verdict**" in (study / "summary.md").read_text()
