"""The book's polynomial: its data and folds, and the polynomial study end to end."""

import json

import pytest
import torch
from conftest import metrics, run_cli

from datamodules import PolynomialData
from datamodules.polynomial import features, fold_indices


def splits(**kwargs) -> dict:
    data = PolynomialData(**kwargs)
    data.setup()
    return data.splits


def test_features_are_the_powers_of_x_over_their_factorials():
    x = torch.tensor([[2.0], [-1.0]])
    expected = torch.tensor([[1, 2, 4 / 2, 8 / 6], [1, -1, 1 / 2, -1 / 6]])
    torch.testing.assert_close(features(x, 3), expected)


def test_every_degree_sees_the_same_examples_and_its_share_of_the_truth():
    low, high = PolynomialData(degree=1), PolynomialData(degree=19)
    low.setup(), high.setup()
    for name in ("train", "val", "test"):
        (X1, y1), (X19, y19) = low.splits[name].tensors, high.splits[name].tensors
        assert X1.shape[1] == 2 and X19.shape[1] == 20 and len(X1) == 100
        torch.testing.assert_close(X1, X19[:, :2])
        torch.testing.assert_close(y1, y19)
    assert low.true_w.tolist() == pytest.approx([5.0, 1.2])
    assert high.true_w.tolist() == pytest.approx([5.0, 1.2, -3.4, 5.6] + [0.0] * 16)
    # The noise is the book's: N(0, 0.1²) around the true cubic.
    X, y = splits(degree=3)["train"].tensors
    residual = y[:, 0] - X @ torch.tensor([5.0, 1.2, -3.4, 5.6])
    assert 0.07 < residual.std().item() < 0.13


@pytest.mark.parametrize("n, num_folds", [(100, 5), (100, 3), (7, 7)])
def test_folds_are_disjoint_and_cover_the_examples(n, num_folds):
    folds = fold_indices(n, num_folds)
    assert len(folds) == num_folds
    assert sorted(torch.cat(folds).tolist()) == list(range(n))  # disjoint and covering
    assert max(map(len, folds)) - min(map(len, folds)) <= 1


def rows(X: torch.Tensor) -> list[tuple]:
    return sorted(tuple(row.tolist()) for row in X)


def test_each_fold_validates_on_its_own_examples_and_trains_on_the_rest():
    usual = splits()
    X = usual["train"].tensors[0]
    validated = []
    for fold in range(5):
        split = splits(fold=fold)
        X_train, X_val = split["train"].tensors[0], split["val"].tensors[0]
        assert len(X_train) == 80 and len(X_val) == 20
        assert rows(torch.cat([X_train, X_val])) == rows(X)  # the training data, once each
        validated.append(X_val)
        torch.testing.assert_close(split["test"].tensors[0], usual["test"].tensors[0])
    assert rows(torch.cat(validated)) == rows(X)  # every example validated exactly once


@pytest.mark.parametrize("kwargs, named", [
    ({"degree": 20}, "degree"),
    ({"num_folds": 1}, "num_folds"),
    ({"fold": 5}, "fold"),
])
def test_bad_settings_name_the_argument(kwargs, named):
    with pytest.raises(ValueError, match=named):
        PolynomialData(**kwargs)


@pytest.mark.slow
def test_polynomial_underfits_fits_and_draws_its_capacity_curve(logdir):
    # The book's settings; a capacity curve over degrees 1 (underfit), 3 (normal) and 19.
    members = {"underfit": {"data.degree": 1}, "normal": {"data.degree": 3}}
    done = run_cli("polynomial", "--study.members", json.dumps(members),
                   "--study.grid", json.dumps({"data.degree": [19]}),
                   "--trainer.enable_progress_bar", "false", logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "polynomial"
    normal = metrics(study / "normal")["metrics"]
    assert normal["weights"] == pytest.approx([5, 1.2, -3.4, 5.6], abs=0.1)
    assert metrics(study / "underfit")["metrics"]["train/loss"] > 1
    val = {row["data.degree"]: row["val/loss"]
           for row in json.loads((study / "summary.json").read_text())}
    assert val[3] < val[1] and val[3] < val[19]
    rows = {row["member"]: row for row in json.loads((study / "summary.json").read_text())}
    assert rows["degree=19"]["model.num_inputs"] == 20  # follows the degree
    assert rows["underfit"]["verdict"] == "underfitting"
    assert rows["normal"]["verdict"] == "good fit"
    assert (study / "fits.png").exists() and (study / "capacity.png").exists()
    assert "**Verdict**" in (study / "summary.md").read_text()
