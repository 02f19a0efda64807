"""The loss-functions chapter: outliers in the data, and L1 and Huber fits resisting them."""

import pytest
import torch
from conftest import metrics, run_study

from datamodules import LinearRegressionData


def train_data(**kwargs):
    data = LinearRegressionData(**kwargs)
    data.setup()
    return data.splits["train"].tensors


def test_outliers_are_a_share_of_gross_offsets_and_leave_the_rest_alone():
    X, y = train_data(outliers=0.1, num_train=5000)
    X_clean, y_clean = train_data(num_train=5000)
    assert torch.equal(X, X_clean)
    offset = (y - y_clean).flatten()
    gross = offset != 0
    assert gross.float().mean().item() == pytest.approx(0.1, abs=0.02)
    assert offset[gross].min() >= 10 and offset[gross].max() <= 20


def test_bad_outlier_share_names_the_argument():
    with pytest.raises(ValueError, match="outliers must be in"):
        LinearRegressionData(outliers=1.5)


@pytest.fixture(scope="module")
def loss_runs(tmp_path_factory):
    return run_study(tmp_path_factory.mktemp("losses"), "loss_functions")


@pytest.mark.slow
def test_l1_and_huber_land_far_closer_to_the_true_w_than_l2(loss_runs):
    w_err = {name: metrics(loss_runs / name)["metrics"]["w_err"]
             for name in ("l2", "l1", "huber")}
    assert w_err["l1"] < w_err["l2"] / 3 and w_err["huber"] < w_err["l2"] / 3, w_err
    b_err = {name: metrics(loss_runs / name)["metrics"]["b_err"] for name in ("l2", "l1")}
    assert b_err["l1"] < b_err["l2"] / 3, b_err  # the one-sided outliers drag L2's bias up


@pytest.mark.slow
def test_the_loss_figure_is_linked_from_the_summary(loss_runs):
    assert (loss_runs / "losses.png").stat().st_size > 10_000
    assert "(losses.png)" in (loss_runs / "summary.md").read_text()
