"""Lightning's EarlyStopping kept for each of K stacked members apart.

One EarlyStopping callback on a group's Trainer would stop all K members at the first
one's patience. This keeps a best score and a wait count per member and applies the rule
of lightning.pytorch.callbacks.EarlyStopping (`_evaluate_stopping_criteria`) to each at
every validation: a member whose patience runs out stops at the end of that epoch, where
its one-by-one run stops, while the others train on. It is built from the callback's
settings (its init_args in a member's config), not from a callback's inner state.
"""

import torch
from lightning.pytorch.callbacks import EarlyStopping
from torch import Tensor, nn


def follows(kind: type, settings: dict) -> bool:
    """Whether MemberEarlyStopping decides as the callback `kind(**settings)` would:
    Lightning's EarlyStopping without thresholds, checked when validation runs. With
    check_on_train_epoch_end unset, Lightning checks at the end of a training epoch only
    where validation runs every epoch, just before: the same values, the same decision;
    set true, it would count epochs without a validation too."""
    return (kind is EarlyStopping and settings.get("stopping_threshold") is None
            and settings.get("divergence_threshold") is None
            and not settings.get("check_on_train_epoch_end"))


class MemberEarlyStopping(nn.Module):
    """The stopping state of K members: buffers, so a resumed group goes on counting."""

    def __init__(self, settings: dict, num_members: int):
        super().__init__()
        if not follows(EarlyStopping, settings):
            raise ValueError("only EarlyStopping's monitor, mode, patience, min_delta and "
                             "check_finite are kept per member")
        # The callback's own reading of its settings: the sign of min_delta, the comparison.
        callback = EarlyStopping(**settings)
        self.monitor, self.patience = callback.monitor, callback.patience
        # Signed and compared as EarlyStopping does: improved if op(current - min_delta, best).
        self.min_delta, self.better = callback.min_delta, callback.monitor_op
        self.check_finite = callback.check_finite
        self.register_buffer("best", torch.full((num_members,), callback.best_score.item()))
        self.register_buffer("wait", torch.zeros(num_members, dtype=torch.long))

    def stops(self, current: Tensor, active: Tensor) -> Tensor:
        """One validation's monitored values (K,): which active members stop (K,) bool."""
        finite = torch.isfinite(current) if self.check_finite else torch.ones_like(active)
        improved = active & finite & self.better(current - self.min_delta, self.best)
        waited = active & finite & ~improved
        self.best.copy_(torch.where(improved, current, self.best))
        self.wait.copy_(torch.where(improved, 0, self.wait + waited.long()))
        return active & (~finite | (waited & (self.wait >= self.patience)))
