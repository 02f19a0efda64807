"""The book's polynomial: its data and folds, and the polynomial study end to end."""

import json
import math
import statistics
from collections import Counter

import pytest
import torch
from conftest import metrics

from datamodules import PolynomialData
from datamodules.polynomial import features, fold_indices
from experiments.engine import config, registry
from experiments.engine.cli import main
from experiments.studies.polynomial import Polynomial, dominated, spread


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


def test_eval_in_train_range_draws_val_and_test_inside_the_training_x_and_keeps_train():
    usual, inside = splits(degree=1), splits(degree=1, eval_in_train_range=True)
    torch.testing.assert_close(inside["train"].tensors, usual["train"].tensors)
    x = usual["train"].tensors[0][:, 1]
    for name in ("val", "test"):
        x_eval = inside[name].tensors[0][:, 1]
        assert x.min() <= x_eval.min() and x_eval.max() <= x.max()
        assert len(x_eval) == 100
    # Without the option some held-out x lie beyond the training x (seed 0: x = −2.61).
    outside = usual["val"].tensors[0][:, 1]
    assert outside.min() < x.min() or outside.max() > x.max()


@pytest.mark.slow
def test_fits_trained_to_convergence_underfit_fit_and_overfit_over_ten_training_sets(logdir):
    # The default reliable setup (closed form, 50 examples, 10 fresh training sets), with
    # the grid cut to two validation points.
    members = {"underfit": {"data.degree": 1}, "normal": {"data.degree": 3},
               "overfit": {"data.degree": 19}}
    # Without the book's members, the roles name the converged fits alone.
    roles = {"converged": list(members)}
    assert main(["polynomial", "--logdir", str(logdir), "--study.members", json.dumps(members),
                 "--study.roles", json.dumps(roles), "--study.grid", '{"data.degree": [0, 10]}',
                 "--trainer.enable_progress_bar", "false"]) == 0
    study = logdir / "polynomial"
    rows = {row["member"]: row for row in json.loads((study / "summary.json").read_text())}
    assert rows["underfit"]["verdict"] == "underfitting"
    assert rows["normal"]["verdict"] == "good fit"
    assert rows["overfit"]["verdict"] == "overfitting"
    assert all(rows[m]["seeds"] == 10 for m in members)  # closed forms: 10 training sets
    overfit = rows["overfit"]
    assert overfit["test/loss"] >= 3 * overfit["train/loss"]
    seeds = [metrics(study / f"normal,seed={k}")["metrics"]["weights"] for k in range(5)]
    mean_weights = torch.tensor(seeds).mean(0)
    assert mean_weights.tolist() == pytest.approx([5, 1.2, -3.4, 5.6], abs=0.1)
    # Each seed its own training set; the degree grid is a validation curve, never tested.
    assert seeds[0] != seeds[1]
    assert "test/loss" not in rows["degree=10"] and "test/loss" in rows["normal"]
    assert rows["degree=10"]["model.num_inputs"] == 11  # follows the degree
    assert (study / "fits.png").exists() and (study / "capacity.png").exists()
    summary = (study / "summary.md").read_text()
    assert summary.index("**Takeaway.** Fitted to convergence") < summary.index("| member")
    assert "degree 19 is overfitting" in summary and "geometric mean" in summary


@pytest.mark.slow
def test_the_whole_default_study_runs_fast_with_the_books_members(logdir):
    assert main(["polynomial", "--fast", "--logdir", str(logdir),
                 "--trainer.enable_progress_bar", "false"]) == 0
    rows = {row["member"]: row for row in
            json.loads((logdir / "polynomial" / "summary.json").read_text())}
    assert {"book_underfit", "book_normal", "book_overfit", "book_overfit_converged",
            "underfit", "normal", "overfit", "degree=0", "degree=18"} <= rows.keys()
    assert rows["book_overfit"]["model.class_path"] == "modules.LinearRegression"
    assert rows["overfit"]["model.class_path"] == "modules.LeastSquares"
    assert (logdir / "polynomial" / "curves.png").exists()  # the book's SGD members' curves


