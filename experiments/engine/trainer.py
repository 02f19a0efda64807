"""The Lightning Trainer of one member, as fitlab builds it for every run.

Its logger writes the member's TensorBoard events into the run folder, a checkpoint is
saved (atomically) at the end of training epochs (LastCheckpoint says which), and the
progress bar redraws every few steps: with a model this small, redrawing after every step
costs more than the step.
"""

import io
import sys
import time
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint, ProgressBar, TQDMProgressBar
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO

from experiments.engine.files import write_atomically
from experiments.engine.plan import Member, Plan

PROGRESS_REFRESH_STEPS = 10


class AtomicCheckpointIO(TorchCheckpointIO):
    """Checkpoints written next to their final name, then renamed over it.

    Lightning's own writer goes through a file in the system's temporary folder and moves
    it over; from another file system that move is a copy, so a kill mid-copy would leave
    a truncated last.ckpt and nothing to resume from.
    """

    def save_checkpoint(self, checkpoint: dict, path, storage_options=None) -> None:
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomically(Path(path), buffer.getvalue())


class LastCheckpoint(ModelCheckpoint):
    """last.ckpt at the end of a training epoch, unless saving would cost more than a
    twentieth of the training time (rank 0's clock decides under DDP): the polynomial's
    epochs take milliseconds, as long as writing the checkpoint. So a slow epoch is saved
    every time, a tiny one once 20 times the last save's duration has passed (a kill then
    loses a fraction of a second), and the epoch that ends fitting always, as the studies'
    figures load it."""

    COST_SHARE = 20

    def __init__(self, clock: Callable[[], float] = time.perf_counter, **kwargs):
        """`clock`: seconds from any origin (a test passes one it controls)."""
        super().__init__(**kwargs)
        self.clock = clock
        self.saved_at, self.save_seconds = -float("inf"), 0.0

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        started = self.clock()
        due = started - self.saved_at >= self.COST_SHARE * self.save_seconds
        # Under DDP a save is collective (every rank enters it): rank 0's clock decides for
        # all, or ranks whose clocks disagree would wait for each other for ever.
        if trainer.strategy.broadcast(due or self.fitting_ends(trainer)):
            super().on_train_epoch_end(trainer, pl_module)
            self.saved_at = self.clock()
            self.save_seconds = self.saved_at - started

    @staticmethod
    def fitting_ends(trainer: L.Trainer) -> bool:
        """Whether this epoch is the last: its limit, or a stop asked for (early stopping,
        a group whose members all diverged; checkpoint callbacks run last, after those)."""
        return (trainer.should_stop or 0 <= trainer.max_epochs <= trainer.current_epoch + 1
                or 0 <= trainer.max_steps <= trainer.global_step)


class LastMetrics(Callback):
    """Keeps the epoch's logged metrics in last.ckpt. A run killed after its last epoch
    (while testing, say) resumes with nothing left to fit, so Lightning logs nothing; these
    are then its train and val results."""

    def __init__(self):
        self.metrics: dict[str, float] = {}

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        checkpoint["logged_metrics"] = {k: v.item() for k, v in trainer.callback_metrics.items()}

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self.metrics = checkpoint.get("logged_metrics", {})


def build_trainer(plan: Plan, members: list[Member], checkpoint: Path, trainer_args: dict,
                  extra_callbacks: tuple = ()) -> L.Trainer:
    """The Trainer of one member, or of a group of members trained as one: its --trainer
    settings plus fitlab's loggers (one per member, into its run folder), a checkpoint
    at `checkpoint` (LastCheckpoint), the callback that keeps the last logged metrics,
    and the progress bar."""
    if trainer_args.get("enable_checkpointing") is False:
        raise ValueError("--trainer.enable_checkpointing false: every fitlab run saves "
                         "checkpoints/last.ckpt to resume from; leave the setting out")
    loggers = [TensorBoardLogger(
        save_dir=plan.folder.parent,
        name=plan.experiment.name,
        version=member.name,
        default_hp_metric=False,  # final metrics go to HPARAMS at the end, not a -1
    ) for member in members]
    saver = LastCheckpoint(
        dirpath=checkpoint.parent, filename=checkpoint.stem,
        enable_version_counter=False,  # always the one last.ckpt, overwritten
        save_on_train_epoch_end=True,  # once the epoch's train metrics are in, not before
    )
    callbacks = [saver, LastMetrics(), *(trainer_args.pop("callbacks", None) or []),
                 *extra_callbacks]
    if trainer_args.get("enable_progress_bar") is None:  # unset: only on a terminal, not a log
        trainer_args["enable_progress_bar"] = sys.stderr.isatty()
    showing_progress = trainer_args["enable_progress_bar"]
    if showing_progress and not any(isinstance(c, ProgressBar) for c in callbacks):
        callbacks.append(TQDMProgressBar(refresh_rate=PROGRESS_REFRESH_STEPS))
    plugins = trainer_args.pop("plugins", None) or []
    plugins = [*(plugins if isinstance(plugins, list) else [plugins]), AtomicCheckpointIO()]
    logger = loggers[0] if len(loggers) == 1 else loggers
    return L.Trainer(**trainer_args, logger=logger, callbacks=callbacks, plugins=plugins)
