"""K same-shaped members trained as one: their parameters stacked on a leading member dim.

For a tiny model a training step is bookkeeping, not arithmetic, so K members cost about
one step each. Parameters are stacked by torch.func.stack_module_state; nets of torch.nn's
Linear, Flatten and elementwise layers run them as batched matmuls (member_layers.py),
any other net runs its own forward under vmap (PyTorch's model-ensembling recipe).
Each member is first built as its plain FitModule, under its own seed, exactly as the
one-by-one path builds it: the initialisations are the same by construction, and
`member(k)` hands the plain module back with the trained weights.

A step takes one batch per member, X (K, B, ...) and y (K, B, ...), or (1, B, ...) when
every member sees the same examples (seeds of one dataset): those are then read once; a
training batch carries S such steps (S, K or 1, B, ...), see datamodules/stacked.py.
The loss is the sum of the members' mean losses, so each member's gradient is its own.
"""

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping
from torch import Tensor
from torch.func import functional_call, stack_module_state, vmap

from modules.base import DROPOUT_STREAM, Classifier, DivergedError, FitModule, decays
from modules.member_layers import layers_forward, member_layers
from modules.stacked_sgd import StackedSGD
from modules.stacked_stopping import MemberEarlyStopping

# The settings in which members of one group may differ: the optimizer reads them per
# member, and initialisation happened before stacking.
MAY_DIFFER = ("lr", "weight_decay", "decay", "sigma")


def stack_key(module: FitModule) -> tuple:
    """Equal for modules that can train as one group: the class, every setting but those
    in MAY_DIFFER, and the parameters' names and shapes."""
    settings = sorted((k, repr(v)) for k, v in module.hparams.items() if k not in MAY_DIFFER)
    shapes = [(name, tuple(p.shape)) for name, p in module.net.named_parameters()]
    return type(module).__qualname__, tuple(settings), tuple(shapes)


