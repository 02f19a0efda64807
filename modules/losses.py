"""Regression losses (d2l 3.1 and the loss-functions chapter), one implementation each.

Every regressor takes `loss: l2 | l1 | huber`; the `scratch` style computes the formula
written here, the `concise` style the torch.nn equivalent with the same definition.
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

LossName = Literal["l2", "l1", "huber"]


def l2(y_hat: Tensor, y: Tensor) -> Tensor:
    """The book's squared loss ½(y_hat − y)², averaged over the batch."""
    return ((y_hat - y) ** 2 / 2).mean()


def l1(y_hat: Tensor, y: Tensor) -> Tensor:
    """|y_hat − y|, averaged over the batch."""
    return (y_hat - y).abs().mean()


def huber(y_hat: Tensor, y: Tensor) -> Tensor:
    """Huber's robust loss: ½(y_hat − y)² within 1 of the target, |y_hat − y| − ½ beyond."""
    error = (y_hat - y).abs()
    return torch.where(error > 1, error - 0.5, error**2 / 2).mean()


SCRATCH = {"l2": l2, "l1": l1, "huber": huber}

# torch's versions of the same definitions; F.mse_loss has no ½, so it is halved to match.
CONCISE = {
    "l2": lambda y_hat, y: F.mse_loss(y_hat, y) / 2,
    "l1": F.l1_loss,
    "huber": F.huber_loss,  # delta = 1, as above
}
