"""The synthetic data of model selection (d2l 3.6, chapter 11): the book's polynomial
with features xⁱ/i!, one feature per power up to `degree`, optionally split into K folds
for cross-validation."""

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from datamodules.batching import TensorSplit, check_arg
from datamodules.synthetic import SyntheticData

MAX_DEGREE = 19  # the book's 20 features x⁰ … x¹⁹


def fold_indices(n: int, num_folds: int) -> list[Tensor]:
    """Indices 0..n−1 cut into `num_folds` disjoint, contiguous folds of near-equal size.

    The examples are drawn i.i.d., so contiguous folds are as random as shuffled ones.
    """
    return list(torch.arange(n).tensor_split(num_folds))


class PolynomialData(SyntheticData):
    """y = 5 + 1.2x − 3.4x²/2! + 5.6x³/3! + ε, x ~ N(0, 1), ε ~ N(0, noise²).

    X holds the features xⁱ/i! for i = 0 … degree (the 1/i! keeps high powers from
    dominating the gradient); a linear model without bias over them is a polynomial
    of that degree. x and ε are drawn the same whatever the degree, so every degree sees
    the same examples. `true_w` is the truth for the powers the model has: the four
    coefficients, cut to degree + 1 or padded with zeros.

    With `eval_in_train_range`, validation and test x are drawn from N(0, 1) restricted
    to [min, max] of the training x: beyond the training data a high-degree fit
    extrapolates wildly, and one such point would make a whole split's loss its own.

    With `fold` set, training is on the other num_folds − 1 folds of the training
    examples and validation on fold `fold`; the test split stays as it is.

    Args:
        degree: the features' highest power: the model's inputs are degree + 1.
        w: the truth's coefficients of x⁰/0!, x¹/1!, ... (the book's cubic).
        noise: σ, the standard deviation of the noise ε on y.
        eval_in_train_range: draw validation and test x within the training x's range.
        num_folds: K, the folds of the training examples when `fold` is set.
        fold: the fold validated on (the others trained on); None: no folds.
    """

    VARY_WITHIN_GROUP = ("seed", "fold")  # folds of one size: cross-validation's members

    def __init__(self, degree: int = 3, w: Sequence[float] = (5.0, 1.2, -3.4, 5.6),
                 noise: float = 0.1, num_train: int = 100, num_val: int = 100,
                 num_test: int = 100, eval_in_train_range: bool = False, num_folds: int = 5,
                 fold: int | None = None, batch_size: int = 10, seed: int = 0):
        super().__init__(num_train, num_val, num_test, batch_size, seed)
        check_arg("degree", degree, 0, MAX_DEGREE)
        check_arg("len(w)", len(w), 1, MAX_DEGREE + 1)
        check_arg("noise", noise, 0)
        check_arg("num_folds", num_folds, 2, num_train, note=" (at most num_train)")
        if fold is not None:
            check_arg("fold", fold, 0, num_folds - 1, note=f" (one of num_folds={num_folds})")
        self.degree, self.noise, self.num_folds, self.fold = degree, noise, num_folds, fold
        self.eval_in_train_range = eval_in_train_range
        self.num_inputs = degree + 1
        self.poly_w = torch.tensor(w, dtype=torch.float32)
        self.true_w = torch.zeros(self.num_inputs)
        k = min(len(w), self.num_inputs)
        self.true_w[:k] = self.poly_w[:k]
        self.true_b = 0.0  # the constant is the weight of x⁰: a bias has nothing to learn

    def draw(self, n: int, generator: torch.Generator,
             within: tuple[float, float] | None = None) -> tuple[Tensor, Tensor]:
        """n inputs x (n, 1), from N(0, 1) or N(0, 1) restricted to `within`, and their
        noisy targets y (n, 1)."""
        x = torch.randn(n, 1, generator=generator) if within is None else normal_within(
            n, *within, generator)
        noise = torch.randn(n, 1, generator=generator) * self.noise
        return x, features(x, len(self.poly_w) - 1) @ self.poly_w.reshape(-1, 1) + noise

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        x, y = self.draw(n, generator)
        return features(x, self.degree), y

    def load_splits(self) -> dict[str, TensorSplit]:
        splits = self.splits_in_train_range() if self.eval_in_train_range else super().load_splits()
        if self.fold is None:
            return splits
        X, y = splits["train"].tensors
        folds = fold_indices(len(X), self.num_folds)
        train = torch.cat([f for k, f in enumerate(folds) if k != self.fold])
        val = folds[self.fold]
        splits["train"] = TensorSplit(X[train], y[train])
        splits["val"] = TensorSplit(X[val], y[val])
        return splits

    def splits_in_train_range(self) -> dict[str, TensorSplit]:
        streams = self.streams()
        x, y = self.draw(*streams.pop("train"))
        within = (x.min().item(), x.max().item())
        splits = {"train": TensorSplit(features(x, self.degree), y)}
        for name, (n, generator) in streams.items():
            x_eval, y_eval = self.draw(n, generator, within)
            splits[name] = TensorSplit(features(x_eval, self.degree), y_eval)
        return splits


def normal_within(n: int, low: float, high: float, generator: torch.Generator,
                  dtype: torch.dtype = torch.float32) -> Tensor:
    """(n, 1) from N(0, 1) restricted to [low, high], by inverting the normal CDF of a
    uniform draw between the range's two quantiles: every draw lands in range."""
    low, high = torch.special.ndtr(torch.tensor([low, high], dtype=torch.float64))
    u = torch.rand(n, 1, generator=generator, dtype=torch.float64)
    return torch.special.ndtri(low + (high - low) * u).to(dtype)


def features(x: Tensor, degree: int) -> Tensor:
    """(n, 1) -> (n, degree + 1): xⁱ/i! for i = 0 … degree."""
    powers = torch.arange(degree + 1)
    factorials = torch.tensor([math.factorial(i) for i in range(degree + 1)], dtype=x.dtype)
    return x**powers / factorials
