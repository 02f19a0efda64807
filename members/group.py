"""K members of one shape trained under one Trainer: what every such group shares.

A group scores its K members on each batch at once and keeps their epoch values apart:
`epoch_metrics` ({"val/loss": (K,) tensor, ...}) and, when the Trainer has one logger per
member, member k's logger, stepped by epoch. It logs nothing through self.log. Validation
dataloader 0 is scored as `val/*`, dataloader 1 (the training split in eval mode, when
given) as `train/*`; the running mean over the training steps is `train_running/*`.
A member can stop before the others: frozen (`active` False) when its loss stops being
finite (`diverged_epoch`) or when `early_stopping` (the settings of its one-by-one run's
EarlyStopping), kept for each member apart, stops it (`stopped_epoch`). How the members train is the
subclass's: SGD steps on stacked parameters (stacked.py), closed-form solves
(closed_form.py).
"""

import lightning as L
import torch
from torch import Tensor

from members.stopping import MemberEarlyStopping, follows
from modules.base import Classifier, DivergedError, FitModule


def stack_key(module: FitModule) -> tuple:
    """Equal for modules that can train as one group: the class, every setting but those
    its class lets vary (VARY_WITHIN_GROUP), and the names and shapes of the net's weights."""
    vary = type(module).VARY_WITHIN_GROUP
    settings = sorted((k, repr(v)) for k, v in module.hparams.items() if k not in vary)
    shapes = [(name, tuple(t.shape)) for name, t in module.net.state_dict().items()]
    return type(module).__qualname__, tuple(settings), tuple(shapes)


class MemberGroup(L.LightningModule):
    """K plain FitModules of one `stack_key` as one LightningModule (see the module's doc);
    a subclass says how they run: `forward` (X (K or 1, B, ...) -> y_hat (K, B, ...)),
    `training_step`, `member(k)`."""

    def __init__(self, members: list[FitModule], early_stopping: dict | None = None):
        super().__init__()
        keys = {stack_key(m) for m in members}
        if len(keys) != 1:
            vary = ", ".join(type(members[0]).VARY_WITHIN_GROUP)
            raise ValueError(f"members differ in more than {vary}: {keys}")
        # The plain members, kept out of nn.Module's registry (a subclass registers what
        # it trains).
        self.__dict__["members"] = members
        self.classifier = isinstance(members[0], Classifier)
        self.automatic_optimization = False  # a group steps (or solves) its members itself
        # A member's end is state: a resumed group keeps its frozen members frozen.
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
        # Each member's first train/loss (K,), what learning.not_learning compares its
        # final one with: the first validation's, kept across a resume (the checkpoint).
        self.first_train_loss: Tensor | None = None
        self.examples: dict[str, int] = {}  # stage -> how many examples its values are over
        # stage -> this epoch's sums so far: "loss" (K,) of loss·n, "correct" (K,), "count"
        self.sums: dict[str, dict] = {}

    @staticmethod
    def stackable_callbacks(callbacks: list[tuple[type, dict]]) -> bool:
        """Whether members with these Trainer callbacks of their own, each (class, its
        settings), can train as a group: none, or one EarlyStopping that
        MemberEarlyStopping follows for each member."""
        return not callbacks or (len(callbacks) == 1 and follows(*callbacks[0]))

    @property
    def num_members(self) -> int:
        return len(self.members)

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

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int,
                        dataloader_idx: int = 0) -> None:
        self.score(batch, ("val", "train")[dataloader_idx])

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.score(batch, "test")

    def on_train_epoch_end(self) -> None:
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

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # A group resumed after its last epoch (killed while testing) fits nothing more:
        # these are then its members' train and val values.
        checkpoint["epoch_metrics"] = self.epoch_metrics
        checkpoint["first_train_loss"] = self.first_train_loss

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.epoch_metrics = checkpoint.get("epoch_metrics", {})
        self.first_train_loss = checkpoint.get("first_train_loss")

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
        if stage == "train" and self.first_train_loss is None:
            self.first_train_loss = values["train/loss"].clone()
        active = self.active.cpu()
        for tag, value in values.items():
            previous = self.epoch_metrics.get(tag, torch.full_like(value, float("nan")))
            self.epoch_metrics[tag] = torch.where(active, value, previous)
        if len(self.loggers) == self.num_members:
            for k in active.nonzero().flatten().tolist():
                self.loggers[k].log_metrics({t: v[k].item() for t, v in values.items()}, step)

    # -- one member, as its plain module --------------------------------------------------

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
        raise NotImplementedError
