"""SGD over stacked parameters: K members' tensors (K, ...) stepped at once, each with its own
learning rate and weight decay, and a member that diverged left where it stopped.

Per member k it is torch.optim.SGD's math (and the book's scratch SGD when momentum is 0):

    g   = grad + wd_k · w          (weights only: modules.base.decays)
    buf = μ · buf + g              (buf = g at the first step; no buffer when μ = 0)
    w   = w − lr_k · buf

The group's "lr" is a factor on every member's lr (1.0 at the start), so torch's LR
schedulers (cosine) scale them all alike, as each member's own scheduler would.
"""

import torch
from torch import Tensor


def per_member(values: Tensor, like: Tensor) -> Tensor:
    """(K,) -> (K, 1, ..., 1): broadcasts over a stacked tensor `like` of shape (K, ...)."""
    return values.view(-1, *[1] * (like.ndim - 1))


class StackedSGD(torch.optim.Optimizer):
    """`decayed` and `others` are stacked parameters (K, ...) in the order of the plain
    module's optimizer groups (modules.base.FitModule.make_optimizer), so parameter i here
    is parameter i of each member's own optimizer. `lr` and `weight_decay` are (K,);
    `active` (K,) bool is read at every step: False freezes that member's weights and buffer.
    """

    def __init__(self, decayed: list[Tensor], others: list[Tensor], lr: Tensor,
                 weight_decay: Tensor, momentum: float, active: Tensor):
        groups = [{"params": decayed, "weight_decay": weight_decay},
                  {"params": others, "weight_decay": torch.zeros_like(weight_decay)}]
        groups = [g for g in groups if g["params"]]
        # The per-member settings stay attributes, out of state_dict: they are the members'
        # settings, not training state, and a checkpoint's copies would not follow the
        # device the parameters resume on.
        self.member_lr, self.active = lr, active
        # None where no member decays: a step then skips that op.
        self.weight_decays = [wd if (wd := g.pop("weight_decay")).any() else None
                              for g in groups]
        super().__init__(groups, {"lr": 1.0, "momentum": momentum})

    def params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def zero_grad(self, set_to_none: bool = True) -> None:
        # torch's own walks its foreach bookkeeping under a profiler record: for the few
        # stacked tensors of a tiny model that costs more than the step's arithmetic.
        for param in self.params():
            param.grad = None

    @torch.no_grad()
    def step(self, closure=None):
        loss = None if closure is None else torch.enable_grad()(closure)()
        for group, weight_decay in zip(self.param_groups, self.weight_decays, strict=True):
            lr = group["lr"] * self.member_lr  # (K,)
            for param in group["params"]:
                if param.grad is None:
                    continue
                active = per_member(self.active, param)
                d_p = param.grad
                if weight_decay is not None:
                    d_p = d_p + per_member(weight_decay, param) * param
                if group["momentum"] > 0:
                    state = self.state[param]
                    old = state.get("momentum_buffer")
                    if old is None:
                        buf = d_p.clone()
                    else:  # a frozen member's buffer stays as it was, like its weights
                        buf = torch.where(active, old * group["momentum"] + d_p, old)
                    state["momentum_buffer"] = d_p = buf
                # torch.where, not a product: a frozen member's update may be NaN.
                param.sub_(torch.where(active, per_member(lr, param) * d_p, 0.0))
        return loss

