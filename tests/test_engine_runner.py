"""Training one member in process: the cosine schedule, and a run stopped mid-way that
resumes from last.ckpt to the very numbers of an uninterrupted one (momentum and the
scheduler's state included)."""

import math
from pathlib import Path

import lightning as L
import pytest
import torch

from experiments.engine import config, registry, runner
from experiments.engine.plan import Member, Plan
from experiments.engine.trainer import LastCheckpoint

EPOCHS, LR = 6, 0.1
# The mlp experiment's member relu on XOR points (10 steps an epoch), trained by SGD with
# momentum and the cosine schedule, and dropout, whose random draws a resume must repeat.
OPTIONS = ["--study.member", "relu", "--data", "datamodules.XORPoints", "--data.batch_size", "20",
           "--model.num_inputs", "2", "--model.num_hiddens", "[8]", "--model.num_outputs", "2",
           "--model.momentum", "0.9", "--model.schedule", "cosine", "--model.dropout", "0.2",
           "--model.lr", str(LR), "--trainer.max_epochs", str(EPOCHS),
           "--trainer.enable_progress_bar", "false"]


class LearningRates(L.Callback):
    """The optimizer's learning rate as each training epoch starts."""

    def __init__(self):
        self.lrs: list[float] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])


class Stopped(Exception):
    pass


class StopAt(L.Callback):
    """Stops the run as epoch `epoch` (0-based) starts, as a crash or a kill would."""

    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if trainer.current_epoch == self.epoch:
            raise Stopped(f"stopped before epoch {self.epoch + 1}")


def planned(logdir: Path) -> tuple[Plan, Member]:
    _, plan = config.plan(registry.load("mlp"), [*OPTIONS, "--logdir", str(logdir)])
    return plan, plan.members[0]


def final_weights(member: Member) -> dict[str, torch.Tensor]:
    return torch.load(member.checkpoint, weights_only=True)["state_dict"]


def test_the_cosine_schedule_anneals_the_lr_to_zero_over_max_epochs(tmp_path):
    plan, member = planned(tmp_path)
    lrs = LearningRates()
    result = runner.run_member(plan, member, extra_callbacks=(lrs,))
    assert result["status"] == "completed" and result["epochs"] == EPOCHS
    cosine = [LR * (1 + math.cos(math.pi * e / EPOCHS)) / 2 for e in range(EPOCHS)]
    assert lrs.lrs == pytest.approx(cosine)
    # After the last epoch the scheduler has stepped EPOCHS times: the lr is 0.
    checkpoint = torch.load(member.checkpoint, weights_only=True)
    assert checkpoint["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(0, abs=1e-12)
    assert checkpoint["lr_schedulers"][0]["last_epoch"] == EPOCHS


def test_a_run_stopped_mid_way_resumes_to_the_numbers_of_an_uninterrupted_one(
        tmp_path, monkeypatch, capsys):
    # XOR's epochs take milliseconds, so LastCheckpoint may skip saving some of them,
    # depending on how busy the machine is (test_engine_trainer tests that rule); here
    # every epoch is saved, so the rerun starts from a known one.
    monkeypatch.setattr(LastCheckpoint, "COST_SHARE", 0)
    plan, member = planned(tmp_path / "whole")
    whole = runner.run_member(plan, member)

    plan, member = planned(tmp_path / "resumed")
    stopped = runner.run_member(plan, member, extra_callbacks=(StopAt(3),))
    assert stopped["status"] == "failed" and "before epoch 4" in stopped["message"]
    state = torch.load(member.checkpoint, weights_only=True)
    assert state["epoch"] == 2  # three epochs done: what the rerun starts from
    assert all("momentum_buffer" in s for s in state["optimizer_states"][0]["state"].values())
    lrs = LearningRates()
    capsys.readouterr()
    resumed = runner.run_member(plan, member, extra_callbacks=(lrs,))  # the same command again
    assert "resumed from epoch 3 (last.ckpt), training on from epoch 4" in capsys.readouterr().out

    assert resumed["status"] == "completed" and resumed["epochs"] == EPOCHS
    assert len(lrs.lrs) == EPOCHS - 3  # it trained the missing epochs only
    assert resumed["metrics"] == whole["metrics"]
    for key, value in final_weights(member).items():
        torch.testing.assert_close(value, final_weights(planned(tmp_path / "whole")[1])[key],
                                   rtol=0, atol=0)
