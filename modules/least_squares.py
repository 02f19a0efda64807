"""Closed-form least squares (d2l 3.1.1's analytic solution) as a LightningModule.

Nothing is trained by gradient steps: the one training step of the one epoch sees the
whole training split as its batch and solves for the weights; validation and test then
score them as any FitModule is scored, so metrics and run folders follow the contract.
Solving is in float64: the book's polynomial features xⁱ/i! up to x¹⁹ span 18 orders of
magnitude, and a design matrix with as many features as examples is nearly singular.

`redraws` fits many independent training sets at once (the bias–variance study's
resampling): the training split then holds example i of every set in row i, X (n, R, d),
while validation and test are shared by all of them, X (m, d).

`weight_decay` λ makes it ridge regression (d2l 3.7's loss, solved exactly): w minimizes
½·mean((Xw + b − y)²) + λ/2·‖w‖², so (XᵀX/n + λI) w = Xᵀy/n. A bias, like FitModule's,
is not decayed: w is solved on centred data and b = mean(y) − mean(X) w.
"""

import torch
from torch import Tensor, nn

from modules import losses
from modules.base import FitModule, check


def min_norm_solution(A: Tensor, B: Tensor) -> Tensor:
    """argmin ‖W‖ over the minimizers of ‖AW − B‖, batched over A's leading dimensions:
    A (..., n, d), B (..., n, k) -> W (..., d, k). Directions of A whose singular value is
    below float precision are dropped (the pseudo-inverse), so it holds on either side
    of d = n, where A is not invertible."""
    if A.device.type == "cpu":
        return torch.linalg.lstsq(A, B, driver="gelsd").solution  # SVD-based, ~5x pinv
    return torch.linalg.pinv(A) @ B  # CUDA's lstsq (gels) assumes full rank and n >= d


def ridge_solution(A: Tensor, B: Tensor, weight_decay: float) -> Tensor:
    """argmin ½·mean over the n rows of ‖AW − B‖² + λ/2·‖W‖², batched like
    min_norm_solution: (AᵀA/n + λI) W = AᵀB/n. At λ = 0, its limit: the min-norm solution."""
    if weight_decay == 0:
        return min_norm_solution(A, B)
    n, d = A.shape[-2:]
    gram = A.mT @ A / n + weight_decay * torch.eye(d, dtype=A.dtype, device=A.device)
    return torch.linalg.solve(gram, A.mT @ B / n)


class Readout(nn.Module):
    """y_hat = X w (+ b) for R weight matrices at once; w (R, d, k) and b (R, 1, k) are
    solved (ClosedForm.solve), not trained, so they are buffers (in the checkpoint, not in
    any optimizer)."""

    def __init__(self, num_inputs: int, num_outputs: int, redraws: int, bias: bool = False):
        super().__init__()
        self.register_buffer("w", torch.zeros(redraws, num_inputs, num_outputs,
                                              dtype=torch.float64))
        self.register_buffer("b", torch.zeros(redraws, 1, num_outputs, dtype=torch.float64)
                             if bias else None)

    def forward(self, X: Tensor) -> Tensor:
        """X (m, d) shared by every redraw, or (m, R, d) one row per redraw -> (m, R, k)."""
        X = X.double()
        X = X.transpose(0, 1) if X.ndim == 3 else X  # (R, m, d) or (m, d)
        y_hat = X @ self.w
        return (y_hat if self.b is None else y_hat + self.b).transpose(0, 1)


def check_one_solve(trainer, name: str, steps_per_batch: int = 1) -> None:
    """A closed form solves once, on one device, on the whole training split (ValueError
    naming the setting otherwise). `steps_per_batch`: what a batch holds (a group's may
    hold several)."""
    check(trainer.world_size == 1,
          f"{name} solves on one device (--trainer.devices 1): under DDP each rank "
          "would solve on its own shard of the training split")
    check(trainer.num_training_batches == 1 and steps_per_batch == 1,
          f"{name} solves on the whole training split at once: set data.batch_size "
          "to at least the number of training examples")


