"""K same-shaped members trained as one: their parameters stacked on a leading member dim.

For a tiny model a training step is bookkeeping, not arithmetic, so K members cost about
one step each. Parameters are stacked by torch.func.stack_module_state; nets of torch.nn's
Linear, Flatten and elementwise layers run them as batched matmuls (members/layers.py),
any other net without dropout runs its own forward under vmap (PyTorch's
model-ensembling recipe).
Each member is first built as its plain FitModule, under its own seed, exactly as the
one-by-one path builds it: the initialisations are the same by construction, and
`member(k)` hands the plain module back with the trained weights.

A step takes one batch per member, X (K, B, ...) and y (K, B, ...), or (1, B, ...) when
every member sees the same examples (seeds of one dataset): those are then read once; a
training batch carries S such steps (S, K or 1, B, ...), see members/data.py.
The loss is the sum of the members' mean losses, so each member's gradient is its own.
"""

import torch
from torch import Tensor
from torch.func import functional_call, stack_module_state, vmap

from members.group import MemberGroup
from members.layers import MemberStreams, layers_forward, member_layers
from members.sgd import StackedSGD
from modules.base import FitModule, decays, epoch_seed, l2_penalty, with_schedule


def draws_masks(module: FitModule) -> bool:
    """Whether the module's net draws dropout masks: torch's Dropout at a rate above 0, or a
    `dropout` setting above 0 (the book's scratch dropout, a function of the forward)."""
    rates = module.hparams.get("dropout", 0)
    return any(isinstance(layer, torch.nn.Dropout) and layer.p > 0
               for layer in module.net.modules()) or any(
        isinstance(rate, int | float) and rate > 0
        for rate in (rates if isinstance(rates, list) else [rates]))


