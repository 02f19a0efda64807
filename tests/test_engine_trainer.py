"""The Trainer fitlab builds for a member: its own callbacks, the experiment's and the
user's side by side, none replacing another."""

from lightning.pytorch.callbacks import LearningRateMonitor

from experiments.engine import config, registry
from experiments.engine.trainer import LastCheckpoint, LastMetrics, build_trainer
from experiments.studies.perceptron import TheoremBound


def test_a_users_callbacks_add_to_the_experiments_own_and_fitlabs(tmp_path):
    study, plan = config.plan(registry.load("perceptron"), [
        "--logdir", str(tmp_path / "runs"), "--trainer.callbacks+=LearningRateMonitor"])
    member = plan.members[0]
    _, _, trainer_args = plan.instantiate(member)
    trainer = build_trainer(plan, [member], member.checkpoint, trainer_args, study.callbacks())
    kinds = {type(c) for c in trainer.callbacks}
    assert {LastCheckpoint, LastMetrics, TheoremBound, LearningRateMonitor} <= kinds
    assert trainer.logger.log_dir == str(tmp_path / "runs" / "perceptron" / "separable")
    assert not (tmp_path / "runs").exists()  # building it wrote nothing
