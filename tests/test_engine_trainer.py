"""The Trainer fitlab builds for a member: its own callbacks, the experiment's and the
user's side by side, none replacing another; and how often it saves last.ckpt."""

import time

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor

from datamodules import PolynomialData
from experiments.engine import config, registry
from experiments.engine.trainer import LastCheckpoint, LastMetrics, build_trainer
from modules import LinearRegression


class StudyCallback(Callback):
    """An experiment's own callback (Study.callbacks)."""


def test_a_users_callbacks_add_to_the_experiments_own_and_fitlabs(tmp_path):
    study, plan = config.plan(registry.load("perceptron"), [
        "--logdir", str(tmp_path / "runs"), "--trainer.callbacks+=LearningRateMonitor"])
    study.callbacks = lambda: [StudyCallback()]
    member = plan.members[0]
    _, _, trainer_args = plan.instantiate(member)
    trainer = build_trainer(plan, [member], member.checkpoint, trainer_args, study.callbacks())
    kinds = {type(c) for c in trainer.callbacks}
    assert {LastCheckpoint, LastMetrics, StudyCallback, LearningRateMonitor} <= kinds
    assert trainer.logger.log_dir == str(tmp_path / "runs" / "perceptron" / "separable")
    assert not (tmp_path / "runs").exists()  # building it wrote nothing


class SlowEpochs(Callback):
    """Makes every training epoch last `seconds` longer."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        time.sleep(self.seconds)


@pytest.mark.parametrize("slow", [False, True])
def test_last_checkpoint_skips_saves_that_cost_more_than_the_epochs_and_keeps_the_last(
        tmp_path, slow):
    epochs, saved = 4 if slow else 60, []
    saver = LastCheckpoint(dirpath=tmp_path, filename="last", enable_version_counter=False,
                           save_on_train_epoch_end=True)
    L.seed_everything(0, verbose=False)
    trainer = L.Trainer(max_epochs=epochs, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False,
                        callbacks=[SlowEpochs(1.0 if slow else 0.0), saver])
    save = trainer.save_checkpoint
    trainer.save_checkpoint = lambda *args, **kwargs: (saved.append(trainer.current_epoch),
                                                       save(*args, **kwargs))
    trainer.fit(LinearRegression(num_inputs=4, lr=0.01),
                datamodule=PolynomialData(degree=3, batch_size=100))
    # A 4-weight model's epoch takes milliseconds, about what a save takes: most are skipped.
    # An epoch 1 s long, far more than 20 saves (a save takes ~4 ms here, the first ~14 ms,
    # and 50 ms would still do on a busy machine), is saved every time.
    assert len(saved) == epochs if slow else len(saved) <= epochs / 3  # 9 of 60 here
    assert saved[-1] == epochs - 1
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["epoch"] == epochs - 1
