"""Same-shaped members trained together: one Lightning run of a MemberGroup module.

A study's seeds, folds and λ grids are members of one shape: the same model class and
parameter shapes, the same data source, the same number of steps. For so small a model a
step is bookkeeping, not arithmetic, so K of them trained as one cost little more than
one (members/stacked.py; `benchmarks/members_speed.py` measures it); closed-form fits
solve each on its own but under one Trainer (members/closed_form.py). Each member still
gets its own run folder, as runner.run_member writes it: events stepped by epoch (one
logger per member), config.yaml, metrics.json and checkpoints/last.ckpt, which loads
into the plain module with `weights_only=True`. While the group trains, its own
checkpoint (`<experiment>/.groups/<first member>+K/last.ckpt`) is what a
rerun resumes from; it is removed once every member's folder is written.
"""

import contextlib
import shutil
import time
from pathlib import Path

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

import members as members_package  # the subsystem (a study's `members` are its runs)
from experiments.engine import runner
from experiments.engine.plan import Member, Plan, class_of
from experiments.engine.trainer import AtomicCheckpointIO, build_trainer


def may_differ(member: Member) -> set[str]:
    """The settings in which the member's group may differ: its seed, and what its model
    and datamodule classes declare (VARY_WITHIN_GROUP), as command-line keys."""
    keys = {"seed"}
    for part in ("model", "data"):
        kind = class_of(member.config.get(part))
        keys |= {f"{part}.{name}" for name in getattr(kind, "VARY_WITHIN_GROUP", ())}
    return keys


def group_key(member: Member) -> tuple:
    """Equal for members that differ only where their classes allow (may_differ): the same
    classes and other settings, so the same parameter shapes, data source and number of
    steps."""
    vary = may_differ(member)
    settings = member.flat_settings
    rest = tuple(sorted((k, repr(v)) for k, v in settings.items() if k not in vary))
    return rest, member.final


def grouped(members: list[Member]) -> list[list[Member]]:
    """The members in groups of one shape, in the order of their first member."""
    groups: dict[tuple, list[Member]] = {}
    for member in members:
        groups.setdefault(group_key(member), []).append(member)
    return list(groups.values())


def same_data(members: list[Member]) -> list[int]:
    """For each member, the first member with the same data settings (seeds of one
    dataset draw the same splits: StackedData loads them once)."""
    data = [{k: v for k, v in m.flat_settings.items() if k.startswith("data.")}
            for m in members]
    return [data.index(settings) for settings in data]


def callback_settings(member: Member) -> list[tuple[type, dict]]:
    """The member's own Trainer callbacks (--trainer.callbacks), each its class and its
    settings (init_args) as the config gives them: what a group decides from."""
    given = member.config.trainer.get("callbacks") or []
    return [(class_of(callback), callback.init_args.as_dict() if callback.get("init_args")
             else {}) for callback in (given if isinstance(given, list) else [given])]


def group_checkpoint(plan: Plan, members: list[Member]) -> Path:
    return plan.folder / ".groups" / f"{members[0].name}+{len(members)}" / "last.ckpt"


def run_group(plan: Plan, members: list[Member], extra_callbacks: tuple = (),
              member_metrics=lambda model, data: {}, announce=lambda: None
              ) -> list[dict] | None:
    """Train the members as one run (`announce()` once that is sure); return (and write)
    each one's metrics.json. None when they cannot train as one (a rule of their own:
    the perceptron; Adam; splits of unequal sizes; --trainer.callbacks other than one
    EarlyStopping): they then train one by one. The caller holds every member (as for
    runner.run_member)."""
    started = time.perf_counter()
    first = plan.instantiate(members[0])
    # Callbacks watch one run's logged values; a group logs each member's apart, and keeps
    # an EarlyStopping for each member itself.
    callbacks = callback_settings(members[0])
    if not members_package.stackable(first[0], callbacks):
        return None
    # Each member seeded and built as if alone.
    built = [first, *(plan.instantiate(member) for member in members[1:])]
    shared = same_data(members)
    if (stacked_run := members_package.stack([model for model, _, _ in built],
                                             [data for _, data, _ in built], shared,
                                             callbacks)) is None:
        return None
    stacked, data = stacked_run
    checkpoint = group_checkpoint(plan, members)
    trainer = build_trainer(plan, members, checkpoint, {**built[0][2], "callbacks": []},
                            extra_callbacks)
    announce()
    try:
        replaced = [runner.open_folder(member) for member in members]
    except OSError as error:  # the disk is full, a file is in the way, no permission, ...
        return [runner.not_opened(plan, member, error, started) for member in members]
    resume = checkpoint if checkpoint.exists() and not any(replaced) else None
    runner.say_resumed(resume)
    status, message, _ = runner.train(trainer, stacked, data, resume,
                                      test=data.has_test and members[0].final)
    data.splits = {}  # trained and tested: the stacked copy can go before members reload
    results = []
    for k, (member, logger) in enumerate(zip(members, trainer.loggers, strict=True)):
        plain = stacked.member(k)  # the plain module with the member's trained weights
        metrics = {tag: values[k].item() for tag, values in stacked.epoch_metrics.items()}
        if "test/loss" in metrics:
            plain.test_examples = stacked.examples.get("test", 0)
        # The study's numbers need the member's data, which StackedData took: loaded again
        # once for all members with the same data settings.
        member_data, first_data = built[k][1], built[shared[k]][1]
        if not first_data.splits:
            first_data.setup()
        member_data.splits = first_data.splits
        diverged, epochs = stacked.divergence(k), stacked.member_epochs(k)
        outcome = ("diverged", str(diverged)) if diverged else (status, message)
        first_loss = (None if stacked.first_train_loss is None
                      else stacked.first_train_loss[k].item())
        save_member_checkpoint(plain, member, epochs, trainer.global_step)
        results.append(runner.finish_member(plan, member, outcome, epochs, started, plain,
                                            member_data, metrics, member_metrics, first_loss,
                                            logger))
    if status != "failed" and rank_zero_only.rank == 0:
        shutil.rmtree(checkpoint.parent, ignore_errors=True)
        with contextlib.suppress(OSError):  # other groups may still be training
            checkpoint.parent.parent.rmdir()
    return results


@rank_zero_only
def save_member_checkpoint(plain: L.LightningModule, member: Member, epochs: int,
                           global_step: int) -> None:
    """The member's last.ckpt as its one-by-one run leaves it: its weights and settings,
    plain tensors and values (loads with weights_only=True)."""
    AtomicCheckpointIO().save_checkpoint(
        {"state_dict": plain.state_dict(), "hyper_parameters": dict(plain.hparams),
         "epoch": epochs, "global_step": global_step},
        member.checkpoint)
