"""What every model in fitlab shares: optimizers, torchmetrics, and the logging contract.

A subclass builds `self.net` (a plain nn.Module, the model) and says how to score it;
this class is the system that trains it. Epoch-level metrics are accumulated in
torchmetrics objects and logged once per epoch with the epoch number (1, 2, ...) as
the TensorBoard step, so runs with different batch counts line up.

Train is scored as val is: whenever validation runs, a second validation dataloader
(index 1) passes over the training split (or a fixed subset of it) with the epoch's
final weights in eval mode, and that is `train/*`. The running mean over the epoch's
minibatches (train mode, weights still moving) is logged apart, as `train_running/*`.
"""

from typing import Literal

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric, Metric
from torchmetrics.classification import MulticlassAccuracy

from modules import losses, scratch

Style = Literal["scratch", "concise"]
OptimizerName = Literal["sgd", "adam", "adamw"]
Schedule = Literal["constant", "cosine"]
# How weight_decay λ is applied: by the optimizer (SGD adds λw to the gradient, AdamW
# shrinks w apart from the gradient), or as the L2 penalty λ/2·‖w‖² added to the loss.
Decay = Literal["optimizer", "penalty"]

# The metric sets, by the tag prefix they log under.
STAGES = ("train_running", "train", "val", "test")
# What each validation dataloader scores (InMemoryDataModule.val_dataloader's order).
VALIDATION_STAGES = ("val", "train")
DROPOUT_STREAM = 0  # the random stream of an epoch's dropout (see on_train_batch_start)


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of a run's random draws (dropout) in `epoch`: (seed, epoch, stream) mixed
    by SeedSequence, so no two runs' epochs share a stream (see on_train_batch_start)."""
    return int(np.random.SeedSequence([seed, epoch, DROPOUT_STREAM]).generate_state(1)[0])


class DivergedError(ArithmeticError):
    """The training loss stopped being a finite number."""

    def __init__(self, epoch: int, value: float, lr: float):
        self.epoch, self.value = epoch, value
        super().__init__(
            f"loss became {value} in epoch {epoch}: lr {lr:g} is likely too large for this "
            f"model and data (try {lr / 10:g})"
        )


def decays(param: Tensor) -> bool:
    """Weight decay acts on weights (matrices), not biases, as the book does (d2l 3.7)."""
    return param.ndim > 1


def l2_penalty(weights: list[Tensor], weight_decay: float | Tensor) -> Tensor:
    """d2l 3.7's penalty λ/2·‖w‖² over `weights` (those that `decays`): a model's, with its
    λ, a scalar; or K members' stacked on a leading member dim (members/), with their λs
    (K,), each member's own (K,)."""
    member_dims = weight_decay.ndim if isinstance(weight_decay, Tensor) else 0
    return weight_decay / 2 * sum((w**2).flatten(member_dims).sum(-1) for w in weights)


def with_schedule(optimizer: torch.optim.Optimizer, schedule: Schedule, epochs: int):
    """What configure_optimizers returns: the optimizer, and the learning rate over the
    run's `epochs` that `schedule` names (a model's and a group of members' alike)."""
    if schedule == "constant":
        return optimizer
    # Cosine annealing to zero over the run: large steps first, then the noise of SGD
    # settles instead of rocking the final epochs (Loshchilov & Hutter, 2017).
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    return {"optimizer": optimizer, "lr_scheduler": cosine}


class SettingError(ValueError):
    """A setting that cannot work, named with what to do: at construction the CLI turns it
    into exit 2; found once training starts (a net of one's own whose outputs are not
    num_outputs), the run fails with the message alone, no traceback."""


def check(condition: bool, message: str) -> None:
    """Reject a bad setting, naming it (SettingError)."""
    if not condition:
        raise SettingError(message)


