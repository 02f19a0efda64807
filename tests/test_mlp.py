"""The MLP: both styles, any depth, three activations, dropout; the `mlp` experiment smoke run."""

import math

import pytest
import torch
from conftest import metrics, run_main
from torch import nn

from modules import MLP
from modules.mlp import dropout_layer


@pytest.mark.parametrize("style", ["scratch", "concise"])
@pytest.mark.parametrize("num_hiddens", [[256], [64, 32], []])
def test_both_styles_have_the_same_shapes_and_parameter_count(style, num_hiddens):
    model = MLP(num_hiddens=num_hiddens, style=style)
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 10)
    sizes = [784, *num_hiddens, 10]
    expected = sum(a * b + b for a, b in zip(sizes, sizes[1:], strict=False))
    assert sum(p.numel() for p in model.parameters()) == expected


def test_scratch_uses_the_books_init():
    torch.manual_seed(0)
    W = MLP(style="scratch").net.Ws[0]
    assert W.std().item() == pytest.approx(0.01, rel=0.05)
    assert torch.all(MLP(style="scratch").net.bs[0] == 0)


@pytest.mark.parametrize("style", ["scratch", "concise"])
def test_sigma_sets_the_weights_spread_in_both_styles(style):
    torch.manual_seed(0)
    weights = [p for p in MLP(sigma=0.5, style=style).parameters() if p.ndim == 2]
    biases = [p for p in MLP(sigma=0.5, style=style).parameters() if p.ndim == 1]
    for W in weights:
        assert W.std().item() == pytest.approx(0.5, rel=0.05)
    assert all(torch.all(b == 0) for b in biases)


def test_concise_without_sigma_keeps_torchs_default_init():
    torch.manual_seed(0)
    W = MLP(style="concise").net[1].weight  # nn.Linear(784, 256): U(±1/√784)
    assert W.abs().max().item() <= 1 / 784**0.5
    assert W.std().item() == pytest.approx(1 / (3 * 784) ** 0.5, rel=0.05)


@pytest.mark.parametrize("activation, f", [("relu", torch.relu), ("sigmoid", torch.sigmoid),
                                           ("tanh", torch.tanh)])
@pytest.mark.parametrize("style", ["scratch", "concise"])
def test_the_hidden_layer_applies_the_named_activation(activation, f, style):
    torch.manual_seed(0)
    model = MLP(num_inputs=3, num_hiddens=[4], num_outputs=2, activation=activation,
                style=style)
    X = torch.randn(6, 3)
    params = [p.detach() for p in model.parameters()]
    W1, W2 = [p for p in params if p.ndim == 2]
    b1, b2 = [p for p in params if p.ndim == 1]
    if style == "concise":  # nn.Linear keeps (out, in)
        W1, W2 = W1.T, W2.T
    torch.testing.assert_close(model(X), f(X @ W1 + b1) @ W2 + b2)


@pytest.mark.parametrize("style", ["scratch", "concise"])
def test_dropout_only_in_training_and_keeps_the_mean(style):
    torch.manual_seed(0)
    model = MLP(num_inputs=100, num_hiddens=[2000], num_outputs=2, dropout=0.5, style=style)
    X = torch.randn(1, 100)
    model.eval()
    assert torch.equal(model(X), model(X))
    model.train()
    assert not torch.equal(model(X), model(X))
    mean = torch.stack([model(X) for _ in range(200)]).mean(0)
    model.eval()
    torch.testing.assert_close(mean, model(X), atol=0.05, rtol=0.1)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_the_books_dropout_and_nn_dropout_have_one_law(p):
    # Each unit is 0 with probability p, else x / (1 − p), independently: so its mean is
    # x (inverted dropout keeps the expectation), in the book's layer and in torch's alike.
    torch.manual_seed(0)
    X = torch.ones(400, 500)
    n = X.numel()
    for dropped in (dropout_layer(X, p), nn.Dropout(p).train()(X)):
        kept = dropped != 0
        assert torch.allclose(dropped[kept], torch.tensor(1 / (1 - p)))
        assert abs(kept.float().mean().item() - (1 - p)) < 4 * math.sqrt(p * (1 - p) / n)
        se = math.sqrt(p / (1 - p) / n)  # sd of one unit: √(p / (1 − p)) · x
        assert abs(dropped.mean().item() - 1) < 4 * se
        # independent units: neighbours' masks are uncorrelated
        a, b = kept[:, :-1].float().flatten(), kept[:, 1:].float().flatten()
        assert abs(torch.corrcoef(torch.stack([a, b]))[0, 1].item()) < 4 / math.sqrt(len(a))
    assert torch.equal(nn.Dropout(p).eval()(X), X)  # the identity in eval mode


@pytest.mark.parametrize("style", ["scratch", "concise"])
def test_each_hidden_layer_drops_at_its_own_rate(style):
    # d2l 4.6: 0.2 after the first hidden layer, 0.5 after the second.
    model = MLP(num_hiddens=[256, 256], dropout=[0.2, 0.5], style=style)
    if style == "concise":
        assert [m.p for m in model.net if isinstance(m, nn.Dropout)] == [0.2, 0.5]
    else:
        assert model.net.dropout == [0.2, 0.5]
    with pytest.raises(ValueError, match="one per hidden layer"):
        MLP(num_hiddens=[256, 256], dropout=[0.2])


@pytest.mark.parametrize("make, message", [
    (lambda: MLP(num_hiddens=[0]), "num_hiddens must be a list of widths >= 1"),
    (lambda: MLP(dropout=1.0), "dropout must be in"),
    (lambda: MLP(activation="gelu"), "activation must be one of"),
])
def test_bad_settings_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.slow
def test_the_mlp_experiment_runs_every_member_and_draws_its_figures(logdir):
    done = run_main("mlp", "--fast", logdir=logdir)
    assert done.returncode == 0, done.stderr
    study = logdir / "mlp"
    for member in ("scratch", "relu", "sigmoid", "tanh", "tuned"):
        result = metrics(study / f"{member},seed=0")
        # 8 steps (2 epochs of 4 batches) already beat guessing: ln 10 is the loss of
        # predicting every class alike.
        assert result["status"] == "completed" and result["epochs"] == 2
        assert result["metrics"]["val/loss"] < math.log(10), member
    summary = (study / "summary.md").read_text()
    for figure in ("curves", "activations", "confusion", "misclassified"):
        assert (study / f"{figure}.png").stat().st_size > 10_000
        assert f"({figure}.png)" in summary
