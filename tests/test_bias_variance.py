"""The bias–variance decomposition: its data (many redraws of the cubic), the batched
closed-form fits, and the study end to end."""

import json

import pytest
import torch
from conftest import metrics, run_main

from datamodules import PolynomialRedraws
from modules import LeastSquares

TERMS = ("bias2", "variance", "noise")


def test_redraws_are_independent_training_sets_of_the_cubic_and_test_stays_in_range():
    data = PolynomialRedraws(degree=3, redraws=50, num_train=40, num_test=5000, test_range=1.5)
    data.setup()
    X, y = data.splits["train"].tensors
    assert X.shape == (40, 50, 4) and y.shape == (40, 50, 1) and X.dtype == torch.float64
    assert not torch.equal(X[:, 0], X[:, 1])  # each redraw its own sample
    X_test, y_test = data.splits["test"].tensors
    assert X_test.shape == (5000, 4) and X_test[:, 1].abs().max() <= 1.5
    assert X_test[:, 1].abs().max() > 1.45  # restricted, not squeezed: the range is reached
    residual = y_test - data.truth["test"]  # the book's noise, N(0, 0.1²)
    assert 0.09 < residual.std().item() < 0.11
    truth = X_test @ torch.tensor([5.0, 1.2, -3.4, 5.6], dtype=torch.float64)
    torch.testing.assert_close(data.truth["test"][:, 0], truth)


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


def check_decomposition(rows: dict[int, dict]) -> None:
    """bias² + variance + noise is the measured test loss; bias² falls from degree 1 to 3
    and the variance rises from 3 to the highest degree."""
    for degree, row in rows.items():
        total = sum(row[term] for term in TERMS)
        assert total == pytest.approx(row["test/loss"], rel=0.05), degree
    top = max(rows)
    assert rows[3]["bias2"] < rows[1]["bias2"] / 100
    assert rows[top]["variance"] > 100 * rows[3]["variance"]
    assert rows[3]["noise"] == pytest.approx(0.1**2 / 2, rel=0.05)  # ½σ²
    assert rows[top]["redraw_median"] > rows[3]["redraw_median"]  # the typical fit worsens too


def summary_rows(study) -> dict[int, dict]:
    return {row["data.degree"]: row for row in json.loads((study / "summary.json").read_text())}


@pytest.mark.slow  # a whole study: tens of seconds
def test_bias_falls_and_variance_rises_with_the_degree(logdir):
    done = run_main("bias_variance", "--study.grid", '{"data.degree": [1, 3, 19]}',
                   logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "bias_variance"
    rows = summary_rows(study)
    check_decomposition(rows)
    assert rows[19]["model.num_inputs"] == 20  # follows the degree
    assert metrics(study / "degree=3")["metrics"]["bias2"] == rows[3]["bias2"]
    assert (study / "degree=3" / "checkpoints" / "last.ckpt").exists()
    assert (study / "decomposition.png").exists()
    assert "bias² falls from" in (study / "summary.md").read_text()


@pytest.mark.slow  # a whole study: tens of seconds
def test_fast_smoke_run_completes(logdir):
    done = run_main("bias_variance", "--fast", "--study.grid", '{"data.degree": [2, 3]}',
                   logdir=logdir)
    assert done.returncode == 0, done.stderr
    assert len(summary_rows(logdir / "bias_variance")) == 2


@pytest.mark.slow
def test_every_degree_at_the_defaults_decomposes(logdir):
    done = run_main("bias_variance", logdir=logdir)
    assert done.returncode == 0, done.stderr
    rows = summary_rows(logdir / "bias_variance")
    assert sorted(rows) == list(range(20))
    check_decomposition(rows)
