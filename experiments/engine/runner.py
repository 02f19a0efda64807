"""One member of a study: a Lightning Trainer from its settings, into its run folder.

    <member>/events.out.tfevents.*   Lightning's TensorBoardLogger, stepped by epoch
    <member>/config.yaml             the resolved settings, written before training
    <member>/checkpoints/last.ckpt   every epoch, so a rerun resumes
    <member>/metrics.json            written last: its status says the run is over
"""

import json
import math
import os
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import lightning as L
import torch
import yaml
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

from datamodules import CorruptDataError, DataUnavailableError
from experiments.engine import board, code_version, report
from experiments.engine.errors import ConfigError
from experiments.engine.files import cannot_write, write_atomically
from experiments.engine.learning import FirstTrainLoss, judged
from experiments.engine.plan import Member, Plan, flat
from experiments.engine.trainer import LastMetrics, build_trainer
from modules.base import DivergedError, SettingError

# config.yaml's first line: a YAML comment (the file still loads as --config) that records
# the code version.
CODE_LINE = "# code: "

# Settings that change what the console shows, not the numbers: a rerun may differ in them.
DISPLAY_ONLY = {"trainer.enable_progress_bar", "trainer.enable_model_summary"}


def read_metrics(member: Member) -> dict | None:
    path = member.folder / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else None


def saved_settings(member: Member) -> dict | None:
    path = member.folder / "config.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def last_checkpoint(member: Member) -> Path | None:
    """The member's last.ckpt to resume from: one its own Trainer wrote. A group leaves
    its trained members' plain weights there (groups.py), with nothing to resume a
    Trainer from: a member killed between that and its metrics.json trains again."""
    if not member.checkpoint.exists():
        return None
    saved = torch.load(member.checkpoint, map_location="cpu", weights_only=True)
    return member.checkpoint if "loops" in saved else None


@rank_zero_only
def say_resumed(checkpoint: Path | None) -> None:
    """`  resumed from epoch 3 (last.ckpt), training on from epoch 4`. Lightning's
    checkpoint holds the epoch that had just ended, counted from 0."""
    if checkpoint is not None:
        epoch = torch.load(checkpoint, map_location="cpu", weights_only=True)["epoch"] + 1
        print(f"  resumed from epoch {epoch} ({checkpoint.name}), training on from epoch "
              f"{epoch + 1}", flush=True)


def check_folders(plan: Plan) -> None:
    """Refuse (ConfigError) a logdir we cannot write or a folder holding other settings."""
    if problem := cannot_write(plan.folder):
        raise ConfigError(f"--logdir {plan.folder.parent}: {problem}")
    if plan.overwrite or plan.base.get("rerun"):  # those replace earlier runs anyway
        return
    for member in plan.members:
        if changed := changed_settings(member):
            raise ConfigError(
                f"{member.folder} holds a run with other settings ({', '.join(changed)}); "
                "use --overwrite to replace it, or another --logdir"
            )


def remove(folder: Path) -> None:
    """Move the folder aside, then delete it: other ranks see the old run whole or not at all."""
    aside = folder.with_name(f".{folder.name}.{os.getpid()}.old")
    folder.rename(aside)
    shutil.rmtree(aside)


def changed_settings(member: Member) -> list[str]:
    """The keys whose values differ from the run already in the member's folder."""
    saved = saved_settings(member)
    if saved is None:
        return []
    # Compare as config.yaml reads back (tuples become lists, and so on).
    old, new = flat(saved), flat(yaml.safe_load(yaml.safe_dump(member.settings())))
    keys = (old.keys() | new.keys()) - DISPLAY_ONLY
    return sorted(k for k in keys if old.get(k) != new.get(k))


def saved_code(member: Member) -> dict | None:
    """The code version that made the member's earlier run (metrics.json's, or while it
    had not finished, config.yaml's first line), None where none is recorded."""
    if (done := read_metrics(member)) is not None:
        return done.get("code")
    path = member.folder / "config.yaml"
    first = path.read_text().partition("\n")[0] if path.exists() else ""
    return json.loads(first.removeprefix(CODE_LINE)) if first.startswith(CODE_LINE) else None