class StackedMembers(L.LightningModule):
    """Trains K plain FitModules of one `stack_key` as one LightningModule.

    Logs nothing through self.log: each epoch's per-member values land in `epoch_metrics`
    ({"val/loss": (K,) tensor, ...}) and, when the Trainer has one logger per member, in
    member k's logger, stepped by epoch. Validation dataloader 0 is scored as `val/*`,
    dataloader 1 (the training split in eval mode, when given) as `train/*`; the running
    mean over the training steps is `train_running/*`. A member whose loss stops being
    finite is frozen (`active` False, `diverged_epoch` its epoch) while the others train;
    so is one that `early_stopping` (its one-by-one run's callback) stops for each member
    apart (`stopped_epoch`).
    """

    def __init__(self, members: list[FitModule], early_stopping: EarlyStopping | None = None):
        super().__init__()
        keys = {stack_key(m) for m in members}
        if len(keys) != 1:
            raise ValueError(f"members differ in more than {', '.join(MAY_DIFFER)}: {keys}")
        first = members[0]
        if not self.stackable(first):
            raise ValueError("only SGD-trained models without buffers train stacked")
        # The plain members, kept out of nn.Module's registry (their parameters are stale
        # copies; ours are stacked below): member 0's net is the template vmap calls.
        self.__dict__["members"] = members
        self.classifier = isinstance(first, Classifier)
        self.layers = member_layers(first.net)  # None: vmap the net's own forward
        self.draws = self.layers is None or any(
            isinstance(m, torch.nn.Dropout) for m in first.net.modules())
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
        # Several optimizer steps per Lightning batch (training_step), and the cosine
        # schedule stepped by us (on_train_epoch_end): Lightning's manual optimization.
        self.automatic_optimization = False
        # Divergence is state: a resumed group keeps its frozen members frozen.
        self.register_buffer("active", torch.ones(len(members), dtype=torch.bool))
        self.register_buffer("diverged_epoch", torch.zeros(len(members), dtype=torch.long))
        self.register_buffer("diverged_loss", torch.zeros(len(members)))  # its last loss
        self.register_buffer("stopped_epoch", torch.zeros(len(members), dtype=torch.long))
        self.stopping = None
        if early_stopping is not None:
            self.stopping = MemberEarlyStopping(early_stopping, len(members))
            metrics = ("loss", "acc") if self.classifier else ("loss",)
            tags = [f"{stage}/{m}" for stage in ("train_running", "train", "val") for m in metrics]
            if self.stopping.monitor not in tags:
                raise ValueError(f"EarlyStopping monitors {self.stopping.monitor!r}, which "
                                 f"members log only as one of {', '.join(tags)}")
        self.epoch_metrics: dict[str, Tensor] = {}
        self.examples: dict[str, int] = {}  # stage -> how many examples its values are over
        # stage -> this epoch's sums so far: "loss" (K,) of loss·n, "correct" (K,), "count"
        self.sums: dict[str, dict] = {}

    @staticmethod
    def stackable(module: FitModule) -> bool:
        """Whether modules like this one can train stacked: SGD steps (not a closed form
        or a rule of their own), no buffers (e.g. batch norm's running statistics)."""
        return (module.automatic_optimization and module.optimizer == "sgd"
                and not dict(module.net.named_buffers()))

    @staticmethod
    def stackable_callbacks(callbacks: list) -> bool:
        """Whether members with these Trainer callbacks of their own can train stacked:
        none, or one EarlyStopping that MemberEarlyStopping follows for each member."""
        return not callbacks or (len(callbacks) == 1
                                 and MemberEarlyStopping.follows(callbacks[0]))

    @property
    def num_members(self) -> int:
        return len(self.members)

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
                                  X, shared)

        def member_forward(params: tuple[Tensor, ...], X: Tensor) -> Tensor:
            named = dict(zip(self.names, params, strict=True))
            return functional_call(self.members[0].net, named, (X,))

        return vmap(member_forward, in_dims=(0, None if shared else 0), randomness="different")(
            tuple(self.params), X)

    def score(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        """Adds the batch to the stage's epoch sums (tensors, read once an epoch); returns
        the members' mean losses (K,), each by its plain module's loss, in one call."""
        X, y = batch
        y_hat = self(X)
        losses = self.members[0].member_losses(y_hat, y)
        with torch.no_grad():
            sums = self.sums.setdefault(stage, {"loss": 0, "correct": 0, "count": 0})
            sums["loss"] = sums["loss"] + losses * y.shape[1]  # (K,)
            if self.classifier:
                sums["correct"] = sums["correct"] + (y_hat.argmax(-1) == y).sum(-1)  # (K,)
            sums["count"] += y.shape[1]
        return losses

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
            # d2l 3.7's λ/2·‖w‖² per member, on weights only, as FitModule adds it.
            weights = [p for p, d in zip(self.params, self.decayed, strict=True) if d]
            norms = sum((w**2).flatten(1).sum(1) for w in weights)  # (K,)
            loss = loss + (self.wd_penalty / 2 * norms).sum()
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int,
                        dataloader_idx: int = 0) -> None:
        self.score(batch, ("val", "train")[dataloader_idx])

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.score(batch, "test")

    def on_train_batch_start(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        # Epoch e's dropout masks come from a seed of its own, as FitModule's do (one
        # stream for the group: masks match the one-by-one runs in law, not bit for bit).
        # Only where a net draws: seeding costs ~4 ms, a tenth of a polynomial epoch.
        if batch_idx == 0 and self.draws:
            mixed = np.random.SeedSequence(
                [self.members[0].seed, self.current_epoch, DROPOUT_STREAM])
            torch.manual_seed(int(mixed.generate_state(1)[0]))

    def on_train_epoch_end(self) -> None:
        if self.members[0].schedule != "constant":  # manual optimization: ours to step
            self.lr_schedulers().step()
        self.record("train_running", self.current_epoch + 1)
        # Members early stopping stopped at this epoch's validation stop with the epoch.
        self.active.logical_and_(self.stopped_epoch == 0)
        if not self.active.any():  # one sync per epoch
            self.trainer.should_stop = True

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:
            self.sums.clear()
            return
        for stage in ("val", "train"):
            self.record(stage, self.current_epoch + 1)
        if self.stopping is not None:
            current = self.epoch_metrics[self.stopping.monitor].to(self.device)
            stop = self.stopping.stops(current, self.active)
            self.stopped_epoch.masked_fill_(stop, self.current_epoch + 1)

    def on_test_epoch_end(self) -> None:
        self.record("test", self.current_epoch)

    def configure_optimizers(self):
        decayed = [p for p, d in zip(self.params, self.decayed, strict=True) if d]
        others = [p for p, d in zip(self.params, self.decayed, strict=True) if not d]
        first = self.members[0]
        optimizer = StackedSGD(decayed, others, self.member_lr, self.wd_optimizer,
                               first.momentum, self.active)
        if first.schedule == "constant":
            return optimizer
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, self.trainer.max_epochs)
        return {"optimizer": optimizer, "lr_scheduler": cosine}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # A group resumed after its last epoch (killed while testing) fits nothing more:
        # these are then its members' train and val values.
        checkpoint["epoch_metrics"] = self.epoch_metrics

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.epoch_metrics = checkpoint.get("epoch_metrics", {})

    # -- per-member epoch values ----------------------------------------------------------

    def record(self, stage: str, step: int) -> None:
        """The epoch's per-member values of `stage` into epoch_metrics and the loggers.
        Members frozen by now keep the values of their last whole epoch."""
        sums = self.sums.pop(stage, None)
        if sums is None:
            return
        # One reduce per sum and epoch (a single device skips them): means over all ranks.
        def total(value) -> Tensor:
            value = torch.as_tensor(value, dtype=torch.float32, device=self.device)
            return self.trainer.strategy.reduce(value, reduce_op="sum").cpu()

        count = total(sums["count"])
        self.examples[stage] = int(count)
        values = {f"{stage}/loss": total(sums["loss"]) / count}
        if self.classifier:
            values[f"{stage}/acc"] = total(sums["correct"]) / count
        active = self.active.cpu()
        for tag, value in values.items():
            previous = self.epoch_metrics.get(tag, torch.full_like(value, float("nan")))
            self.epoch_metrics[tag] = torch.where(active, value, previous)
        if len(self.loggers) == self.num_members:
            for k in active.nonzero().flatten().tolist():
                self.loggers[k].log_metrics({t: v[k].item() for t, v in values.items()}, step)

    # -- one member, as its plain module --------------------------------------------------

    def member_state_dict(self, k: int) -> dict[str, Tensor]:
        """Member k's weights as its plain module's state_dict: copies, so torch.save
        writes only them (a view would save the whole stacked storage)."""
        stacked = zip(self.names, self.params, strict=True)
        return {f"net.{name}": p[k].detach().clone() for name, p in stacked}

    def load_member_state_dicts(self, states: list[dict[str, Tensor]]) -> None:
        """The inverse of member_state_dict for all K members (merging a split group)."""
        with torch.no_grad():
            for name, p in zip(self.names, self.params, strict=True):
                p.copy_(torch.stack([state[f"net.{name}"] for state in states]))

    def divergence(self, k: int) -> DivergedError | None:
        """Member k's divergence, as its one-by-one run raises it, or None."""
        if not self.diverged_epoch[k]:
            return None
        loss, epoch = self.diverged_loss[k].item(), int(self.diverged_epoch[k])
        return DivergedError(epoch, loss, self.members[k].lr)

    def member_epochs(self, k: int) -> int:
        """How many epochs member k trained: to its early stop, else the group's."""
        return int(self.stopped_epoch[k]) or self.trainer.current_epoch

    def member(self, k: int) -> FitModule:
        """Member k's plain module, with the group's current weights for it."""
        self.members[k].load_state_dict(self.member_state_dict(k))
        return self.members[k]

    def member_optimizer_state(self, k: int, optimizer: StackedSGD) -> dict:
        """Member k's optimizer state as its plain module's own optimizer holds it."""
        return optimizer.member_state_dict(k, self.members[k].make_optimizer())
