"""Multilayer perceptrons (d2l 5.1–5.2, 5.6): flatten, then hidden layers, then logits."""

from itertools import pairwise
from typing import Literal

import torch
from torch import Tensor, nn

from modules import scratch
from modules.base import Classifier, OptimizerName, Schedule, Style, check

ActivationName = Literal["relu", "sigmoid", "tanh"]

# The scratch style writes its own relu (d2l 5.2.1); sigmoid and tanh are torch's in both.
SCRATCH_ACTIVATIONS = {"relu": scratch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}
CONCISE_ACTIVATIONS = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh}


def dropout_layer(X: Tensor, dropout: float) -> Tensor:
    """The book's dropout (d2l 5.6.2): zero each unit with probability `dropout`, scale the
    survivors by 1 / (1 - dropout) so the expected value is unchanged."""
    mask = (torch.rand_like(X) > dropout).float()
    return mask * X / (1.0 - dropout)


class MLPScratch(nn.Module):
    """The book's from-scratch MLP: own W_i ~ 0.01·N(0, 1) and b_i = 0 per layer, and its
    own dropout after each hidden layer (`dropout`: one rate per hidden layer)."""

    def __init__(self, sizes: list[int], sigma: float, activation: ActivationName,
                 dropout: list[float]):
        super().__init__()
        self.num_inputs = sizes[0]
        self.Ws = nn.ParameterList(torch.randn(a, b) * sigma for a, b in pairwise(sizes))
        self.bs = nn.ParameterList(torch.zeros(b) for b in sizes[1:])
        self.activation, self.dropout = SCRATCH_ACTIVATIONS[activation], dropout

    def forward(self, X: Tensor) -> Tensor:
        H = X.reshape(-1, self.num_inputs)  # (batch, num_inputs)
        # Indexed, never sliced: a slice of a ParameterList wraps each entry in a new
        # Parameter, which under torch.func.functional_call (a group's vmap) would cut the
        # swapped-in weights out of the graph.
        for i, rate in enumerate(self.dropout):
            H = self.activation(H @ self.Ws[i] + self.bs[i])
            if self.training and rate > 0:
                H = dropout_layer(H, rate)
        return H @ self.Ws[-1] + self.bs[-1]  # (batch, num_outputs) logits


def concise_mlp(sizes: list[int], sigma: float | None, activation: ActivationName,
                dropout: list[float]) -> nn.Sequential:
    """nn.Sequential of Linear layers: torch's default init, as the book's concise MLP, or
    weights ~ N(0, sigma²) and zero biases when sigma is given; nn.Dropout after each
    hidden layer at its rate (`dropout`, one per hidden layer). At rate 0 the layer returns
    its input and draws nothing, and MLPs that differ in their rates alone keep the same
    layers, so they train as one group (members/layers.py)."""
    layers: list[nn.Module] = [nn.Flatten()]
    for (a, b), rate in zip(pairwise(sizes[:-1]), dropout, strict=True):
        layers += [nn.Linear(a, b), CONCISE_ACTIVATIONS[activation](), nn.Dropout(rate)]
    layers.append(nn.Linear(sizes[-2], sizes[-1]))
    if sigma is not None:
        for linear in (layer for layer in layers if isinstance(layer, nn.Linear)):
            nn.init.normal_(linear.weight, 0.0, sigma)
            nn.init.zeros_(linear.bias)
    return nn.Sequential(*layers)


class MLP(Classifier):
    """`scratch`: own parameters, relu and SGD. `concise`: nn.Sequential and torch.optim.

    Args:
        num_hiddens: the widths of the hidden layers, e.g. [256] or [256, 128].
        activation: the nonlinearity after each hidden layer: relu, sigmoid or tanh.
        dropout: the probability of zeroing each hidden unit while training (d2l 5.6).
        sigma: weights ~ N(0, sigma²) and zero biases; None keeps the style's book init.
    """

    # Each member's own activation and dropout rates, on its own rows (members/layers.py).
    VARY_WITHIN_GROUP = (*Classifier.VARY_WITHIN_GROUP, "activation", "dropout")

    def __init__(
        self,
        num_inputs: int = 784,
        num_hiddens: list[int] = [256],  # noqa: B006 (jsonargparse shows it as the default)
        num_outputs: int = 10,
        activation: ActivationName = "relu",
        dropout: float | list[float] = 0.0,  # one rate for every hidden layer, or one each
        sigma: float | None = None,  # weights ~ N(0, sigma²); None: the style's book init
        style: Style = "concise",
        lr: float = 0.1,
        optimizer: OptimizerName = "sgd",
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        schedule: Schedule = "constant",
    ):
        check(num_inputs >= 1, f"num_inputs must be >= 1, got {num_inputs}")
        check(all(n >= 1 for n in num_hiddens),
              f"num_hiddens must be a list of widths >= 1, got {num_hiddens}")
        check(activation in CONCISE_ACTIVATIONS,
              f"activation must be one of relu, sigmoid, tanh, got {activation!r}")
        rates = dropout if isinstance(dropout, list) else [dropout] * len(num_hiddens)
        check(len(rates) == len(num_hiddens), f"dropout must be one rate or one per hidden "
              f"layer ({len(num_hiddens)}), got {dropout}")
        check(all(0 <= rate < 1 for rate in rates), f"dropout must be in [0, 1), got {dropout}")
        check(sigma is None or sigma >= 0, f"sigma must be >= 0, got {sigma}")
        super().__init__(
            lr, num_outputs, optimizer=optimizer, momentum=momentum,
            weight_decay=weight_decay, style=style, schedule=schedule,
        )
        sizes = [num_inputs, *num_hiddens, num_outputs]
        if style == "scratch":  # the book's W ~ 0.01·N(0, 1) unless sigma says otherwise
            self.net = MLPScratch(sizes, 0.01 if sigma is None else sigma, activation, rates)
        else:
            self.net = concise_mlp(sizes, sigma, activation, rates)