def other_code(member: Member) -> str | None:
    """`source 1a2b… (commit …), now source 3c4d…` when the member's earlier run was made
    by other code (code_version says what a change is), else None."""
    saved, now = saved_code(member), code_version.current()
    if saved is None or saved.get("source") == now["source"]:
        return None
    return f"{code_version.describe(saved)}, now {code_version.describe(now)}"


def replaced(member: Member) -> bool:
    """Whether the member's earlier run, if any, is replaced rather than reused or resumed:
    other settings (only with --overwrite: check_folders refused otherwise), --rerun, or
    --overwrite and other code."""
    if not member.folder.exists():
        return False
    return bool(changed_settings(member) or member.config.get("rerun")
                or (member.config.get("overwrite") and other_code(member)))


def finished_result(member: Member) -> dict | None:
    """The member's result when it finished earlier with these settings (to reuse), else
    None. Under DDP every rank decides alike (a rank that skips a member the others train
    leaves them waiting). A run made by other code is reused, and said so."""
    if replaced(member):
        return None
    done = read_metrics(member)
    if done is None or done["status"] not in ("completed", "diverged"):
        return None
    if rank_zero_only.rank == 0:
        other = other_code(member)
        by = f" by other code ({other}; --overwrite trains it again)" if other else ""
        print(f"  finished earlier ({done['status']}){by}: reusing {member.folder}", flush=True)
    return done


def open_folder(member: Member) -> bool:
    """Make the member's folder ready to train into (rank 0 writes): an earlier run
    replaced (`replaced`) removed, leftovers of killed writes gone, config.yaml written
    (its first line a comment: the code version). Whether the earlier run was replaced:
    a replaced run starts afresh."""
    replace = replaced(member)
    if rank_zero_only.rank == 0:
        if replace:
            remove(member.folder)
        elif other := other_code(member):  # resumed below: say it mixes code
            print(f"  started by other code ({other}); --overwrite starts it afresh",
                  flush=True)
        member.folder.mkdir(parents=True, exist_ok=True)
        for leftover in member.folder.rglob(".*.tmp"):  # of a killed write (held: no live one)
            leftover.unlink()
        code = CODE_LINE + json.dumps(code_version.current()) + "\n"
        write_atomically(member.folder / "config.yaml", code + yaml.safe_dump(member.settings()))
    return replace


def train(trainer: L.Trainer, model: L.LightningModule, data: L.LightningDataModule,
          resume: Path | None, test: bool) -> tuple[str, str | None, dict]:
    """Fit (from `resume`), then test when asked: the status, why it is not completed,
    and the metrics logged at the end of fitting (testing starts them afresh)."""
    status, message, logged = "completed", None, {}
    last_metrics = next(c for c in trainer.callbacks if isinstance(c, LastMetrics))
    try:
        trainer.fit(model, datamodule=data, ckpt_path=resume, weights_only=True)
        logged = {**last_metrics.metrics, **trainer.callback_metrics}
        if test:
            trainer.test(model, datamodule=data, verbose=False)
    except DivergedError as error:
        status, message = "diverged", str(error)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C into SystemExit after saving
            raise KeyboardInterrupt from None
        raise
    except (CorruptDataError, DataUnavailableError, SettingError) as error:
        status, message = "failed", str(error)  # says what to do: no traceback
    except OSError as error:  # the disk is full, a file is in the way, no permission, ...
        status, message = "failed", f"{error.strerror or error}: {error.filename or ''}"
    except Exception as error:  # a bug or the machine: report it, keep the other runs going
        traceback.print_exc()
        status, message = "failed", f"{type(error).__name__}: {error}"
    return status, message, {**logged, **trainer.callback_metrics}


