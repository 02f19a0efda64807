"""modules/least_squares.py: the closed-form fits (least squares, ridge with the bias
left out of the penalty, the minimum-norm interpolant, one solve for many redraws)."""

import pytest
import torch

from datamodules import HighDimensionalData, PolynomialData, PolynomialRedraws
from modules import LeastSquares


def test_least_squares_reports_the_weights_it_solved():
    data = PolynomialData(degree=3, batch_size=100)
    data.setup()
    X, y = data.splits["train"].tensors
    model = LeastSquares(num_inputs=4)
    model.fit(X, y)
    solution = torch.linalg.lstsq(X.double(), y.double()).solution[:, 0]
    assert model.final_metrics()["weights"] == pytest.approx(solution.tolist())
    assert model.weights()[1] is None  # no bias: x⁰ is the constant


def hand_ridge(X: torch.Tensor, y: torch.Tensor, lam: float) -> tuple[torch.Tensor, float]:
    """w, b minimizing ½·mean((Xw + b − y)²) + λ/2·‖w‖², from the normal equations of
    [w; b] with b left out of the penalty (no centring)."""
    X, y = X.double(), y.double()
    n, d = X.shape
    A = torch.cat([X, torch.ones(n, 1, dtype=X.dtype)], 1)
    penalty = torch.diag(torch.tensor([lam] * d + [0.0], dtype=X.dtype))
    wb = torch.linalg.solve(A.T @ A / n + penalty, A.T @ y / n)
    return wb[:d, 0], wb[d, 0].item()


@pytest.mark.parametrize("lam", [0.3, 3.0])
def test_closed_form_ridge_solves_the_penalized_loss_with_the_bias_undecayed(lam):
    data = HighDimensionalData(num_train=150, noise=0.1, batch_size=150)
    data.setup()
    X, y = data.splits["train"].tensors
    model = LeastSquares(num_inputs=200, bias=True, weight_decay=lam)
    model.fit(X, y)
    w, b = model.weights()
    hand_w, hand_b = hand_ridge(X, y, lam)
    torch.testing.assert_close(w, hand_w)
    assert b.item() == pytest.approx(hand_b)
    assert model.final_metrics()["w_norm"] == pytest.approx(hand_w.norm().item())


def test_at_lambda_0_it_is_the_min_norm_interpolant():
    data = HighDimensionalData()  # 20 examples of 200 inputs
    data.setup()
    X, y = data.splits["train"].tensors
    model = LeastSquares(num_inputs=200, bias=True)
    model.fit(X, y)
    w, b = model.weights()
    torch.testing.assert_close(X.double() @ w + b, y.double().flatten())  # interpolates
    # The smallest such w: the pseudo-inverse's, on the centred data.
    Xc, yc = X.double() - X.double().mean(0), y.double() - y.double().mean()
    torch.testing.assert_close(w, (torch.linalg.pinv(Xc) @ yc).flatten())


def test_one_solve_fits_every_redraw_as_its_own_least_squares():
    data = PolynomialRedraws(degree=5, redraws=8)
    data.setup()
    X, y = data.splits["train"].tensors
    model = LeastSquares(num_inputs=6, redraws=8)
    model.fit(X, y)
    for r in (0, 7):
        alone = torch.linalg.lstsq(X[:, r], y[:, r]).solution
        torch.testing.assert_close(model.net.w[r], alone)
    X_test = data.splits["test"].tensors[0]
    assert model(X_test).shape == (len(X_test), 8, 1)  # every fit at every test input


def test_a_model_built_for_other_redraws_says_which_settings_differ():
    data = PolynomialRedraws(degree=3, redraws=5)
    data.setup()
    with pytest.raises(ValueError, match="model.redraws"):
        LeastSquares(num_inputs=4, redraws=4).fit(*data.splits["train"].tensors)
