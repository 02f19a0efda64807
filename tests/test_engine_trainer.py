"""The Trainer fitlab builds for a member: its own callbacks, the experiment's and the
user's side by side, none replacing another; and how often it saves last.ckpt."""

import lightning as L
import pytest
import torch
from lightning.pytorch.callbacks import Callback, LearningRateMonitor

from datamodules import PolynomialData
from experiments.engine import config, registry
from experiments.engine.trainer import LastCheckpoint, LastMetrics, build_trainer
from experiments.studies.perceptron import TheoremBound
from modules import LinearRegression


def test_a_users_callbacks_add_to_the_experiments_own_and_fitlabs(tmp_path):
    study, plan = config.plan(registry.load("perceptron"), [
        "--logdir", str(tmp_path / "runs"), "--trainer.callbacks+=LearningRateMonitor"])
    member = plan.members[0]
    _, _, trainer_args = plan.instantiate(member)
    trainer = build_trainer(plan, [member], member.checkpoint, trainer_args, study.callbacks())
    kinds = {type(c) for c in trainer.callbacks}
    assert {LastCheckpoint, LastMetrics, TheoremBound, LearningRateMonitor} <= kinds
    assert trainer.logger.log_dir == str(tmp_path / "runs" / "perceptron" / "separable,seed=0")
    assert not (tmp_path / "runs").exists()  # building it wrote nothing


class Clock:
    """A clock the test moves: every epoch lasts `epoch` seconds and every save `save`."""

    def __init__(self, epoch: float, save: float):
        self.now, self.epoch, self.save = 0.0, epoch, save

    def __call__(self) -> float:
        return self.now


class Epochs(Callback):
    def __init__(self, clock: Clock):
        self.clock = clock

    def on_train_epoch_end(self, trainer, pl_module) -> None:  # runs before the saver's
        self.clock.now += self.clock.epoch


@pytest.mark.parametrize(("epoch", "expected"), [
    (1.0, list(range(60))),  # a save costs a hundredth of an epoch: every epoch is saved
    (0.001, [0, 59]),  # a save costs 10 epochs: 200 epochs must pass; the last is kept
    (0.004, [0, 50, 59]),  # 0.2 s of epochs after the first save: every 50th
])
def test_last_checkpoint_skips_saves_that_cost_more_than_a_twentieth_and_keeps_the_last(
        tmp_path, epoch, expected):
    clock, saved = Clock(epoch, save=0.01), []
    saver = LastCheckpoint(clock=clock, dirpath=tmp_path, filename="last",
                           enable_version_counter=False, save_on_train_epoch_end=True)
    L.seed_everything(0, verbose=False)
    trainer = L.Trainer(max_epochs=60, logger=False, enable_progress_bar=False,
                        enable_model_summary=False, use_distributed_sampler=False,
                        callbacks=[Epochs(clock), saver])
    save = trainer.save_checkpoint

    def timed_save(*args, **kwargs):
        saved.append(trainer.current_epoch)
        save(*args, **kwargs)
        clock.now += clock.save

    trainer.save_checkpoint = timed_save
    trainer.fit(LinearRegression(num_inputs=4, lr=0.01),
                datamodule=PolynomialData(degree=3, batch_size=100))
    assert saved == expected
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["epoch"] == 59