def close_folder(plan: Plan, member: Member, result: dict, logger: TensorBoardLogger) -> None:
    """The member's HPARAMS session and metrics.json, written last: its status says the run
    is over (rank 0 writes)."""
    if rank_zero_only.rank != 0:
        return
    try:
        varying = report.varying_settings(plan).get(member.name, {})
        params = board.session_hparams(varying, member.name)
        board.add_session(logger.experiment, plan.experiment.name, params, result)
        logger.finalize("success")
        text = json.dumps(result, indent=2, allow_nan=False) + "\n"
        write_atomically(member.folder / "metrics.json", text)
    except OSError as error:  # the summary still reports the member; its folder cannot
        print(f"error: {member.folder}: cannot write its results: {error}", file=sys.stderr)


def run_member(plan: Plan, member: Member, extra_callbacks: tuple = (),
               member_metrics: Callable[[L.LightningModule, L.LightningDataModule], dict]
               = lambda model, data: {}) -> dict:
    """Train, validate and test one member; return (and write) its metrics.json.

    `extra_callbacks` join the Trainer's (the speed benchmark times epochs with one);
    `member_metrics` adds the study's own final numbers (e.g. the error of the learned w).
    The caller holds the member (member_lock.claim, in training.py): nothing, not even a
    logger, may write into a folder another process is training.
    """
    if (done := finished_result(member)) is not None:
        return done  # a finished member is a result: reuse it
    started = time.perf_counter()
    model, data, trainer_args = plan.instantiate(member)
    first = FirstTrainLoss()
    trainer = build_trainer(plan, [member], member.checkpoint, trainer_args,
                            (*extra_callbacks, first))
    try:
        replace = open_folder(member)
    except OSError as error:  # the disk is full, a file is in the way, no permission, ...
        return not_opened(plan, member, error, started)
    # Until rank 0 removed a replaced run, other ranks still see its checkpoint.
    resume = None if replace else last_checkpoint(member)
    say_resumed(resume)
    status, message, logged = train(trainer, model, data, resume,
                                    test=data.has_test and member.final)
    final = {k: float(logged[k]) for k in sorted(logged, key=stage_order) if k != "step"}
    return finish_member(plan, member, (status, message), trainer.current_epoch, started,
                         model, data, final, member_metrics, first.loss, trainer.logger)


def finish_member(plan: Plan, member: Member, outcome: tuple[str, str | None], epochs: int,
                  started: float, model: L.LightningModule, data: L.LightningDataModule,
                  logged: dict, member_metrics: Callable, first_loss: float | None,
                  logger: TensorBoardLogger) -> dict:
    """A trained member's result, alone or in a group (groups.run_group) alike: its
    `outcome` (status, why not completed), its `logged` values with its plain module's
    final metrics and the study's own (`member_metrics` of the module with the member's
    trained weights, and its data), judged against its first train/loss (did it learn?),
    then its folder closed: metrics.json last. Returns the result."""
    status, message = outcome
    result = member_result(plan, member, status, message, epochs, started, {
        **logged, **model.final_metrics(), **member_metrics(model, data)})
    judged(plan, model, result, first_loss)
    close_folder(plan, member, result, logger)
    return result


def not_opened(plan: Plan, member: Member, error: OSError, started: float) -> dict:
    """The result of a member whose folder could not be made ready (open_folder)."""
    why = f"{error.strerror or error}: {error.filename or member.folder}"
    return member_result(plan, member, "failed", why, 0, started, {})


def member_result(plan: Plan, member: Member, status: str, message: str | None, epochs: int,
                  started: float, metrics: dict) -> dict:
    """What metrics.json holds."""
    result = {
        "experiment": plan.experiment.name,
        "member": member.name,
        "status": status,
        "epochs": epochs,
        "seconds": round(time.perf_counter() - started, 3),
        "metrics": finite(metrics),
        "code": code_version.current(),
    }
    if message:
        result["message"] = message
    return result


def finite(value):
    """NaN and infinities as None: JSON has no such numbers, and json.dumps would write
    the invalid literals NaN and Infinity."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list):
        return [finite(v) for v in value]
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    return value


def stage_order(name: str) -> tuple[int, str]:
    """train/* before val/* before test/*, so tables read left to right."""
    stage = name.partition("/")[0]
    return (board.STAGES.index(stage) if stage in board.STAGES else len(board.STAGES), name)
