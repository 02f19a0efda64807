"""Data generated from a seed (d2l 3.3 and later chapters): needs nothing from disk.

A new synthetic dataset is a small subclass of SyntheticData that only writes
`generate(n, generator)`; splitting and batching come from here and InMemoryDataModule.

Every split of one dataset is drawn from the same truth (weights, a separating line, a
polynomial); only the points differ, each split's from its own stream. A truth given by
the arguments needs nothing more; a random one is drawn once, from `truth_stream()`, when
the datamodule is built, never from a split's stream.
"""

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from datamodules.batching import InMemoryDataModule, TensorSplit, check_arg

SPLITS = ("train", "val", "test")


class SyntheticData(InMemoryDataModule):
    """Generates each split from its own random stream (seed, split): changing num_val or
    num_test leaves the training examples as they are."""

    def __init__(self, num_train: int, num_val: int, num_test: int, batch_size: int, seed: int):
        """
        Args:
            num_train: examples in the training split.
            num_val: examples in the validation split.
            num_test: examples in the test split (0: no test split).
        """
        super().__init__(batch_size=batch_size, seed=seed)
        check_arg("num_train", num_train, 1)
        check_arg("num_val", num_val, 1)
        check_arg("num_test", num_test, 0)
        self.num_train, self.num_val, self.num_test = num_train, num_val, num_test
        self.has_test = num_test > 0

    def generate(self, n: int, generator: torch.Generator) -> tuple[Tensor, ...]:
        """n examples as tensors with n rows, e.g. (X, y), of the dataset's one truth; draw
        every random number from `generator` so the same seed gives the same data (and
        nothing of the truth from it: each split has its own)."""
        raise NotImplementedError

    def stream(self, index: int) -> torch.Generator:
        """Random stream `index` of this seed: the `index`-th child of SeedSequence(seed)."""
        child = np.random.SeedSequence(self.seed, spawn_key=(index,))
        return torch.Generator().manual_seed(int(child.generate_state(1)[0]))

    def truth_stream(self) -> torch.Generator:
        """The stream of a random truth that every split shares, apart from the splits'."""
        return self.stream(len(SPLITS))

    def streams(self) -> dict[str, tuple[int, torch.Generator]]:
        """split -> (its number of examples, its own random stream), for the splits with
        examples."""
        sizes = {"train": self.num_train, "val": self.num_val, "test": self.num_test}
        return {name: (sizes[name], self.stream(i))
                for i, name in enumerate(SPLITS) if sizes[name] > 0}

    def load_splits(self) -> dict[str, TensorSplit]:
        return {name: TensorSplit(*self.generate(n, generator))
                for name, (n, generator) in self.streams().items()}


class LinearRegressionData(SyntheticData):
    """y = Xw + b + noise with X ~ N(0, 1) and noise ~ N(0, noise^2); y has shape (N, 1).

    `outliers` is the share of labels with a gross error on top, a seeded offset between
    +10 and +20 (a sensor reading far too high): the data of the loss-functions chapter.
    With `clean_eval` only the training labels have them: val and test score a fit against
    the clean relation it should recover.
    """

    def __init__(self, w: Sequence[float] = (2.0, -3.4), b: float = 4.2, noise: float = 0.01,
                 outliers: float = 0.0, clean_eval: bool = False, num_train: int = 1000,
                 num_val: int = 1000, num_test: int = 0, batch_size: int = 10, seed: int = 0):
        super().__init__(num_train, num_val, num_test, batch_size, seed)
        check_arg("len(w)", len(w), 1)
        check_arg("noise", noise, 0)
        check_arg("outliers", outliers, 0, 1)
        self.true_w = torch.tensor(w, dtype=torch.float32)
        self.true_b = float(b)
        self.noise, self.outliers, self.clean_eval = noise, outliers, clean_eval
        self.num_inputs = len(w)

    def generate(self, n: int, generator: torch.Generator,
                 outliers: float | None = None) -> tuple[Tensor, Tensor]:
        X = torch.randn(n, self.num_inputs, generator=generator)
        noise = torch.randn(n, 1, generator=generator) * self.noise
        y = X @ self.true_w.reshape(-1, 1) + self.true_b + noise
        # Drawn after X and noise, so the clean part of the data does not depend on it.
        share = self.outliers if outliers is None else outliers
        gross = torch.rand(n, 1, generator=generator) < share
        y += gross * (10 + 10 * torch.rand(n, 1, generator=generator))
        return X, y

    def load_splits(self) -> dict[str, TensorSplit]:
        return {name: TensorSplit(*self.generate(
                    n, generator, 0.0 if self.clean_eval and name != "train" else None))
                for name, (n, generator) in self.streams().items()}


class HighDimensionalData(LinearRegressionData):
    """The weight-decay chapter's data (d2l 3.7): y = 0.05 + Σᵢ 0.01·xᵢ + ε over `num_inputs`
    inputs, with few training examples, so an unregularized model overfits."""

    def __init__(self, num_inputs: int = 200, weight: float = 0.01, b: float = 0.05,
                 noise: float = 0.01, num_train: int = 20, num_val: int = 100,
                 num_test: int = 0, batch_size: int = 5, seed: int = 0):
        check_arg("num_inputs", num_inputs, 1)
        super().__init__(w=[weight] * num_inputs, b=b, noise=noise, num_train=num_train,
                         num_val=num_val, num_test=num_test, batch_size=batch_size, seed=seed)