class FitModule(L.LightningModule):
    """Trains `self.net` with `self.loss`; logs `{train,val,test}/{loss,...}` per epoch."""

    # Settings in which members trained together as one group may differ (members/): what a
    # group applies to each member on its own (the optimizer's lr and weight decay, the
    # kind of decay) and the initial weights' scale, drawn before members are grouped. A
    # model adds what its group's forward applies per member.
    VARY_WITHIN_GROUP: tuple[str, ...] = ("lr", "weight_decay", "decay", "sigma")
    # What the loss curves measure, for figures (None: the `loss` setting's, else
    # cross-entropy); whether each epoch solves the weights anew rather than steps them
    # (its curve by epoch is then one value repeated).
    loss_unit: str | None = None
    solved: bool = False

    def __init__(
        self,
        lr: float,
        optimizer: OptimizerName = "sgd",
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        style: Style = "concise",
        schedule: Schedule = "constant",
        decay: Decay = "optimizer",
    ):
        """The settings every model shares (`run.py NAME --help` shows these meanings).

        Args:
            lr: the learning rate, the step size of each update.
            optimizer: sgd (the book's), adam or adamw.
            momentum: SGD's momentum, 0 for none (sgd only).
            weight_decay: λ, the weight decay on the weights (not the biases), d2l 3.7.
            style: scratch (the book's hand-written model, loss and SGD) or concise (torch's).
            schedule: the learning rate over training: constant, or cosine down to 0.
            decay: how λ acts: by the optimizer, or as the penalty λ/2·‖w‖² in the loss.
            num_inputs: inputs per example (pixels, features), as the data gives them.
            num_outputs: outputs per example (a classifier's: its classes).
            sigma: the standard deviation of the initial weights, w ~ N(0, sigma²).
            bias: whether the model has a bias (intercept) b.
            loss: the training loss: l2 (½ squared error), l1 or huber.
        """
        super().__init__()
        check(lr > 0, f"lr must be > 0, got {lr}")
        check(0 <= momentum < 1, f"momentum must be in [0, 1), got {momentum}")
        check(weight_decay >= 0, f"weight_decay must be >= 0, got {weight_decay}")
        check(optimizer == "sgd" or momentum == 0,
              f"momentum applies to optimizer sgd only ({optimizer} keeps its own moving "
              "averages): leave momentum 0, or use optimizer sgd")
        check(
            style == "concise" or (optimizer == "sgd" and momentum == 0),
            "style scratch trains with the book's hand-written SGD: "
            "use optimizer sgd with momentum 0, or style concise",
        )
        self.lr, self.optimizer, self.momentum = lr, optimizer, momentum
        self.weight_decay, self.style, self.schedule = weight_decay, style, schedule
        self.decay = decay
        # Every init argument of the concrete model, as plain values: checkpoints and the
        # HPARAMS tab read them.
        self.save_hyperparameters()
        # The run's seed (--seed), handed over by Plan.instantiate, never read from the
        # process; 0 for a model built directly. See on_train_batch_start.
        self.seed = 0
        self.test_examples = 0  # set by testing
        # One set per stage: train_running_metrics, train_metrics, ... (MeanMetric's
        # nan_strategy="disable" would also drop the per-batch weights: torchmetrics 1.9.)
        for stage in STAGES:
            metrics = nn.ModuleDict({"loss": MeanMetric(), **self.make_metrics()})
            setattr(self, f"{stage}_metrics", metrics)

    # -- what a subclass provides ---------------------------------------------------------

    def make_metrics(self) -> dict[str, Metric]:
        """Metrics besides the loss (always there), each updated with (y_hat, y)."""
        return {}

    def example_losses(self, y_hat: Tensor, y: Tensor) -> Tensor:
        """Each example's loss (each element's, for several outputs)."""
        raise NotImplementedError

    def loss(self, y_hat: Tensor, y: Tensor) -> Tensor:
        """A batch's loss: the mean of its examples'."""
        return self.example_losses(y_hat, y).mean()

    def member_losses(self, y_hat: Tensor, y: Tensor) -> Tensor:
        """K stacked members' losses in one call: y_hat (K, B, ...) and y (K, B, ...), or
        (1, B, ...) when they share the examples -> (K,), each member's `loss`."""
        K = len(y_hat)
        y = y.expand(K, *y.shape[1:])
        return self.example_losses(y_hat.flatten(0, 1), y.flatten(0, 1)).view(K, -1).mean(1)

    def final_metrics(self) -> dict:
        """Numbers for metrics.json besides the logged ones: ‖w‖₂ over the weights weight
        decay acts on (every weight matrix, no bias: what its λ/2·‖w‖² penalty measures),
        how many test examples the test scores are over (what their interval depends on);
        a subclass adds its own (e.g. the learned weights)."""
        weights = [p.detach() for p in self.net.parameters() if decays(p)]
        metrics = {"w_norm": torch.sqrt(sum((w**2).sum() for w in weights)).item()} \
            if weights else {}
        return metrics | ({"test/examples": self.test_examples} if self.test_examples else {})

    # -- the Lightning hooks --------------------------------------------------------------

    def forward(self, X: Tensor) -> Tensor:
        return self.net(X)

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        loss = self.score(batch, "train_running")
        # One sync per step; the price of stopping at the first non-finite loss. Under DDP
        # the mean over ranks decides, so all stop together (one rank stopping alone would
        # leave the others waiting in backward's all-reduce); a single device skips it.
        mean_loss = self.trainer.strategy.reduce(loss.detach(), reduce_op="mean")
        if not torch.isfinite(mean_loss):
            raise DivergedError(self.current_epoch + 1, mean_loss.item(), self.lr)
        if self.decay == "penalty" and self.weight_decay > 0:
            # d2l 3.7's l2_penalty joins what SGD minimizes; train/loss (logged in score)
            # stays the data loss, so it compares across the ways of decaying.
            weights = [p for p in self.parameters() if decays(p)]
            loss = loss + l2_penalty(weights, self.weight_decay)
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int,
                        dataloader_idx: int = 0) -> None:
        self.score(batch, VALIDATION_STAGES[dataloader_idx])

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self.score(batch, "test")

    def on_train_batch_start(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        # Epoch e's random draws (dropout) come from (seed, e) alone, seeded just before its
        # first step. Lightning draws from the same global generator (a seed for each
        # dataloader iterator), and a run resumed from last.ckpt does so at other moments
        # than an uninterrupted one: without this, their numbers would part. SeedSequence
        # mixes (seed, epoch, stream), so no two runs' epochs share a stream (seed + epoch
        # would give seed 1's epoch 0 the draws of seed 0's epoch 1).
        if batch_idx == 0:
            torch.manual_seed(epoch_seed(self.seed, self.current_epoch))

    def on_train_epoch_end(self) -> None:
        self.log_epoch("train_running")

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking:  # a check before training, not a result: forget it
            for stage in VALIDATION_STAGES:
                for metric in getattr(self, f"{stage}_metrics").values():
                    metric.reset()
        else:
            self.log_epoch(*VALIDATION_STAGES)

    def on_test_epoch_end(self) -> None:
        # A copy: the reduce works in place, and the metric's own state must stay this rank's.
        weight = self.test_metrics["loss"].weight.clone()
        examples = self.trainer.strategy.reduce(weight, reduce_op="sum")
        self.test_examples = int(examples)
        self.log_epoch("test")

    def configure_optimizers(self):
        return with_schedule(self.make_optimizer(), self.schedule, self.trainer.max_epochs)

    def make_optimizer(self) -> torch.optim.Optimizer:
        params = [p for p in self.parameters() if p.requires_grad]
        weight_decay = self.weight_decay if self.decay == "optimizer" else 0.0
        groups = [
            {"params": [p for p in params if decays(p)], "weight_decay": weight_decay},
            {"params": [p for p in params if not decays(p)], "weight_decay": 0.0},
        ]
        groups = [g for g in groups if g["params"]]
        if self.style == "scratch":
            return scratch.SGD(groups, lr=self.lr)
        if self.optimizer == "sgd":
            return torch.optim.SGD(groups, lr=self.lr, momentum=self.momentum)
        optimizer = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[self.optimizer]
        return optimizer(groups, lr=self.lr)

    # -- shared helpers -------------------------------------------------------------------

    def score(self, batch: tuple[Tensor, Tensor], stage: str) -> Tensor:
        X, y = batch
        y_hat = self(X)
        loss = self.loss(y_hat, y)
        metrics = getattr(self, f"{stage}_metrics")
        # Loss is a mean over the batch; weight it so the epoch value is the sample mean.
        metrics["loss"].update(loss.detach(), weight=len(y))
        for name, metric in metrics.items():
            if name != "loss":
                metric.update(y_hat.detach(), y)
        return loss

    def log_epoch(self, *stages: str) -> None:
        # Logging the Metric objects lets Lightning compute, sync across ranks and reset
        # them; "step" makes the epoch number the x-axis in TensorBoard. Fitting is inside
        # epoch current_epoch + 1; testing comes after current_epoch finished epochs.
        self.log_dict({f"{stage}/{name}": metric for stage in stages
                       for name, metric in getattr(self, f"{stage}_metrics").items()})
        # The same on every rank; sync_dist says so to Lightning, at one reduce per epoch.
        self.log("step", float(self.current_epoch + (stages != ("test",))), sync_dist=True)


class Regressor(FitModule):
    """A model scored by a regression loss (`l2`, `l1` or `huber`)."""

    def __init__(self, lr: float, loss: losses.LossName = "l2", **kwargs):
        check(loss in losses.SCRATCH, f"loss must be one of l2, l1, huber, got {loss!r}")
        super().__init__(lr, **kwargs)
        table = losses.SCRATCH if self.style == "scratch" else losses.CONCISE
        self.loss_fn = table[loss]

    def example_losses(self, y_hat: Tensor, y: Tensor) -> Tensor:
        return self.loss_fn(y_hat, y)


class Classifier(FitModule):
    """A model over `num_outputs` classes scored by cross-entropy and accuracy."""

    def __init__(self, lr: float, num_outputs: int, **kwargs):
        check(num_outputs >= 2, f"num_outputs must be >= 2, got {num_outputs}")
        self.num_outputs = num_outputs  # before super().__init__, which builds the metrics
        super().__init__(lr, **kwargs)

    def make_metrics(self) -> dict[str, Metric]:
        return {"acc": MulticlassAccuracy(self.num_outputs, average="micro")}

    def example_losses(self, y_hat: Tensor, y: Tensor) -> Tensor:
        if self.style == "scratch":
            return scratch.cross_entropy(y_hat, y)
        return nn.functional.cross_entropy(y_hat, y, reduction="none")
