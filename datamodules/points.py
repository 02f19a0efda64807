"""Points in the plane for the perceptron chapter (d2l 5.1): separable with a known margin,
and XOR, which no line separates.

Labels are class indices 0/1 (int64), the convention every classifier and torchmetrics
share; the perceptron reads them as its -1/+1 itself.
"""

import math

import torch
from torch import Tensor

from datamodules.batching import check_arg
from datamodules.synthetic import SyntheticData


class SeparablePoints(SyntheticData):
    """Points uniform in the disk ‖x‖ <= radius, labelled by one random line, with every
    point at least `margin` from it.

    The line is the dataset's truth: drawn once from the seed's truth stream, the same for
    every split (`line`, the unit vector u = (w1, w2, b)); each split draws its points alone.
    The margin is measured the way the perceptron convergence theorem needs it:
    y·(u·(x, 1)) >= margin. Since ‖(x, 1)‖² <= radius² + 1, the perceptron makes at most
    `bound` = (radius² + 1) / margin² updates on these points (Novikoff's theorem).
    """

    num_inputs = 2

    def __init__(self, margin: float = 0.1, radius: float = 1.0, num_train: int = 200,
                 num_val: int = 200, num_test: int = 0, batch_size: int = 200, seed: int = 0):
        super().__init__(num_train, num_val, num_test, batch_size, seed)
        check_arg("radius", radius, 1e-6)
        # Beyond radius / 2 the band around the line would leave too little of the disk.
        check_arg("margin", margin, 1e-6, radius / 2, note=" (half the radius)")
        self.margin, self.radius = margin, radius
        self.bound = (radius**2 + 1) / margin**2
        self.line = self.draw_line(self.truth_stream())

    def draw_line(self, generator: torch.Generator) -> Tensor:
        """A line of random direction passing within radius / 2 of the origin, as the unit
        vector u = (w1, w2, b)."""
        angle = torch.rand(1, generator=generator) * 2 * math.pi
        offset = (torch.rand(1, generator=generator) - 0.5) * self.radius
        u = torch.cat([torch.cos(angle), torch.sin(angle), offset])
        return u / u.norm()

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        u = self.line
        X, kept = torch.empty(0, 2), 0
        while kept < n:  # rejection sampling: drop the points inside the margin band
            r = self.radius * torch.rand(n, generator=generator).sqrt()  # uniform in the disk
            phi = torch.rand(n, generator=generator) * 2 * math.pi
            candidates = torch.stack([r * torch.cos(phi), r * torch.sin(phi)], dim=1)
            distance = candidates @ u[:2] + u[2]
            X = torch.cat([X, candidates[distance.abs() >= self.margin]])
            kept = len(X)
        X = X[:n]
        y = (X @ u[:2] + u[2] > 0).long()
        return X, y


class XORPoints(SyntheticData):
    """Clouds of `noise` standard deviation around the four corners (±1, ±1), labelled 1
    where the signs of the two coordinates differ. With noise 0 and num_train 4 the
    training set is the four XOR points themselves."""

    num_inputs = 2

    def __init__(self, noise: float = 0.2, num_train: int = 200, num_val: int = 200,
                 num_test: int = 0, batch_size: int = 200, seed: int = 0):
        super().__init__(num_train, num_val, num_test, batch_size, seed)
        # Beyond 0.5 the clouds overlap the axes and the labels stop being XOR's.
        check_arg("noise", noise, 0, 0.5)
        self.noise = noise

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        corners = torch.tensor([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
        labels = torch.tensor([0, 0, 1, 1])
        corner = torch.arange(n) % 4  # every corner equally often, in turn
        X = corners[corner] + torch.randn(n, 2, generator=generator) * self.noise
        return X, labels[corner]
