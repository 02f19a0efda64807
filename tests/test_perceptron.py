"""The perceptron chapter: the rule, its points, and the `perceptron` experiment end to end."""

import pytest
import torch
from conftest import metrics, run_study

from datamodules import SeparablePoints, XORPoints
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
def test_the_perceptron_converges_on_separable_points_within_the_bound(perceptron_runs):
    result = metrics(perceptron_runs / "separable")
    final = result["metrics"]
    assert result["status"] == "completed"
    assert final["train/acc"] == 1.0 and final["train/loss"] == 0.0
    assert final["bound"] == pytest.approx((1.0**2 + 1) / 0.1**2)
    assert 0 < final["updates"] <= final["bound"]
    assert result["epochs"] < 100  # it stopped at the first epoch without a mistake


@pytest.mark.slow
def test_no_line_separates_xor_but_a_one_hidden_layer_mlp_does(perceptron_runs):
    xor = metrics(perceptron_runs / "xor")["metrics"]
    assert xor["train/acc"] < 1.0 and "bound" not in xor
    assert metrics(perceptron_runs / "mlp_xor")["metrics"]["train/acc"] == 1.0


@pytest.mark.slow
def test_the_decision_boundaries_figure_is_linked_from_the_summary(perceptron_runs):
    assert (perceptron_runs / "decision_boundaries.png").stat().st_size > 10_000
    assert "(decision_boundaries.png)" in (perceptron_runs / "summary.md").read_text()
