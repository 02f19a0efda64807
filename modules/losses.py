"""Regression losses (d2l 3.1 and the loss-functions chapter), one implementation each.

Every regressor takes `loss: l2 | l1 | huber`; the `scratch` style computes the formula
written here, the `concise` style the torch.nn equivalent with the same definition. Each
gives every element's loss; a batch's loss is their mean (FitModule.loss), and K stacked
members' losses are K means of one call (FitModule.member_losses).
"""

import functools
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

LossName = Literal["l2", "l1", "huber"]


def l2(y_hat: Tensor, y: Tensor) -> Tensor:
    """The book's squared loss ½(y_hat − y)²."""
    return (y_hat - y) ** 2 / 2


def l1(y_hat: Tensor, y: Tensor) -> Tensor:
    """|y_hat − y|."""
    return (y_hat - y).abs()


def huber(y_hat: Tensor, y: Tensor) -> Tensor:
    """Huber's robust loss: ½(y_hat − y)² within 1 of the target, |y_hat − y| − ½ beyond."""
    error = (y_hat - y).abs()
    return torch.where(error > 1, error - 0.5, error**2 / 2)


SCRATCH = {"l2": l2, "l1": l1, "huber": huber}

# torch's versions of the same definitions; F.mse_loss has no ½, so it is halved to match.
CONCISE = {
    "l2": lambda y_hat, y: F.mse_loss(y_hat, y, reduction="none") / 2,
    "l1": functools.partial(F.l1_loss, reduction="none"),
    "huber": functools.partial(F.huber_loss, reduction="none"),  # delta = 1, as above
}
