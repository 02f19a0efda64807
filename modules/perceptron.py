"""The perceptron (Rosenblatt 1958; d2l's chapter on the perceptron): no loss to descend,
only a rule. For each misclassified point, w <- w + y·x and b <- b + y (labels y = ±1),
epoch after epoch until an epoch makes no mistake, or the cap `trainer.max_epochs`.
"""

import torch
from torch import Tensor, nn

from modules.base import Classifier, check


class Perceptron(Classifier):
    """A line w·x + b = 0 through `num_inputs`-dimensional points of classes 0 and 1.

    The data's classes 0/1 are the perceptron's labels -1/+1. `forward` returns two-class
    logits (0, w·x + b), so class 1 wins exactly when w·x + b > 0 and accuracy is shared
    with every other classifier. The logged loss is the perceptron criterion
    max(0, -y(w·x + b)): zero once every point is on its side.
    """

    loss_unit = "perceptron criterion"  # what its loss curves measure (FitModule.loss_unit)

    def __init__(self, num_inputs: int = 2):
        check(num_inputs >= 1, f"num_inputs must be >= 1, got {num_inputs}")
        # The rule's step is y·x itself: plain SGD with lr 1 (configure_optimizers).
        super().__init__(lr=1.0, num_outputs=2)
        self.automatic_optimization = False  # one point at a time, updates only on mistakes
        self.net = nn.Linear(num_inputs, 1)
        nn.init.zeros_(self.net.weight)  # the convergence theorem starts from w = 0, b = 0
        nn.init.zeros_(self.net.bias)
        self.epoch_updates = 0

    def forward(self, X: Tensor) -> Tensor:
        o = self.net(X)  # (batch, 1)
        return torch.cat([torch.zeros_like(o), o], dim=1)  # (batch, 2) logits

    def example_losses(self, y_hat: Tensor, y: Tensor) -> Tensor:
        o, signs = y_hat[:, 1], 2.0 * y - 1
        return torch.relu(-signs * o)

    def on_train_epoch_start(self) -> None:
        self.epoch_updates = 0

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        X, y = batch
        optimizer = self.optimizers()
        w, b = self.net.weight[0], self.net.bias
        for x_i, y_i in zip(X, 2.0 * y - 1, strict=True):  # one point at a time, in order
            o = w @ x_i + b
            if y_i * o <= 0:  # on the wrong side, or on the line
                # -y(w·x + b) has the gradient (-y·x, -y), so one SGD step with lr 1 is
                # exactly w <- w + y·x, b <- b + y; and each update is one global step.
                optimizer.zero_grad()
                self.manual_backward(-y_i * o)
                optimizer.step()
                self.epoch_updates += 1
        with torch.no_grad():
            self.score(batch, "train_running")  # after this batch's updates

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        if self.epoch_updates == 0:  # a full pass without a mistake: converged
            self.trainer.should_stop = True

    def final_metrics(self) -> dict:
        return {**super().final_metrics(), "updates": self.global_step}
