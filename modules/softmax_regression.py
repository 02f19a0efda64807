"""Softmax regression (d2l 4.1–4.5): logits = flatten(X) W + b over 10 classes."""

import torch
from torch import Tensor, nn

from modules.base import Classifier, OptimizerName, Schedule, Style, check


class SoftmaxScratch(nn.Module):
    """The book's from-scratch model: own W (num_inputs, num_outputs) ~ N(0, sigma²), b = 0."""

    def __init__(self, num_inputs: int, num_outputs: int, sigma: float):
        super().__init__()
        self.W = nn.Parameter(torch.normal(0.0, sigma, (num_inputs, num_outputs)))
        self.b = nn.Parameter(torch.zeros(num_outputs))

    def forward(self, X: Tensor) -> Tensor:
        return X.reshape(-1, self.W.shape[0]) @ self.W + self.b  # (batch, num_outputs) logits


class SoftmaxRegression(Classifier):
    """`scratch`: own softmax cross-entropy (log-sum-exp) and SGD. `concise`: nn.Linear."""

    def __init__(
        self,
        num_inputs: int = 784,
        num_outputs: int = 10,
        sigma: float = 0.01,
        style: Style = "concise",
        lr: float = 0.1,
        optimizer: OptimizerName = "sgd",
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        schedule: Schedule = "constant",
    ):
        check(num_inputs >= 1, f"num_inputs must be >= 1, got {num_inputs}")
        super().__init__(
            lr, num_outputs, optimizer=optimizer, momentum=momentum,
            weight_decay=weight_decay, style=style, schedule=schedule,
        )
        if style == "scratch":
            self.net = SoftmaxScratch(num_inputs, num_outputs, sigma)
        else:
            linear = nn.Linear(num_inputs, num_outputs)
            nn.init.normal_(linear.weight, 0.0, sigma)
            nn.init.zeros_(linear.bias)
            self.net = nn.Sequential(nn.Flatten(), linear)