def line_loss(w: torch.Tensor, split) -> float:
    X, y = split.tensors
    return ((X.double() @ w - y.double()) ** 2).mean().item() / 2


def test_a_lines_val_loss_is_below_its_train_loss_because_val_stays_in_the_train_range():
    # What polynomial's notes say of degree 1, against the data's own law: over many
    # training sets of 100, a least-squares line scores lower on validation x drawn inside
    # the training range than on its training points, and higher on x from all of N(0, 1).
    train, inside, everywhere, extremes = [], [], [], []
    for seed in range(200):
        data = PolynomialData(degree=1, num_val=2000, num_test=2000, seed=seed)
        data.setup()
        X, y = data.splits["train"].tensors
        w = torch.linalg.lstsq(X.double(), y.double()).solution
        train.append(line_loss(w, data.splits["train"]))
        errors = ((X.double() @ w - y.double()) ** 2).flatten().sort(descending=True).values
        extremes.append((errors[:2].sum() / errors.sum()).item())
        everywhere.append(line_loss(w, data.splits["val"]))
        restricted = PolynomialData(degree=1, num_val=2000, seed=seed, eval_in_train_range=True)
        restricted.setup()
        assert torch.equal(restricted.splits["train"].tensors[0], X)  # the same training set
        inside.append(line_loss(w, restricted.splits["val"]))
    mean = statistics.fmean
    assert mean(inside) < 0.8 * mean(train) < 0.8 * mean(everywhere), (
        mean(inside), mean(train), mean(everywhere))
    # The notes' numbers: about 3, 5 and 6, and the two largest errors about half of train.
    assert mean(inside) == pytest.approx(3.2, rel=0.2)
    assert mean(train) == pytest.approx(5.2, rel=0.2)
    assert mean(everywhere) == pytest.approx(5.9, rel=0.2)
    assert 0.35 < mean(extremes) < 0.6


def test_a_mean_one_seed_dominates_is_shown_with_its_median_and_geometric_mean():
    values = [0.0086, 0.0052, 0.032, 0.0048, 191.2]  # book_overfit_converged's test/loss
    assert dominated(values) and not dominated([1.0, 1.1, 0.9])
    text = spread(values)
    # By hand: the median is the middle value; the geometric mean exp(mean(log v)).
    geometric = math.exp(sum(math.log(v) for v in values) / 5)
    assert "median 0.0086" in text and f"geometric mean {geometric:.3g}" in text
    assert text.startswith(f"mean {sum(values) / 5:.3g} ± ")


def test_fits_in_closed_form_run_ten_training_sets_and_the_books_sgd_members_five():
    _, plan = config.plan(registry.load("polynomial"), [])
    seeds = Counter(m.base_name for m in plan.members)
    assert seeds["book_overfit"] == seeds["book_normal"] == 5  # thousands of SGD steps each
    assert seeds["overfit"] == seeds["book_overfit_converged"] == seeds["degree=10"] == 10


def test_the_members_the_prose_speaks_of_are_declared_roles_checked_at_plan_time():
    roles = registry.load("polynomial").defaults["study"]["init_args"]["roles"]
    members = {name: {} for name in ("book_underfit", "book_normal", "book_overfit",
                                     "book_overfit_converged", "underfit", "normal")}
    with pytest.raises(ValueError, match="--study.roles.converged: overfit is not a member"):
        Polynomial(members=members, roles=roles).selected_members()
    with pytest.raises(ValueError, match="--study.roles.book: Polynomial needs 3 members"):
        Polynomial(members=members, roles={**roles, "book": ["book_normal"]}).selected_members()
    # The book's roles may be left out with the book's members: the converged fits alone.
    converged = {name: {} for name in roles["converged"]}
    study = Polynomial(members=converged, roles={"converged": roles["converged"]})
    assert list(study.selected_members()) == roles["converged"] and study.role("book") == []
