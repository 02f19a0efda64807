"""The bias–variance decomposition: its data (many redraws of the cubic), the batched
closed-form fits, and the study end to end."""

import json

import pytest
import torch
from conftest import metrics, run_main

from datamodules import PolynomialRedraws
from experiments.studies.bias_variance import bias_variance, decomposition, jackknife_se
from modules import LeastSquares

TERMS = ("bias2", "variance", "noise")
CUBIC = torch.tensor([5.0, 1.2, -3.4, 5.6], dtype=torch.float64)  # the book's, on xⁱ/i!


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
    truth = X_test @ CUBIC
    torch.testing.assert_close(data.truth["test"][:, 0], truth)


def test_each_split_has_its_own_stream():
    def made(**kwargs):
        data = PolynomialRedraws(degree=2, **kwargs)
        data.setup()
        return data.splits
    splits = made(redraws=5, num_test=100)
    # The test inputs do not depend on the training sets (how many, how large): every
    # degree and every number of redraws is scored on the same test set.
    assert torch.equal(made(redraws=7, num_train=30, num_test=100)["test"].tensors[0],
                       splits["test"].tensors[0])
    assert torch.equal(made(redraws=5, num_test=50)["train"].tensors[0],
                       splits["train"].tensors[0])


def test_the_jackknife_standard_error_of_a_mean_is_the_standard_error_of_the_mean():
    values = torch.randn(50, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    left_out = (values.sum() - values) / 49
    assert jackknife_se(left_out) == pytest.approx(values.std().item() / 50**0.5)


def test_bias2_is_unbiased_where_the_plug_in_is_inflated_by_the_variance_over_r():
    """Fits ŷ = f + c + N(0, τ²) at every input: bias² ½c², variance ½τ². With R = 4 fits
    the plug-in ½·mean (ȳ − f)² would be ½(c² + τ²/4)."""
    c, tau, R = 0.3, 1.0, 4
    f = torch.zeros(200_000, dtype=torch.float64)
    noise = torch.randn(200_000, R, generator=torch.Generator().manual_seed(2),
                        dtype=torch.float64)
    terms = bias_variance(f.unsqueeze(1) + c + tau * noise, f)
    assert terms["bias2"] == pytest.approx(c**2 / 2, abs=3 * terms["bias2_se"])
    assert terms["bias2_se"] < tau**2 / R / 2 / 10  # the inflation is far beyond the noise
    assert terms["variance"] == pytest.approx(tau**2 / 2, abs=3 * terms["variance_se"])


def test_the_standard_errors_are_the_spread_of_the_estimates_over_fresh_sets_of_fits():
    """400 independent sets of R = 20 fits, biased and noisy by input: the jackknife's
    standard error of one set is the standard deviation of the estimate over the sets."""
    generator = torch.Generator().manual_seed(3)
    f = torch.zeros(50, dtype=torch.float64)
    shift = torch.linspace(-0.5, 0.5, 50, dtype=torch.float64)
    sets = [bias_variance((f + shift).unsqueeze(1) + (0.5 + shift.abs()).unsqueeze(1)
                          * torch.randn(50, 20, generator=generator, dtype=torch.float64), f)
            for _ in range(400)]
    for term in ("bias2", "variance"):
        spread = torch.tensor([t[term] for t in sets]).std().item()
        assert torch.tensor([t[f"{term}_se"] for t in sets]).mean().item() == pytest.approx(
            spread, rel=0.2), term
    bias2 = torch.tensor([t["bias2"] for t in sets])
    assert bias2.mean().item() == pytest.approx((shift**2 / 2).mean().item(),
                                                abs=3 * bias2.std().item() / 20)


def fitted(degree: int, redraws: int = 100) -> tuple[LeastSquares, PolynomialRedraws]:
    data = PolynomialRedraws(degree=degree, redraws=redraws)
    data.setup()
    model = LeastSquares(num_inputs=degree + 1, redraws=redraws)
    model.fit(*data.splits["train"].tensors)
    return model.eval(), data


@pytest.mark.parametrize("degree", [3, 8, 16])
def test_a_well_specified_degree_has_no_bias(degree):
    terms = decomposition(*fitted(degree))
    assert abs(terms["bias2"]) <= 2 * terms["bias2_se"]


@pytest.fixture(scope="module")
def mean_fits() -> dict[int, torch.Tensor]:
    """degree -> the mean least-squares weights (on xⁱ/i!) of degrees 0–2 over 10⁵
    training sets of 100 examples of the cubic (x ~ N(0, 1), σ = 0.1), drawn here, apart
    from the study's data. Each set is solved by its normal equations, built from its
    power sums Σxᵏ and Σxᵏy, all sets at once."""
    sets, n = 100_000, 100
    generator = torch.Generator().manual_seed(2024)
    x = torch.randn(sets, n, generator=generator, dtype=torch.float64)
    a = CUBIC / torch.tensor([1.0, 1.0, 2.0, 6.0], dtype=torch.float64)  # on xⁱ
    y = a[0] + x * (a[1] + x * (a[2] + x * a[3]))
    y += 0.1 * torch.randn(sets, n, generator=generator, dtype=torch.float64)
    powers = [torch.ones_like(x)]
    for _ in range(4):
        powers.append(powers[-1] * x)
    sums = torch.stack([p.sum(1) for p in powers], dim=1)  # (sets, 5): Σxᵏ, k = 0 … 4
    xy = torch.stack([(p * y).sum(1) for p in powers[:3]], dim=1)  # (sets, 3): Σxᵏy
    fits = {}
    for degree in (0, 1, 2):
        k = torch.arange(degree + 1)
        scale = torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64)[: degree + 1]  # i!
        gram = sums[:, k.unsqueeze(1) + k] / (scale.unsqueeze(1) * scale)  # AᵀA
        w = torch.linalg.solve(gram, (xy[:, : degree + 1] / scale).unsqueeze(-1))
        fits[degree] = w.mean(0)[:, 0]
    return fits


