"""The book's cubic (d2l 3.6) drawn afresh many times: the data of the bias–variance
decomposition. Each of `redraws` training sets is its own sample of the cubic; one
validation and one large test set are shared by all of them."""

from collections.abc import Sequence

import torch
from torch import Tensor

from datamodules.batching import TensorSplit, check_arg
from datamodules.polynomial import PolynomialData, features, normal_within


class PolynomialRedraws(PolynomialData):
    """`redraws` independent training sets of `num_train` examples, x ~ N(0, 1):
    train X (num_train, redraws, degree + 1), y (num_train, redraws, 1) — row i holds
    example i of every set. Validation and test X (m, degree + 1), y (m, 1).

    Test inputs are drawn from N(0, 1) restricted to |x| <= test_range (None: not
    restricted), the range every training set covers: beyond its largest |x| a
    high-degree fit extrapolates, and a handful of such points would make the test error
    theirs. `truth[split]` holds the noise-free cubic at each example, (…, 1). Everything
    is float64, as the closed-form fits solve in it.
    """

    def __init__(self, degree: int = 3, w: Sequence[float] = (5.0, 1.2, -3.4, 5.6),
                 noise: float = 0.1, redraws: int = 100, num_train: int = 100,
                 num_val: int = 1000, num_test: int = 10000, test_range: float | None = 2.0,
                 batch_size: int = 100, seed: int = 0):
        super().__init__(degree=degree, w=w, noise=noise, num_train=num_train,
                         num_val=num_val, num_test=num_test, batch_size=batch_size, seed=seed)
        # The standard errors leave one training set out, and need two or more beside it.
        check_arg("redraws", redraws, 3, note=" (for standard errors over the training sets)")
        if test_range is not None:
            check_arg("test_range", test_range, 0, note=" (or None)")
        self.redraws, self.test_range = redraws, test_range
        self.truth: dict[str, Tensor] = {}

    def load_splits(self) -> dict[str, TensorSplit]:
        """Each split from its own stream (SyntheticData.streams), all of the one cubic."""
        splits = {}
        for name, (n, generator) in self.streams().items():
            x = (torch.randn(n, self.redraws, 1, generator=generator, dtype=torch.float64)
                 if name == "train" else self.test_inputs(n, generator))
            cubic = features(x, len(self.poly_w) - 1) @ self.poly_w.double().reshape(-1, 1)
            noise = torch.randn(cubic.shape, generator=generator, dtype=torch.float64)
            splits[name] = TensorSplit(features(x, self.degree), cubic + self.noise * noise)
            self.truth[name] = cubic
        return splits

    def test_inputs(self, n: int, generator: torch.Generator) -> Tensor:
        """(n, 1) from N(0, 1) restricted to [−test_range, test_range]."""
        if self.test_range is None:
            return torch.randn(n, 1, generator=generator, dtype=torch.float64)
        return normal_within(n, -self.test_range, self.test_range, generator, torch.float64)
