"""K closed-form members (least_squares.py's ClosedForm) fitted under one Trainer.

Each member solves on its own training split exactly as alone (its own `fit`, its own λ);
the group saves what K Trainers cost: for a solve that takes milliseconds, a Trainer's
set-up, its loops and its bookkeeping are most of a member's time. Validation and test
score all K at once, as every MemberGroup does.
"""

import torch
from torch import Tensor, nn

from members.group import MemberGroup
from modules.base import FitModule
from modules.least_squares import ClosedForm, check_one_solve


class ClosedFormGroup(MemberGroup):
    def __init__(self, members: list[FitModule], early_stopping: dict | None = None):
        super().__init__(members, early_stopping)
        if not self.stackable(members[0]):
            raise ValueError("only closed-form fits (ClosedForm) solve as a group")
        # Registered: the solved weights (their buffers) are the group's checkpointed state.
        self.fits = nn.ModuleList(members)

    @staticmethod
    def stackable(module: FitModule) -> bool:
        return isinstance(module, ClosedForm)

    def forward(self, X: Tensor) -> Tensor:
        """X (K, B, ...) or (1, B, ...) shared -> y_hat (K, B, ...), each member's own."""
        return torch.stack([fit(X[k if len(X) > 1 else 0]) for k, fit in enumerate(self.fits)])

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """The one step: X (1, K or 1, n, ...), each member's whole training split."""
        check_one_solve(self.trainer, type(self.members[0]).__name__, len(batch[0]))
        X, y = (t[0] for t in batch)
        for k, fit in enumerate(self.fits):
            fit.fit(X[k if len(X) > 1 else 0], y[k if len(y) > 1 else 0])
        self.optimizers().step()  # the solve is the step: global_step 1, so it is saved
        self.score((X, y), "train_running")  # each solution on its own training data

    def configure_optimizers(self) -> None:
        return None  # nothing to step: each member solves

    def member(self, k: int) -> FitModule:
        return self.fits[k]
