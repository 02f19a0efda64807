"""Linear regression (d2l 3.1–3.5): y_hat = Xw + b, in the book's two styles."""

import torch
from torch import Tensor, nn

from modules.base import Decay, OptimizerName, Regressor, Style, check
from modules.losses import LossName


class LinearScratch(nn.Module):
    """The book's from-scratch model: own parameters w (num_inputs, 1) and b."""

    def __init__(self, num_inputs: int, sigma: float, bias: bool):
        super().__init__()
        self.w = nn.Parameter(torch.normal(0.0, sigma, (num_inputs, 1)))
        self.b = nn.Parameter(torch.zeros(1)) if bias else None

    def forward(self, X: Tensor) -> Tensor:
        y_hat = X @ self.w
        return y_hat if self.b is None else y_hat + self.b


class LinearRegression(Regressor):
    """`scratch`: own w, b, loss and SGD. `concise`: nn.Linear, torch's loss and SGD."""

    def __init__(
        self,
        num_inputs: int = 2,
        bias: bool = True,
        sigma: float = 0.01,
        style: Style = "concise",
        loss: LossName = "l2",
        lr: float = 0.03,
        optimizer: OptimizerName = "sgd",
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        decay: Decay = "optimizer",
    ):
        check(num_inputs >= 1, f"num_inputs must be >= 1, got {num_inputs}")
        check(sigma >= 0, f"sigma must be >= 0, got {sigma}")
        super().__init__(
            lr, loss=loss, optimizer=optimizer, momentum=momentum,
            weight_decay=weight_decay, style=style, decay=decay,
        )
        if style == "scratch":
            self.net = LinearScratch(num_inputs, sigma, bias)
        else:
            self.net = nn.Linear(num_inputs, 1, bias=bias)
            nn.init.normal_(self.net.weight, 0.0, sigma)  # the book's init: N(0, 0.01²)
            if bias:
                nn.init.zeros_(self.net.bias)

    def weights(self) -> tuple[Tensor, Tensor | None]:
        """The learned w as a flat vector and b (None without a bias)."""
        if self.style == "scratch":
            return self.net.w.detach().flatten(), self.net.b
        return self.net.weight.detach().flatten(), self.net.bias

    def final_metrics(self) -> dict:
        w, b = self.weights()
        metrics = {**super().final_metrics(), "w_norm": w.norm().item(), "weights": w.tolist()}
        if b is not None:
            metrics["bias"] = b.item()
        return metrics
