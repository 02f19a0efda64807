"""experiments/studies/grid.py: a grid of one's own (docs/own_model.md), its members in
the swept setting's order and a verdict per member by capacity's rule (the verdicts are
read off results made here, one per seed, far from the rule's thresholds)."""

import json

import pytest

from experiments.engine import aggregate, config, registry


def grid_plan(tmp_path, grid: dict):
    return config.plan(registry.load("capacity"), [
        "--fast", "--logdir", str(tmp_path), "--study.class_path",
        "experiments.studies.grid.GridStudy", "--study.members", "{}",
        "--study.seeds", "5", "--study.grid", json.dumps(grid)])


def test_the_swept_setting_orders_the_members_by_its_values(tmp_path):
    study, plan = grid_plan(tmp_path, {"data.train_size": [400, 100, 200]})
    key, members = study.swept(plan)
    assert key == "data.train_size"
    assert [m.flat_settings[key] for m in members][::5] == [100, 200, 400]  # 5 seeds each
    study, plan = grid_plan(tmp_path, {"model.activation": ["relu", "tanh"]})
    assert study.swept(plan) is None  # not numbers: nothing to draw against


def seeds_of(member: str, train: list[float], val: list[float]) -> list[dict]:
    return [{"member": f"{member},seed={k}", "status": "completed", "epochs": 10,
             "seconds": 1.0, "metrics": {"train/loss": t, "val/loss": v}}
            for k, (t, v) in enumerate(zip(train, val, strict=True))]


@pytest.fixture
def sweep():
    """Five seeds each: a narrow net whose train loss is above the best val loss, the best,
    and a wide net fitting train far better than val and rising above the best's val."""
    jitter = [0.0, 0.01, -0.01, 0.02, -0.02]
    return aggregate.merge_seeds(
        seeds_of("num_hiddens=1", [1.2 + j for j in jitter], [1.25 + j for j in jitter])
        + seeds_of("num_hiddens=8", [0.48 + j for j in jitter], [0.5 + j for j in jitter])
        + seeds_of("num_hiddens=64", [0.01] * 5, [1.5 + j for j in jitter]))


def test_each_member_gets_capacitys_verdict_and_the_takeaway_names_the_best(tmp_path, sweep):
    study, plan = grid_plan(tmp_path, {"data.train_size": [100]})
    verdicts = {m: c["verdict"] for m, c in study.columns(plan, sweep).items()}
    assert verdicts == {"num_hiddens=1": "underfitting", "num_hiddens=8": "good fit",
                        "num_hiddens=64": "overfitting"}
    takeaway = study.takeaway(plan, sweep)
    assert takeaway.startswith("val/loss is lowest at num_hiddens=8 (")
    assert "num_hiddens=64 overfitting" in takeaway


def test_a_gap_without_a_rise_above_the_best_is_not_overfitting(tmp_path, sweep):
    # The best member itself fits train better than val, by far more than the tolerance:
    # past memorisation every width does, so the gap alone calls nothing overfitting.
    study, plan = grid_plan(tmp_path, {"data.train_size": [100]})
    alone = aggregate.merge_seeds(seeds_of("num_hiddens=8", [0.1] * 5,
                                           [0.5, 0.51, 0.49, 0.52, 0.48]))
    assert study.columns(plan, alone) == {"num_hiddens=8": {"verdict": "good fit"}}
