"""Members trained as one group (members/) and one by one, for the test_members_* files:
how a test builds them, trains them both ways and compares what each ends with."""

import lightning as L
import pytest
import torch

from datamodules import FashionMNISTDataModule, PolynomialData
from members.data import StackedData
from members.stacked import StackedMembers
from modules import LinearRegression, SoftmaxRegression

TRAINER = dict(logger=False, enable_checkpointing=False, enable_progress_bar=False,
               enable_model_summary=False, use_distributed_sampler=False,
               num_sanity_val_steps=0)
RTOL = 1e-5  # a group against its members one by one, on CPU


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


def stacked(members, early_stopping: dict | None = None, **trainer_args) -> StackedMembers:
    group = StackedMembers([model for model, _ in members], early_stopping=early_stopping)
    data = StackedData([data for _, data in members])
    L.Trainer(**TRAINER, **trainer_args).fit(group, datamodule=data)
    return group


def train_split_metrics(model, data) -> dict[str, float]:
    """The plain model scored in eval mode on the training examples `train/*` is over."""
    X, y = data.splits["train_eval"].tensors
    with torch.no_grad():
        y_hat = model.eval()(X)
        metrics = {"train/loss": model.loss(y_hat, y).item()}
        if y_hat.ndim == 2 and y_hat.shape[1] > 1:
            metrics["train/acc"] = (y_hat.argmax(1) == y).float().mean().item()
    return metrics


def assert_same(group: StackedMembers, references: list[dict],
                members: list[int] | None = None) -> None:
    """Group members `members` (default: all, in order) against their one-by-one runs."""
    for k, ref in zip(members or range(len(references)), references, strict=True):
        plain = ref["model"]
        member = group.member_state_dict(k)
        for name, value in plain.state_dict().items():
            torch.testing.assert_close(member[name], value, rtol=RTOL, atol=1e-6)
        logged = ref["metrics"]
        for tag in ("loss", "acc") if group.classifier else ("loss",):
            running = f"train_running/{tag}"
            assert group.epoch_metrics[running][k].item() == pytest.approx(
                logged[running].item(), rel=RTOL)
            assert group.epoch_metrics[f"val/{tag}"][k].item() == pytest.approx(
                logged[f"val/{tag}"].item(), rel=RTOL)
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


def fashion_members(variants: list[dict]) -> list:
    data_args = dict(batch_size=64, train_size=512, val_size=256)
    return [build(v.get("seed", 0), SoftmaxRegression, {"lr": 0.1, **v.get("model", {})},
                  FashionMNISTDataModule, data_args) for v in variants]
