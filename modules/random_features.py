"""Random ReLU features with a least-squares readout: the classic model of double descent
(Belkin et al., 2019). A fixed random projection maps each image to `num_features`
ReLU features; only the linear readout is fitted, in closed form, to one-hot targets.
With as many features as training examples the fit interpolates through a nearly
singular system; beyond, the minimum-norm interpolant is smooth again.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from modules import losses
from modules.base import Classifier, check
from modules.least_squares import ClosedForm, Readout


class RandomReLU(nn.Module):
    """x (N, ...) -> relu((x − μ) W), W (num_inputs, num_features) ~ N(0, 1/num_inputs)
    fixed, μ the training inputs' mean (fitted, see `center`).

    Centering matters: pixels are never negative, so without it every x·Wⱼ is dominated
    by the sign of Wⱼ's sum, and some features fire on only one or two training images;
    their large readout weights then blow up the test images that fire them.
    W comes from the global generator like any initialisation (the run's seed decides it)
    and is rebuilt from that seed rather than saved: at 8000 features it would put 25 MB
    in every checkpoint.
    """

    def __init__(self, num_inputs: int, num_features: int):
        super().__init__()
        W = torch.randn(num_inputs, num_features) / math.sqrt(num_inputs)
        self.register_buffer("W", W, persistent=False)
        self.register_buffer("mean", torch.zeros(num_inputs))

    def center(self, X: Tensor) -> None:
        """Fit μ to the training inputs X (N, ...)."""
        self.mean.copy_(X.flatten(1).mean(0))

    def forward(self, X: Tensor) -> Tensor:
        return torch.relu((X.flatten(1) - self.mean) @ self.W)


class RandomFeatures(ClosedForm, Classifier):
    """Scored by ½·MSE against the one-hot labels (averaged over examples and classes: the
    loss the readout minimizes) and by accuracy (the largest output's class)."""

    def __init__(self, num_inputs: int = 784, num_features: int = 500, num_outputs: int = 10):
        check(num_inputs >= 1, f"num_inputs must be >= 1, got {num_inputs}")
        check(num_features >= 1, f"num_features must be >= 1, got {num_features}")
        super().__init__(num_outputs=num_outputs)
        self.net = nn.Sequential(RandomReLU(num_inputs, num_features),
                                 Readout(num_features, num_outputs, redraws=1))

    def forward(self, X: Tensor) -> Tensor:
        return self.net(X).squeeze(1)  # (N, 1, classes): one redraw -> (N, classes)

    def fit(self, X: Tensor, y: Tensor) -> None:
        features, readout = self.net
        features.center(X)
        self.solve(readout, features(X), self.one_hot(y))

    def example_losses(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return losses.l2(y_hat, self.one_hot(y))

    def one_hot(self, y: Tensor) -> Tensor:
        return F.one_hot(y, self.num_outputs).double()