class ClosedForm(FitModule):
    """A FitModule solved in one step: a subclass builds `self.net` (the model) and says in
    `fit` how to solve for its weights on the whole training split."""

    loss_unit = "½·MSE"  # least squares' (figures)
    solved = True

    def __init__(self, **kwargs):
        # FitModule's lr steps an optimizer; a closed-form fit has none (1 is a placeholder).
        # Its weight_decay is the λ of the ridge solve.
        super().__init__(lr=1.0, **kwargs)
        self.automatic_optimization = False

    def fit(self, X: Tensor, y: Tensor) -> None:
        """Solve for the model's weights on the whole training split (with `solve`)."""
        raise NotImplementedError

    def solve(self, readout: Readout, X: Tensor, Y: Tensor) -> None:
        """Set the readout's w (and b) to the least-squares solution, ridge with the
        module's weight_decay, on X (n, d) or (n, R, d) for targets Y with the same leading
        dimensions."""
        if X.ndim == 2:
            X, Y = X.unsqueeze(1), Y.unsqueeze(1)
        X, Y = X.double().transpose(0, 1), Y.double().transpose(0, 1)  # (R, n, d), (R, n, k)
        if readout.b is None:
            w, b = ridge_solution(X, Y, self.weight_decay), None
        else:  # the bias is not decayed: w from centred data, then b from the means
            X_mean, Y_mean = X.mean(1, keepdim=True), Y.mean(1, keepdim=True)
            w = ridge_solution(X - X_mean, Y - Y_mean, self.weight_decay)
            b = Y_mean - X_mean @ w
        R, d, k = readout.w.shape
        check(w.shape == readout.w.shape,
              f"the data has {w.shape[0]} training sets of {w.shape[1]} features and "
              f"{w.shape[2]} targets; the model was built for {R} of {d} and {k} "
              "(model.redraws, model.num_inputs, model.num_outputs)")
        readout.w.copy_(w)
        if b is not None:
            readout.b.copy_(b)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        check_one_solve(self.trainer, type(self).__name__)
        self.fit(*batch)
        # The solve is this run's one step: count it as the (mock) optimizer's, so that
        # global_step is 1 and the checkpoint callback saves the solved weights.
        self.optimizers().step()
        self.score(batch, "train_running")  # the solution on its training data, as it is solved

    def configure_optimizers(self) -> None:
        return None  # Lightning warns of no optimizer (cli.quiet_lightning hides it): the point


class LeastSquares(ClosedForm):
    """Linear least squares, y_hat = Xw (+ b with `bias`), ridge with `weight_decay` λ,
    scored by the book's squared loss ½(y_hat − y)² (fitlab's `l2`, the loss it minimizes)."""

    def __init__(self, num_inputs: int = 4, num_outputs: int = 1, redraws: int = 1,
                 bias: bool = False, weight_decay: float = 0.0):
        check(num_inputs >= 1, f"num_inputs must be >= 1, got {num_inputs}")
        check(num_outputs >= 1, f"num_outputs must be >= 1, got {num_outputs}")
        check(redraws >= 1, f"redraws must be >= 1, got {redraws}")
        super().__init__(weight_decay=weight_decay)
        self.net = Readout(num_inputs, num_outputs, redraws, bias)

    def fit(self, X: Tensor, y: Tensor) -> None:
        self.solve(self.net, X, y)

    def weights(self) -> tuple[Tensor, Tensor | None]:
        """The solved w as a flat vector and b (None without a bias), of the one fit."""
        check(self.net.w.shape[0] == 1, "weights() is of one fit: this model has redraws")
        return self.net.w[0].flatten(), None if self.net.b is None else self.net.b.flatten()

    def final_metrics(self) -> dict:
        if self.net.w.shape[0] > 1:  # many fits (redraws): no one w to report
            return super().final_metrics()
        w, b = self.weights()
        metrics = {**super().final_metrics(), "w_norm": w.norm().item(), "weights": w.tolist()}
        if b is not None:
            metrics["bias"] = b.item()
        return metrics

    def example_losses(self, y_hat: Tensor, y: Tensor) -> Tensor:
        # y_hat (m, R, k); y (m, k) is shared by every redraw, (m, R, k) is one per redraw.
        return losses.l2(y_hat, y.unsqueeze(1) if y.ndim < y_hat.ndim else y)
