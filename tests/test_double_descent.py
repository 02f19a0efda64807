"""Double descent: random ReLU features with a minimum-norm least-squares readout, and
the study end to end on Fashion-MNIST."""

import json

import lightning as L
import pytest
import torch
from conftest import run_main

from experiments.engine import registry
from modules import RandomFeatures


def images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n non-negative 'images' (n, 1, 6, 6) and labels over 10 classes."""
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 6, 6, generator=generator),
            torch.randint(0, 10, (n,), generator=generator))


def fitted(num_features: int, X: torch.Tensor, y: torch.Tensor) -> RandomFeatures:
    L.seed_everything(0, verbose=False)
    model = RandomFeatures(num_inputs=36, num_features=num_features)
    model.fit(X, y)
    return model


def test_beyond_as_many_features_as_examples_the_fit_interpolates_with_the_least_norm():
    X, y = images(30)
    few, many = fitted(10, X, y), fitted(120, X, y)
    assert few.loss(few(X), y) > 0.01  # 10 features cannot fit 30 examples
    assert many.loss(many(X), y) < 1e-20  # 120 can, exactly
    features, readout = many.net
    w = readout.w[0]  # (120, 10)
    # The minimum-norm interpolant lies in the row space of the training features.
    Phi = features(X).double()
    in_row_space = Phi.T @ torch.linalg.lstsq(Phi.T, w).solution
    torch.testing.assert_close(in_row_space, w)
    # The features are centred on the training images' mean: not all one sign.
    assert torch.allclose(features.mean, X.flatten(1).mean(0))


def test_the_checkpoint_keeps_the_fit_but_not_the_random_projection():
    X, y = images(30)
    model = fitted(50, X, y)
    state = model.state_dict()
    assert "net.1.w" in state and "net.0.mean" in state and "net.0.W" not in state
    L.seed_everything(0, verbose=False)  # the run's seed rebuilds the projection
    restored = RandomFeatures(num_inputs=36, num_features=50)
    restored.load_state_dict(state)
    torch.testing.assert_close(restored(X), model(X))


def peak_and_minima(rows: list[dict]) -> tuple[dict, dict, dict]:
    rows = sorted(rows, key=lambda row: row["params"])
    i = max(range(len(rows)), key=lambda k: rows[k]["test/loss"])
    assert 0 < i < len(rows) - 1, "the test loss must peak inside the sweep"
    return (rows[i], min(rows[:i], key=lambda row: row["test/loss"]),
            min(rows[i + 1 :], key=lambda row: row["test/loss"]))


@pytest.mark.slow  # a whole study: tens of seconds
def test_fast_smoke_run_completes(logdir):
    grid = json.dumps({"model.num_features": [25, 100, 400]})
    done = run_main("double_descent", "--fast", "--data.train_size", "100",
                   "--data.batch_size", "100", "--study.grid", grid, logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "double_descent"
    rows = json.loads((study / "summary.json").read_text())
    assert [(row["params"], row["n_train"]) for row in rows] == [(25, 100), (100, 100),
                                                                 (400, 100)]
    assert (study / "num_features=100" / "checkpoints" / "last.ckpt").exists()
    assert (study / "double_descent.png").exists()


@pytest.mark.slow
def test_test_loss_peaks_at_the_interpolation_threshold_at_the_defaults(logdir):
    done = run_main("double_descent", logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "double_descent"
    rows = json.loads((study / "summary.json").read_text())
    peak, left, right = peak_and_minima(rows)
    n = peak["n_train"]
    assert n / 2 <= peak["params"] <= 2 * n
    assert peak["test/loss"] >= 2 * left["test/loss"]
    assert peak["test/loss"] >= 2 * right["test/loss"]
    assert right["test/acc"] > peak["test/acc"] + 0.3
    assert "the test loss peaks at p = " in (study / "summary.md").read_text()


def test_both_new_experiments_sit_in_course_order():
    names = registry.names()
    assert (names.index("kfold") < names.index("bias_variance")
            < names.index("double_descent") < names.index("capacity"))
