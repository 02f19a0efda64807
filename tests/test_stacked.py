"""Stacked members (modules/stacked.py, datamodules/stacked.py) against the one-by-one path:
the same members trained as one group end with the same weights and metrics."""

import lightning as L
import pytest
import torch

from datamodules import FashionMNISTDataModule, PolynomialData
from datamodules.stacked import StackedData
from modules import LinearRegression, SoftmaxRegression
from modules.stacked import StackedMembers

TRAINER = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, use_distributed_sampler=False,
               num_sanity_val_steps=0)
RTOL = 1e-4


def build(seed: int, model_class, model_args: dict, data_class, data_args: dict):
    """A member as Plan.instantiate builds it: seeded first, then model and data."""
    L.seed_everything(seed, verbose=False)
    return model_class(**model_args), data_class(**data_args)


def one_by_one(members, **trainer_args) -> list[dict]:
    """Each member trained by its own Trainer: its logged metrics and its weights."""
    results = []
    for model, data in members:
        trainer = L.Trainer(**TRAINER, **trainer_args)
        trainer.fit(model, datamodule=data)
        results.append({"metrics": dict(trainer.callback_metrics), "model": model,
                        "data": data})
    return results


def stacked(members, **trainer_args) -> StackedMembers:
    group = StackedMembers([model for model, _ in members])
    data = StackedData([data for _, data in members])
    L.Trainer(**TRAINER, **trainer_args).fit(group, datamodule=data)
    return group


def train_split_metrics(model, data) -> dict[str, float]:
    """The plain model scored on its training split in eval mode: what `train/*` is."""
    X, y = data.splits["train"].tensors
    with torch.no_grad():
        y_hat = model.eval()(X)
        metrics = {"train/loss": model.loss(y_hat, y).item()}
        if y_hat.ndim == 2 and y_hat.shape[1] > 1:
            metrics["train/acc"] = (y_hat.argmax(1) == y).float().mean().item()
    return metrics


def assert_same(group: StackedMembers, references: list[dict]) -> None:
    for k, ref in enumerate(references):
        plain = ref["model"]
        member = group.member_state_dict(k)
        for name, value in plain.state_dict().items():
            torch.testing.assert_close(member[name], value, rtol=RTOL, atol=1e-6)
        for tag in ("loss", "acc"):
            if f"train/{tag}" in ref["metrics"]:
                # Today's FitModule logs the running mean of its steps under train/*.
                assert group.epoch_metrics[f"train_running/{tag}"][k].item() == pytest.approx(
                    ref["metrics"][f"train/{tag}"].item(), rel=RTOL)
                assert group.epoch_metrics[f"val/{tag}"][k].item() == pytest.approx(
                    ref["metrics"][f"val/{tag}"].item(), rel=RTOL)
        ref["data"].setup()
        for tag, value in train_split_metrics(plain, ref["data"]).items():
            assert group.epoch_metrics[tag][k].item() == pytest.approx(value, rel=RTOL)


def polynomial_members(variants: list[dict]) -> list:
    members = []
    for variant in variants:
        model_args = dict(num_inputs=4, bias=False, lr=0.02)
        model_args.update(variant.get("model", {}))
        data_args = dict(degree=3, batch_size=10, num_train=100, num_val=100)
        data_args.update(variant.get("data", {}))
        members.append(build(variant.get("seed", 0), LinearRegression, model_args,
                             PolynomialData, data_args))
    return members


POLYNOMIAL = [
    {"seed": 0},
    {"seed": 1},
    {"seed": 2, "data": {"seed": 2}},  # its own data and batch order
    {"seed": 0, "model": {"weight_decay": 0.3}},
    {"seed": 0, "model": {"weight_decay": 0.3, "decay": "penalty"}},
    {"seed": 3, "model": {"lr": 0.05, "weight_decay": 0.1}},
]


def test_polynomial_members_differing_in_seed_and_weight_decay_match_one_by_one():
    args = dict(max_epochs=12, check_val_every_n_epoch=4)
    group = stacked(polynomial_members(POLYNOMIAL), **args)
    assert_same(group, one_by_one(polynomial_members(POLYNOMIAL), **args))


def test_momentum_and_cosine_schedule_match_one_by_one():
    variants = [{"seed": s, "model": {"lr": lr, "weight_decay": wd}}
                for s, lr, wd in [(0, 0.01, 0.0), (1, 0.02, 0.1), (2, 0.005, 0.3)]]
    for v in variants:
        v["model"].update(momentum=0.9, style="concise")
    args = dict(max_epochs=6)
    group = stacked(polynomial_members(variants), **args)
    assert_same(group, one_by_one(polynomial_members(variants), **args))


def test_kfold_members_differing_in_fold_match_one_by_one():
    folds = [{"data": {"fold": k, "num_folds": 5}} for k in range(5)]
    args = dict(max_epochs=8, check_val_every_n_epoch=4)
    group = stacked(polynomial_members(folds), **args)
    assert_same(group, one_by_one(polynomial_members(folds), **args))


def test_seeds_of_softmax_regression_on_fashion_mnist_match_one_by_one():
    def members():
        return [build(seed, SoftmaxRegression, dict(lr=0.1),
                      FashionMNISTDataModule, dict(batch_size=64, train_size=512, val_size=256))
                for seed in range(3)]

    group = stacked(members(), max_epochs=2)
    assert group.epoch_metrics["val/acc"].shape == (3,)
    assert_same(group, one_by_one(members(), max_epochs=2))