@pytest.mark.parametrize("degree", [0, 1, 2])
def test_a_misspecified_degrees_bias2_is_that_of_the_mean_of_many_fits(degree, mean_fits):
    """At n = 100 the mean fit of a misspecified degree is not the population's best
    fit, so the reference is the mean of 10⁵ fits to sets of that size, on the same test
    inputs: ½·mean (E ŷ − f)²."""
    model, data = fitted(degree)
    terms = decomposition(model, data)
    X_test, f = data.splits["test"].tensors[0], data.truth["test"][:, 0]
    reference = ((X_test @ mean_fits[degree] - f) ** 2 / 2).mean().item()
    assert terms["bias2"] == pytest.approx(reference, abs=2 * terms["bias2_se"])
    assert terms["bias2_se"] < reference / 10  # a comparison with something to say


@pytest.mark.parametrize("degree", [2, 3])
def test_the_terms_sum_to_the_test_loss_up_to_the_test_noises_cross_term(degree):
    model, data = fitted(degree)
    terms = decomposition(model, data)
    X_test, y = data.splits["test"].tensors
    with torch.no_grad():
        y_hat = model(X_test)[..., 0]  # (m, R)
    test_loss = ((y_hat - y) ** 2 / 2).mean().item()
    # test loss − the terms = −mean (ȳ − f)(y − f): zero in expectation, the test noise
    # being independent of the fits; its standard error is over the test inputs.
    cross = (y_hat.mean(1) - data.truth["test"][:, 0]) * (y - data.truth["test"])[:, 0]
    assert terms["terms_sum"] == pytest.approx(sum(terms[t] for t in TERMS))
    assert abs(terms["terms_sum"] - test_loss) <= 2 * (cross.std() / len(cross) ** 0.5).item()


def check_decomposition(rows: dict[int, dict]) -> None:
    """bias² + variance + noise is the measured test loss; bias² falls from degree 1 to 3
    and the variance rises from 3 to the highest degree."""
    for degree, row in rows.items():
        assert row["terms_sum"] == pytest.approx(row["test/loss"], rel=0.05), degree
    top = max(rows)
    assert rows[3]["bias2"] < rows[1]["bias2"] / 100
    assert abs(rows[3]["bias2"]) <= 2 * rows[3]["bias2_se"]
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
    assert not (study / "curves.png").exists()  # one-step fits: no curve by epoch to draw
    summary = (study / "summary.md").read_text()
    assert "bias² falls from" in summary and "zero within two standard errors" in summary


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
