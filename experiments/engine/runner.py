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
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import lightning as L
import yaml
from lightning.pytorch.utilities import rank_zero_only

from datamodules import CorruptDataError, DataUnavailableError
from experiments.engine import board, report
from experiments.engine.errors import ConfigError
from experiments.engine.files import write_atomically
from experiments.engine.plan import Member, Plan, flat
from experiments.engine.trainer import build_trainer
from modules import DivergedError

# Settings that change what the console shows, not the numbers: a rerun may differ in them.
DISPLAY_ONLY = {"trainer.enable_progress_bar", "trainer.enable_model_summary"}


def read_metrics(member: Member) -> dict | None:
    path = member.folder / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else None


def saved_settings(member: Member) -> dict | None:
    path = member.folder / "config.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def last_checkpoint(member: Member) -> Path | None:
    return member.checkpoint if member.checkpoint.exists() else None


def check_folders(plan: Plan) -> None:
    """Refuse (ConfigError) a logdir we cannot write or a folder holding other settings."""
    logdir = plan.folder.parent
    existing = next((p for p in [plan.folder, *plan.folder.parents] if p.exists()), Path("."))
    if not existing.is_dir():
        raise ConfigError(f"--logdir {logdir}: {existing} is a file, not a folder")
    try:  # really write: permission bits do not bind root, read-only mounts bind everyone
        tempfile.TemporaryFile(dir=existing).close()
    except OSError as error:
        raise ConfigError(f"--logdir {logdir}: cannot write in {existing} ({error.strerror})"
                          ) from None
    if plan.overwrite:
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


def run_member(plan: Plan, member: Member, extra_callbacks: tuple = (),
               member_metrics: Callable[[L.LightningModule, L.LightningDataModule], dict]
               = lambda model, data: {}) -> dict:
    """Train, validate and test one member; return (and write) its metrics.json.

    `extra_callbacks` join the Trainer's (the speed benchmark times epochs with one);
    `member_metrics` adds the study's own final numbers (e.g. the error of the learned w).
    """
    # Under DDP every rank runs this and must decide alike (a rank that skips a member
    # the others train leaves them waiting); only rank 0 writes.
    replace = bool(changed_settings(member))  # only with --overwrite: check_folders refused
    done = None if replace else read_metrics(member)
    if done is not None and done["status"] in ("completed", "diverged"):
        if rank_zero_only.rank == 0:
            print(f"  finished earlier ({done['status']}): reusing {member.folder}", flush=True)
        return done  # a finished member is a result: reuse it
    started = time.perf_counter()
    model, data, trainer_args = plan.instantiate(member)
    trainer, last_metrics = build_trainer(plan, member, trainer_args, extra_callbacks)
    logger = trainer.logger
    status, message, logged = "completed", None, {}
    try:
        if trainer.is_global_zero:
            if replace:
                remove(member.folder)
            member.folder.mkdir(parents=True, exist_ok=True)
            for leftover in member.folder.rglob(".*.tmp"):  # of a write that was killed
                leftover.unlink()
            write_atomically(member.folder / "config.yaml", yaml.safe_dump(member.settings()))
        # A replaced run starts afresh; until rank 0 removed it, other ranks still see its
        # checkpoint.
        resume = None if replace else last_checkpoint(member)
        trainer.fit(model, datamodule=data, ckpt_path=resume, weights_only=True)
        logged = {**last_metrics.metrics, **trainer.callback_metrics}  # test() starts afresh
        if data.has_test and member.final:
            trainer.test(model, datamodule=data, verbose=False)
    except DivergedError as error:
        status, message = "diverged", str(error)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C into SystemExit after saving
            raise KeyboardInterrupt from None
        raise
    except (CorruptDataError, DataUnavailableError) as error:
        status, message = "failed", str(error)
    except OSError as error:  # the disk is full, a file is in the way, no permission, ...
        status, message = "failed", f"{error.strerror or error}: {error.filename or member.folder}"
    except Exception as error:  # a bug or the machine: report it, keep the other runs going
        traceback.print_exc()
        status, message = "failed", f"{type(error).__name__}: {error}"
    logged.update(trainer.callback_metrics)
    final = {k: float(logged[k]) for k in sorted(logged, key=stage_order) if k != "step"}
    result = {
        "experiment": plan.experiment.name,
        "member": member.name,
        "status": status,
        "epochs": trainer.current_epoch,
        "seconds": round(time.perf_counter() - started, 3),
        "metrics": finite({**final, **model.final_metrics(), **member_metrics(model, data)}),
    }
    if message:
        result["message"] = message
    if trainer.is_global_zero:
        try:
            board.add_hparams(logger.experiment, hyperparameters(plan, member), final)
            logger.finalize("success")
            text = json.dumps(result, indent=2, allow_nan=False) + "\n"
            write_atomically(member.folder / "metrics.json", text)
        except OSError as error:  # the summary still reports the member; its folder cannot
            print(f"error: {member.folder}: cannot write its results: {error}", file=sys.stderr)
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


def hyperparameters(plan: Plan, member: Member) -> dict:
    """What HPARAMS compares: the settings the study varies (constant ones would only bury
    them), without class paths (the member's name says what it is)."""
    varying = report.varying_settings(plan).get(member.name, {})
    return {k: v for k, v in varying.items() if not k.endswith("class_path")}
