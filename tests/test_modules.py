"""The models: the scratch pieces equal PyTorch's, and each family learns."""

import pytest
import torch
from torch import nn

from modules import MLP, LinearRegression, SoftmaxRegression, losses, scratch


@pytest.mark.parametrize("scale", [1.0, 100.0, 1e4])
def test_scratch_cross_entropy_equals_pytorch_even_for_large_logits(scale):
    torch.manual_seed(0)
    logits, y = torch.randn(64, 10) * scale, torch.randint(0, 10, (64,))
    ours = scratch.cross_entropy(logits, y)
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, nn.functional.cross_entropy(logits, y, reduction="none"))


def test_scratch_softmax_equals_pytorch_and_sums_to_one():
    logits = torch.randn(32, 10) * 50
    torch.testing.assert_close(scratch.softmax(logits), torch.softmax(logits, dim=1))
    torch.testing.assert_close(scratch.softmax(logits).sum(1), torch.ones(32))


@pytest.mark.parametrize("name", ["l2", "l1", "huber"])
def test_scratch_and_concise_losses_agree(name):
    y_hat, y = torch.randn(100, 1) * 3, torch.randn(100, 1)
    torch.testing.assert_close(losses.SCRATCH[name](y_hat, y), losses.CONCISE[name](y_hat, y))


def test_huber_is_quadratic_near_zero_and_linear_beyond_one():
    y = torch.zeros(2, 1)
    assert losses.huber(torch.tensor([[0.5], [3.0]]), y).flatten().tolist() == [0.125, 2.5]


def test_scratch_sgd_is_param_minus_lr_grad():
    param = nn.Parameter(torch.tensor([1.0, -2.0]))
    param.grad = torch.tensor([0.5, 0.5])
    scratch.SGD([param], lr=0.1).step()
    torch.testing.assert_close(param.detach(), torch.tensor([0.95, -2.05]))


@pytest.mark.parametrize("style", ["scratch", "concise"])
def test_both_styles_have_the_same_shapes_and_parameter_count(style):
    model = SoftmaxRegression(style=style)
    assert model(torch.rand(5, 1, 28, 28)).shape == (5, 10)
    assert sum(p.numel() for p in model.parameters()) == 784 * 10 + 10
    linear = LinearRegression(style=style)
    assert linear(torch.rand(5, 2)).shape == (5, 1)
    w, b = linear.weights()
    assert w.shape == (2,) and b.shape == (1,)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: SoftmaxRegression(lr=0), "lr must be > 0"),
        (lambda: SoftmaxRegression(momentum=1.0), "momentum"),
        (lambda: LinearRegression(weight_decay=-1), "weight_decay"),
        (lambda: LinearRegression(loss="l3"), "loss must be one of"),
        (lambda: SoftmaxRegression(style="scratch", optimizer="adam"), "style scratch"),
    ],
)
def test_bad_settings_name_the_argument(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_epoch_loss_is_the_mean_over_samples_not_over_batches():
    torch.manual_seed(0)
    model = SoftmaxRegression(num_inputs=4, num_outputs=3)
    X, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    for batch in ((X[:4], y[:4]), (X[4:], y[4:])):  # uneven batches: 4 samples, then 1
        model.score(batch, "val")
    per_sample = nn.functional.cross_entropy(model(X), y)
    torch.testing.assert_close(model.val_metrics["loss"].compute(), per_sample)


def test_train_is_scored_like_val_on_the_final_weights_not_as_a_running_mean():
    import lightning as L

    from datamodules import LinearRegressionData

    L.seed_everything(0, verbose=False)
    # lr 0.1 from w ≈ 0: the weights change a lot within the one epoch, so the running
    # mean over its minibatches is far from the loss of the weights it ends with.
    model, data = LinearRegression(lr=0.1), LinearRegressionData(num_train=200, num_val=50)
    trainer = L.Trainer(max_epochs=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, use_distributed_sampler=False)
    trainer.fit(model, datamodule=data)
    logged = trainer.callback_metrics
    # Scored over a fixed subset of the training split as large as val.
    X, y = data.splits["train_eval"].tensors
    train_x = set(data.splits["train"].tensors[0][:, 0].tolist())
    assert len(X) == 50 and set(X[:, 0].tolist()) <= train_x
    with torch.no_grad():
        final_weights_loss = losses.CONCISE["l2"](model.eval()(X), y).mean()
    torch.testing.assert_close(logged["train/loss"], final_weights_loss)
    assert logged["train_running/loss"] > 2 * logged["train/loss"]


def test_w_norm_is_the_norm_of_the_weights_decay_acts_on():
    # Two weight matrices of ones (3·4 and 4·2 entries), biases left out: √(12 + 8).
    model = MLP(num_inputs=3, num_hiddens=[4], num_outputs=2)
    with torch.no_grad():
        for name, p in model.net.named_parameters():
            p.fill_(1.0 if name.endswith("weight") else 5.0)
    assert model.final_metrics()["w_norm"] == pytest.approx(20**0.5)
