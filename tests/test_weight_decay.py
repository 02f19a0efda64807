"""Weight decay: the penalty option, and the study end to end at the book's settings."""

import json

import pytest
from conftest import metrics, run_cli

from datamodules import HighDimensionalData
from modules import LinearRegression


def test_the_penalty_way_takes_weight_decay_out_of_the_optimizer():
    penalty = LinearRegression(weight_decay=3, decay="penalty").make_optimizer()
    optimizer = LinearRegression(weight_decay=3).make_optimizer()
    assert [g["weight_decay"] for g in penalty.param_groups] == [0.0, 0.0]
    assert [g["weight_decay"] for g in optimizer.param_groups] == [3, 0.0]  # weight, not bias


def test_the_high_dimensional_data_is_the_books():
    data = HighDimensionalData()
    data.setup()
    assert data.true_w.tolist() == [pytest.approx(0.01)] * 200 and data.true_b == 0.05
    assert [len(data.splits[s]) for s in ("train", "val")] == [20, 100]


@pytest.mark.slow
def test_weight_decay_shrinks_w_and_rescues_validation(logdir):
    # Every declared member at the book's settings; one λ of the sweep.
    done = run_cli("weight_decay", "--study.grid", '{"model.weight_decay": [1]}', logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "weight_decay"
    final = {p.name: metrics(p)["metrics"] for p in study.iterdir() if p.is_dir()}
    free, decayed = final["wd=0"], final["wd=3"]
    assert free["w_norm"] > 5 and decayed["w_norm"] < 1  # the book: ≈ 13 and ≈ 0.36
    assert free["val/loss"] > 10 * decayed["val/loss"]
    # For plain SGD the L2 penalty and the optimizer's weight_decay are the same update.
    assert final["wd=3"]["w_norm"] == pytest.approx(final["sgd"]["w_norm"], rel=1e-4)
    assert final["adamw"]["w_norm"] < 1
    # The MLP: weight decay narrows the gap between train and validation.
    gap = {name: final[name]["val/loss"] - final[name]["train/loss"]
           for name in ("mlp,wd=0", "mlp,wd=0.01")}
    assert gap["mlp,wd=0.01"] < 0.8 * gap["mlp,wd=0"]
    rows = json.loads((study / "summary.json").read_text())
    assert {row["member"] for row in rows} >= {"wd=0", "wd=3", "weight_decay=1"}
    assert (study / "curves.png").exists() and (study / "lambda.png").exists()
    assert "Three ways to apply weight decay" in (study / "summary.md").read_text()
