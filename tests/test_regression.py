"""experiments/studies/regression.py (the `linear_regression` experiment's study): each
member's distance from the truth the synthetic data knows, and its headline against the
noise floor ½σ²."""

import pytest
import torch

from datamodules import LinearRegressionData
from experiments.engine import config, registry
from experiments.studies.regression import truth_errors
from modules import LinearRegression, SoftmaxRegression


@pytest.mark.parametrize("style", ["scratch", "concise"])
def test_truth_errors_are_the_largest_distances_from_the_true_w_and_b(style):
    data = LinearRegressionData()  # the book's w = [2, -3.4], b = 4.2
    model = LinearRegression(style=style)
    w, b = model.weights()
    with torch.no_grad():  # put the weights a known distance from the truth
        w.copy_(data.true_w + torch.tensor([0.25, -0.5]))
        b.copy_(torch.tensor(data.true_b - 0.125).reshape(b.shape))
    errors = truth_errors(model, data)
    assert errors["w_err"] == pytest.approx(0.5, abs=1e-6)  # float32 weights
    assert errors["b_err"] == pytest.approx(0.125, abs=1e-6)


def test_a_model_without_a_bias_has_no_b_err_and_data_without_a_truth_none():
    data = LinearRegressionData()
    assert set(truth_errors(LinearRegression(bias=False), data)) == {"w_err"}
    assert truth_errors(SoftmaxRegression(), data) == {}  # no weights() to compare


def result(member: str, val_loss: float) -> dict:
    return {"member": member, "status": "completed", "epochs": 3, "seconds": 1.0,
            "metrics": {"val/loss": val_loss, "w_err": 0.001, "b_err": 0.002}}


def test_the_headline_puts_each_fit_against_the_noise_floor():
    study, plan = config.plan(registry.load("linear_regression"), ["--fast"])
    noise = plan.members[0].config.data.init_args["noise"]
    floor = noise**2 / 2  # the expected loss of the truth itself
    at_floor = study.headline(plan, [result("scratch", floor * 1.02),
                                     result("concise", floor * 1.1)])
    assert f"noise floor ½σ² = {floor:.3g}" in at_floor.ours
    assert at_floor.takeaway == ("the fits' val/loss is 1.02–1.1× the noise floor: they "
                                 "recover w and b, and what is left is the noise")
    short = study.headline(plan, [result("scratch", floor * 30)])
    assert short.takeaway.endswith("they have not converged to the truth")
