"""The loss-functions chapter: outliers in the data, and L1 and Huber fits resisting them."""

import json

import pytest
import torch
from conftest import run_study

from datamodules import LinearRegressionData
from experiments.engine import aggregate
from experiments.studies.loss_functions import ordered


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
    rows = {row["member"]: row for row in json.loads((loss_runs / "summary.json").read_text())}
    w_err = {name: rows[name]["w_err"] for name in ("l2", "l1", "huber")}
    assert w_err["l1"] < w_err["l2"] / 3 and w_err["huber"] < w_err["l2"] / 3, w_err
    b_err = {name: rows[name]["b_err"] for name in ("l2", "l1")}
    assert b_err["l1"] < b_err["l2"] / 3, b_err  # the one-sided outliers drag L2's bias up
    assert rows["l1"]["seeds"] == 5 and "b_err_se" in rows["l1"]  # means over seeds
    # Scored on clean labels, the robust fits' val/loss is far below their train/loss.
    assert rows["l1"]["val/loss"] < rows["l1"]["train/loss"] / 10


@pytest.mark.slow
def test_the_loss_figure_is_linked_from_the_summary(loss_runs):
    assert (loss_runs / "losses.png").stat().st_size > 10_000
    assert "(losses.png)" in (loss_runs / "summary.md").read_text()


def test_clean_eval_keeps_the_outliers_in_training_alone():
    data = LinearRegressionData(outliers=0.1, clean_eval=True, num_train=2000, num_val=2000,
                                num_test=2000)
    data.setup()
    truth = LinearRegressionData(num_train=2000, num_val=2000, num_test=2000)
    truth.setup()
    for split in ("val", "test"):  # the clean relation, point for point
        torch.testing.assert_close(data.splits[split].tensors, truth.splits[split].tensors)
    X, y = data.splits["train"].tensors
    assert ((y - truth.splits["train"].tensors[1]) >= 10).float().mean().item() == \
        pytest.approx(0.1, abs=0.02)


def merged_errors(errors: dict[str, list[float]]) -> list[dict]:
    return aggregate.merge_seeds([
        {"member": f"{name},seed={s}", "status": "completed", "epochs": 5, "seconds": 1.0,
         "metrics": {"b_err": e}} for name, values in errors.items()
        for s, e in enumerate(values)])


def test_members_are_ordered_with_a_less_than_only_beyond_two_standard_errors():
    # l1 and huber within noise of each other (paired differences ±0.01 around 0), l2
    # far above both in every seed.
    results = merged_errors({"l2": [1.2, 1.5, 1.3], "huber": [0.10, 0.12, 0.08],
                             "l1": [0.11, 0.11, 0.09]})
    assert ordered(results, "b_err") in ("huber ≈ l1 < l2", "l1 ≈ huber < l2")
    results = merged_errors({"l2": [1.2, 1.5, 1.3], "huber": [0.10, 0.12, 0.08],
                             "l1": [0.001, 0.002, 0.001]})
    assert ordered(results, "b_err") == "l1 < huber < l2"
