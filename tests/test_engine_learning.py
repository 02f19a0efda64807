"""Did a run learn (engine/learning.py): a classifier at chance, or a train/loss that rose
above its first score, is `diverged` with the flag and its hint; a learning run is not."""

import json

import pytest
import torch
from conftest import run_main
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_engine_runner import OPTIONS, StopAt, planned

from experiments.engine import config, learning, registry, runner
from experiments.engine.trainer import LastCheckpoint


def test_a_classifier_at_chance_did_not_learn_and_is_no_completed_run(tmp_path, capsys):
    # d2l's MLP with lr 50: its ReLUs die in the first steps and it predicts one class.
    done = run_main("mlp", "--study.member", "relu", "--study.seeds", "1", "--model.lr", "50",
                    "--trainer.max_epochs", "2", "--trainer.limit_train_batches", "10",
                    "--trainer.limit_val_batches", "2", "--trainer.limit_test_batches", "1",
                    logdir=tmp_path)
    assert done.returncode == 0, done.stderr  # a result, reported: not a crash
    saved = json.loads((tmp_path / "mlp" / "relu" / "metrics.json").read_text())
    assert saved["status"] == "diverged" and saved["flag"] == "did not learn"
    assert abs(saved["metrics"]["train/acc"] - 0.1) < 0.02  # Fashion-MNIST's 10 even classes
    hint = "did not learn: train/acc"
    assert hint in saved["message"] and "--model.lr 50 is likely too large (try 5)" in saved[
        "message"]
    assert f"relu diverged: {hint}" in done.stdout  # on the console too


def test_a_loss_that_rose_from_its_first_score_did_not_learn_and_a_falling_one_did(tmp_path):
    plan, member = planned(tmp_path)
    model, _, _ = plan.instantiate(member)
    learned = {"status": "completed", "metrics": {"train/loss": 0.3, "train/acc": 0.9}}
    assert learning.judged(plan, model, dict(learned), first_loss=0.6)["status"] == "completed"
    rose = {"status": "completed", "metrics": {"train/loss": 0.7, "train/acc": 0.9}}
    judged = learning.judged(plan, model, rose, first_loss=0.6)
    assert judged["status"] == "diverged"
    assert judged["message"].startswith("did not learn: train/loss rose from 0.6")
    at_chance = {"status": "completed", "metrics": {"train/loss": 0.69, "train/acc": 0.51}}
    assert learning.judged(plan, model, at_chance)["flag"] == "did not learn"  # XOR: 2 classes
    _, smoke = config.plan(registry.load("mlp"), [*OPTIONS, "--fast", "--logdir", str(tmp_path)])
    assert learning.not_learning(smoke, model, at_chance["metrics"], None) is None  # a taste


def test_the_first_train_loss_survives_a_resume(tmp_path, monkeypatch):
    monkeypatch.setattr(LastCheckpoint, "COST_SHARE", 0)
    plan, member = planned(tmp_path)
    runner.run_member(plan, member, extra_callbacks=(StopAt(3),))
    state = torch.load(member.checkpoint, weights_only=True)["callbacks"]
    first = next(v["loss"] for k, v in state.items() if k.startswith("FirstTrainLoss"))
    events = EventAccumulator(str(member.folder)).Reload().Scalars("train/loss")
    assert first == pytest.approx(events[0].value) and events[0].step == 1