class StackedMembers(MemberGroup):
    """Trains K plain SGD FitModules of one `stack_key` as one: their parameters stacked
    on a leading member dim, one optimizer step for all (see the module's doc, and
    MemberGroup for what every group shares)."""

    def __init__(self, members: list[FitModule], early_stopping: dict | None = None):
        super().__init__(members, early_stopping)
        first = members[0]
        if not self.stackable(first):
            raise ValueError("only SGD-trained models without buffers train stacked")
        # Member 0's net is the template vmap calls (its own parameters are stale copies;
        # ours are stacked below).
        self.layers = member_layers([m.net for m in members])  # None: vmap member 0's net
        if self.layers is None and any(len({repr(m.hparams.get(key)) for m in members}) > 1
                                       for key in ("activation", "dropout")):
            # vmap runs member 0's net for all: its activation, its dropout rates
            raise ValueError("members that differ in activation or dropout stack only as "
                             "torch.nn layers")
        self.draws = any(draws_masks(m) for m in members)
        if self.layers is None and self.draws:
            # vmap would draw every member's masks at once, from one stream: not the masks
            # of their runs alone. They train one by one.
            raise ValueError("members with dropout stack only as torch.nn layers")
        self.streams: MemberStreams | None = None  # each member's dropout stream, per epoch
        params, _ = stack_module_state([m.net for m in members])
        self.names = list(params)
        self.params = torch.nn.ParameterList(params.values())  # each (K, *plain shape)
        self.decayed = [decays(p[0]) for p in self.params]
        on = [m.decay == "optimizer" for m in members]
        wd = torch.tensor([m.weight_decay for m in members])
        lr = torch.tensor([m.lr for m in members])
        self.register_buffer("member_lr", lr, persistent=False)
        self.register_buffer("wd_optimizer", wd * torch.tensor(on), persistent=False)
        self.register_buffer("wd_penalty", wd * ~torch.tensor(on), persistent=False)
        self.penalized = bool(self.wd_penalty.any())

    @staticmethod
    def stackable(module: FitModule) -> bool:
        """Whether modules like this one can train stacked: SGD steps (not a closed form
        or a rule of their own), no buffers (e.g. batch norm's running statistics)."""
        return (module.automatic_optimization and module.optimizer == "sgd"
                and not dict(module.net.named_buffers()))

    # -- forward and loss over the member dim ---------------------------------------------

    def forward(self, X: Tensor) -> Tensor:
        """X (K, B, ...) or (1, B, ...) shared -> y_hat (K, B, ...)."""
        # Dropout follows the group's mode, set here rather than in train(): after
        # validation Lightning restores modes flag by flag, past our unregistered template.
        if self.members[0].net.training != self.training:
            self.members[0].net.train(self.training)
        shared = X.shape[0] == 1 < self.num_members
        X = X[0] if shared else X
        if self.layers is not None:
            return layers_forward(self.layers, dict(zip(self.names, self.params, strict=True)),
                                  X, shared, self.streams)

        def member_forward(params: tuple[Tensor, ...], X: Tensor) -> Tensor:
            named = dict(zip(self.names, params, strict=True))
            return functional_call(self.members[0].net, named, (X,))

        return vmap(member_forward, in_dims=(0, None if shared else 0), randomness="different")(
            tuple(self.params), X)

    # -- the Lightning hooks --------------------------------------------------------------

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        """S steps at once (StackedData groups them): X (S, K or 1, B, ...), y likewise.
        Lightning's loop costs more than a tiny model's step, so it runs once per S."""
        optimizer = self.optimizers()
        for step in zip(*batch, strict=True):
            loss = self.step_loss(step)
            optimizer.zero_grad()
            self.manual_backward(loss)
            optimizer.step()

    def step_loss(self, batch: tuple[Tensor, Tensor]) -> Tensor:
        """What one step minimizes: the sum of the members' mean losses, so each member's
        gradient is its own. A frozen member's NaN stays in its own gradient slice, which
        StackedSGD never applies."""
        losses = self.score(batch, "train_running")
        # Under DDP the ranks' mean decides, so every rank freezes the same members; a
        # single device skips the reduce. No host sync: the mask stays on the device.
        checked = self.trainer.strategy.reduce(losses.detach(), reduce_op="mean")
        finite = torch.isfinite(checked)
        diverging = self.active > finite  # active and not finite
        self.diverged_epoch.masked_fill_(diverging, self.current_epoch + 1)
        torch.where(diverging, checked, self.diverged_loss, out=self.diverged_loss)
        self.active.logical_and_(finite)
        loss = losses.sum()
        if self.penalized:
            # Each member's λ/2·‖w‖², as FitModule adds it.
            weights = [p for p, d in zip(self.params, self.decayed, strict=True) if d]
            loss = loss + l2_penalty(weights, self.wd_penalty).sum()
        return loss

    def on_train_batch_start(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        # Epoch e's dropout masks come from the seed FitModule uses (epoch_seed): each
        # member draws from a stream of its own, as its run alone, so the same masks (only
        # the layers path draws: see __init__).
        if batch_idx == 0 and self.draws:
            seeds = [epoch_seed(m.seed, self.current_epoch) for m in self.members]
            self.streams = MemberStreams(seeds, self.device)

    def on_train_epoch_end(self) -> None:
        if self.members[0].schedule != "constant":  # manual optimization: ours to step
            self.lr_schedulers().step()
        super().on_train_epoch_end()

    def configure_optimizers(self):
        decayed = [p for p, d in zip(self.params, self.decayed, strict=True) if d]
        others = [p for p, d in zip(self.params, self.decayed, strict=True) if not d]
        first = self.members[0]
        optimizer = StackedSGD(decayed, others, self.member_lr, self.wd_optimizer,
                               first.momentum, self.active)
        return with_schedule(optimizer, first.schedule, self.trainer.max_epochs)

    # -- one member, as its plain module --------------------------------------------------

    def member_state_dict(self, k: int) -> dict[str, Tensor]:
        """Member k's weights as its plain module's state_dict: copies, so torch.save
        writes only them (a view would save the whole stacked storage)."""
        stacked = zip(self.names, self.params, strict=True)
        return {f"net.{name}": p[k].detach().clone() for name, p in stacked}

    def member(self, k: int) -> FitModule:
        """Member k's plain module, with the group's current weights for it."""
        self.members[k].load_state_dict(self.member_state_dict(k))
        return self.members[k]

