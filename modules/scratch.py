"""The book's from-scratch building blocks (d2l 3.4, 4.4, 5.2): written out by hand.

The `scratch` style of every model uses these instead of torch.nn / torch.optim, so a
reader can put them beside the book. The `concise` style uses the library versions.
"""

import torch
from torch import Tensor
from torch.optim import Optimizer


def softmax(X: Tensor) -> Tensor:
    """Row-wise softmax. Subtracting the row max first keeps exp() from overflowing."""
    X_exp = torch.exp(X - X.max(dim=1, keepdim=True).values)
    return X_exp / X_exp.sum(dim=1, keepdim=True)


def log_softmax(X: Tensor) -> Tensor:
    """log softmax via log-sum-exp: log(exp(o_j) / sum_k exp(o_k)) = o_j - logsumexp(o)."""
    c = X.max(dim=1, keepdim=True).values
    return X - c - torch.log(torch.exp(X - c).sum(dim=1, keepdim=True))


def cross_entropy(y_hat: Tensor, y: Tensor) -> Tensor:
    """Each example's cross-entropy, logits `y_hat` (batch, classes) against labels `y`
    (batch,).

    Taking the log of `softmax(y_hat)` would give log(0) = -inf for large logits; the
    log-sum-exp form never leaves log space.
    """
    return -log_softmax(y_hat)[torch.arange(len(y), device=y.device), y]


def relu(X: Tensor) -> Tensor:
    return torch.max(X, torch.zeros_like(X))


class SGD(Optimizer):
    """Minibatch stochastic gradient descent, the book's update `param -= lr * grad`.

    `weight_decay` adds `wd * param` to the gradient (d2l 3.7's `l2_penalty` folded into
    the update), so the same settings mean the same thing in both styles.
    """

    def __init__(self, params, lr: float, weight_decay: float = 0.0):
        super().__init__(params, {"lr": lr, "weight_decay": weight_decay})

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    param -= group["lr"] * (param.grad + group["weight_decay"] * param)
        return loss
