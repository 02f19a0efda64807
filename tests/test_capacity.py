"""Capacity and learning curves: the verdict rule, the one-factor sweeps, end to end."""

import dataclasses
import json

import pytest
from conftest import run_main

from experiments.engine import aggregate, config, registry
from experiments.engine.study import merged, sweep
from experiments.studies import fitting
from experiments.studies.capacity import SIZE, WIDTH, Capacity, split_failed


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
    # members: the best width and one that memorises the wrong labels, two
    # sizes at 800 SGD steps. About 40 s: 300 epochs per width are what memorising takes.
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
    assert wide["verdict by width"].startswith("overfitting (1 seed); val/acc ")
    assert wide["verdict by width"].endswith(" the best width's (1 seed)")
    gap = {name: row["train/acc"] - row["val/acc"] for name, row in rows.items()}
    assert gap["size=1000"] < gap["size=250"] - 0.05
    assert rows["size=250"]["epochs"] == 800 and rows["size=1000"]["epochs"] == 200  # 800 steps
    assert (study / "width.png").exists() and (study / "learning_curve.png").exists()
    summary = (study / "summary.md").read_text()
    assert "20% of their labels wrong" in summary and "then rises" in summary
    assert "**Verdict**" in summary


def seed_run(member: str, seed: int, train_loss: float, train_acc: float, val_loss: float,
             val_acc: float, epochs: int = 300) -> dict:
    return {"member": f"{member},seed={seed}", "status": "completed", "epochs": epochs,
            "seconds": 1.0, "metrics": {"train/loss": train_loss, "train/acc": train_acc,
                                        "val/loss": val_loss, "val/acc": val_acc}}


def summarized(runs: list[dict], members=("width=2", "width=8", "width=256")):
    """What the study's hooks see for these runs: the failed seeds split off, the rest
    merged per member, on the YAML's plan cut to `members`."""
    _, plan = config.plan(registry.load("capacity"), [])
    plan = dataclasses.replace(plan, members=[m for m in plan.members
                                              if m.base_name in members])
    trained, failures = split_failed(plan, runs)
    names = {r["member"] for r in trained}
    done, results = merged(dataclasses.replace(
        plan, members=[m for m in plan.members if m.name in names]), trained)
    study = Capacity()
    study.failures = failures
    return study, done, results


def widths_runs(widest_acc: list[float]) -> list[dict]:
    """Width 2 learns a little in seeds 0–3 and nothing in seed 4 (train/acc 0.11 on 500
    images, 10 classes: chance); width 8 has the lowest val/loss; width 256 memorises."""
    runs = [seed_run("width=2", s, 1.0 + 0.01 * s, 0.40, 1.05 + 0.01 * s, 0.38)
            for s in range(4)]
    runs.append(seed_run("width=2", 4, 2.30, 0.11, 2.30, 0.10))
    runs += [seed_run("width=8", s, 0.9 + 0.01 * s, 0.70, 1.0 + 0.01 * s, 0.60)
             for s in range(5)]
    runs += [seed_run("width=256", s, 0.03, 1.0, 1.8 + 0.02 * s, widest_acc[s])
             for s in range(5)]
    return runs


def test_a_seed_at_chance_is_a_failure_left_out_of_the_mean_and_the_verdict():
    study, done, results = summarized(widths_runs([0.63, 0.64, 0.65, 0.64, 0.63]))
    by = {r["member"]: r for r in results}
    # Chance on 500 images of 10 classes: 0.1 + 3·√(0.1·0.9/500) = 0.140.
    assert study.failures == {"width=2": [("4", 0.11, pytest.approx(0.1402, abs=1e-4))]}
    # The mean of seeds 0–3 alone, by hand: (1.05 + 1.06 + 1.07 + 1.08) / 4.
    assert by["width=2"]["seeds"] == 4
    assert by["width=2"]["metrics"]["val/loss"] == pytest.approx(1.065)
    columns = study.columns(done, results)
    assert columns["width=2"]["failed seeds"] == 1 and columns["width=8"]["failed seeds"] == 0
    # Seeds 0–3 fit train as well as width 8's val: a good fit. With the dead seed averaged
    # in (train/loss 2.3) it would read as underfitting, or inconclusive.
    assert columns["width=2"]["verdict by width"].startswith("good fit")
    kept = aggregate.merge_seeds(widths_runs([0.63] * 5))  # the failed seed averaged in
    assert not fitting.verdicts(kept, rise=True)["width=2"].startswith("good fit")
    assert "width=2 seed 4 (train/acc 0.110" in study.notes(done, results)


def test_the_widest_is_reported_by_its_accuracy_too_and_its_rise_goes_to_summary_json():
    study, done, results = summarized(widths_runs([0.63, 0.64, 0.65, 0.64, 0.63]))
    columns = study.columns(done, results)
    # val/acc 0.638 against 0.60 in every seed: above beyond noise, while val/loss rises.
    assert columns["width=256"]["verdict by width"] == (
        "overfitting; val/acc above the best width's")
    assert columns["width=256"]["best width"] == 8
    # Paired by seed: (1.8 + 0.02s) − (1.0 + 0.01s) over s = 0..4, mean 0.82, se 0.01/√2.
    assert columns["width=256"]["val/loss above best"] == pytest.approx(0.82)
    assert columns["width=256"]["val/loss above best_se"] == pytest.approx(0.01 / 2 ** 0.5)
    assert "while its val/acc is higher" in study.takeaway(done, results)
    # The same nets with val/acc 0.6 ± 0.05 around the best's 0.60: within noise, and no
    # sentence explains a difference.
    study, done, results = summarized(widths_runs([0.55, 0.65, 0.60, 0.66, 0.54]))
    columns = study.columns(done, results)
    assert columns["width=256"]["verdict by width"].endswith("val/acc within noise of the "
                                                             "best width's")
    takeaway = study.takeaway(done, results)
    assert "within noise of the minimum's" in takeaway and "confident" not in takeaway


def test_the_learning_curve_gives_every_size_the_same_sgd_steps():
    _, plan = config.plan(registry.load("capacity"), [])
    sizes = sweep(plan, *SIZE)
    budgets = set()
    for member in sizes:
        _, data, _ = plan.instantiate(member)
        data.setup("fit")
        assert member.config.trainer.get("callbacks") in (None, [])  # no early stopping
        budgets.add(len(data.train_dataloader()) * member.config.trainer.max_epochs)
    assert budgets == {800}
