"""The perceptron chapter: the rule, its points, and the `perceptron` experiment end to end."""

import json

import pytest
import torch
from conftest import metrics, run_study

from datamodules import SeparablePoints, XORPoints
from experiments.studies.perceptron import count
from modules import Perceptron


def splits(data):
    data.setup()
    return data.splits


def test_separable_points_lie_in_the_disk_with_both_classes_and_the_theorems_bound():
    data = SeparablePoints(margin=0.2, radius=2.0, num_train=300)
    X, y = splits(data)["train"].tensors
    assert X.shape == (300, 2) and y.dtype == torch.int64
    assert X.norm(dim=1).max() <= 2.0 and set(y.tolist()) == {0, 1}
    assert data.bound == pytest.approx((2.0**2 + 1) / 0.2**2)


def perceptron_rule_converges(X, y, max_updates: int) -> bool:
    """The plain perceptron rule (w <- w + y·x on each mistake, from zero, on (x, 1)):
    whether it reaches an epoch without a mistake within `max_updates` updates."""
    Z, signs = torch.cat([X, torch.ones(len(X), 1)], dim=1).double(), 2.0 * y.double() - 1
    w, updates = torch.zeros(3, dtype=torch.float64), 0
    while updates <= max_updates:
        mistakes = 0
        for z, s in zip(Z, signs, strict=True):
            if s * (w @ z) <= 0:
                w, mistakes, updates = w + s * z, mistakes + 1, updates + 1
        if mistakes == 0:
            return True
    return False


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_split_is_labelled_by_the_one_line_with_the_margin(seed):
    data = SeparablePoints(margin=0.1, num_train=200, num_val=200, num_test=200, seed=seed)
    parts = splits(data)
    X = torch.cat([parts[s].tensors[0] for s in ("train", "val", "test")])
    y = torch.cat([parts[s].tensors[1] for s in ("train", "val", "test")])
    # Novikoff: on points with margin 0.1 in the unit disk the rule converges within
    # (1 + 1)/0.1² = 200 updates; splits labelled by different lines would not be
    # separable together, and the rule would never converge.
    assert perceptron_rule_converges(X, y, max_updates=200)
    assert not torch.equal(parts["train"].tensors[0], parts["val"].tensors[0])
    more_val = splits(SeparablePoints(margin=0.1, num_val=50, num_test=200, seed=seed))
    assert torch.equal(more_val["train"].tensors[0], parts["train"].tensors[0])


def test_each_seed_draws_its_own_line():
    lines = [SeparablePoints(seed=seed).line for seed in range(3)]
    assert all(line.norm() == pytest.approx(1.0) for line in lines)
    assert not torch.allclose(lines[0], lines[1]) and not torch.allclose(lines[1], lines[2])


def test_counts_print_as_integers_and_means_with_a_decimal():
    assert count(11.0) == "11" and count(11) == "11" and count(10.6) == "10.6"


def test_xor_points_without_noise_are_the_four_corners_with_xor_labels():
    X, y = splits(XORPoints(noise=0.0, num_train=4))["train"].tensors
    for x, label in zip(X.tolist(), y.tolist(), strict=True):
        assert abs(x[0]) == abs(x[1]) == 1.0
        assert label == int(x[0] * x[1] < 0)


@pytest.mark.parametrize("make, message", [
    (lambda: SeparablePoints(margin=0.6, radius=1.0), "margin must be in"),
    (lambda: SeparablePoints(radius=0), "radius must be >="),
    (lambda: XORPoints(noise=-1), "noise must be in"),
    (lambda: Perceptron(num_inputs=0), "num_inputs must be >= 1"),
])
def test_bad_settings_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_the_perceptron_scores_class_one_where_w_x_plus_b_is_positive():
    model = Perceptron(num_inputs=2)
    with torch.no_grad():
        model.net.weight.copy_(torch.tensor([[1.0, -1.0]]))
        model.net.bias.fill_(0.5)
    X = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # w·x + b = 1.5 and -1.5
    assert model(X).argmax(1).tolist() == [1, 0]
    # The perceptron criterion max(0, -y(w·x + b)): zero for the right side, 1.5 otherwise.
    assert model.loss(model(X), torch.tensor([1, 1])).item() == pytest.approx(1.5 / 2)


@pytest.fixture(scope="module")
def perceptron_runs(tmp_path_factory):
    return run_study(tmp_path_factory.mktemp("perceptron"), "perceptron")


@pytest.mark.slow
def test_the_perceptron_converges_within_the_bound_and_generalises(perceptron_runs):
    summary = {row["member"]: row
               for row in json.loads((perceptron_runs / "summary.json").read_text())}
    separable = summary["separable"]
    assert separable["seeds"] == 5 and separable["val/acc"] >= 0.95  # train and val: one line
    assert separable["val/acc_se"] < 0.02 and separable["bound"] == pytest.approx(200)
    sweep = sorted(perceptron_runs.glob("margin=*,seed=*")) + sorted(
        perceptron_runs.glob("separable,seed=*"))
    assert len(sweep) == 25  # 5 margins × 5 seeds
    for folder in sweep:
        result = metrics(folder)
        final = result["metrics"]
        assert result["status"] == "completed"
        assert final["train/acc"] == 1.0 and final["train/loss"] == 0.0
        assert 0 < final["updates"] <= final["bound"], folder.name  # Novikoff
        assert result["epochs"] < 1000  # it stopped at the first epoch without a mistake
    summary_md = (perceptron_runs / "summary.md").read_text()
    assert "25 of 25 runs stay within the bound" in summary_md and "updates/bound" in summary_md


@pytest.mark.slow
def test_no_line_separates_xor_but_a_one_hidden_layer_mlp_does(perceptron_runs):
    summary = {row["member"]: row
               for row in json.loads((perceptron_runs / "summary.json").read_text())}
    assert summary["xor"]["train/acc"] < 0.8 and "bound" not in summary["xor"]
    assert summary["mlp_xor"]["train/acc"] == 1.0


@pytest.mark.slow
def test_the_figures_are_linked_from_the_summary(perceptron_runs):
    summary_md = (perceptron_runs / "summary.md").read_text()
    for name in ("theorem", "points", "decision_boundaries", "curves"):
        assert (perceptron_runs / f"{name}.png").stat().st_size > 10_000
        assert f"({name}.png)" in summary_md
