"""One member of a study: a Lightning Trainer from its settings, into its run folder.

    <member>/events.out.tfevents.*   Lightning's TensorBoardLogger, stepped by epoch
    <member>/config.yaml             the resolved settings, written before training
    <member>/checkpoints/last.ckpt   every epoch, so a rerun resumes
    <member>/metrics.json            written last: its status says the run is over
"""

import json
import os
import shutil
import time
import traceback
from pathlib import Path

import lightning as L
import yaml
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger

from datamodules import CorruptDataError, DataUnavailableError
from experiments import board
from experiments.errors import ConfigError
from experiments.plan import Member, Plan
from modules import DivergedError

# Settings that change what the console shows, not the numbers: a rerun may differ in them.
DISPLAY_ONLY = {"trainer.enable_progress_bar", "trainer.enable_model_summary"}


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary name, then rename: a crash never leaves half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_metrics(member: Member) -> dict | None:
    path = member.folder / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else None


def saved_settings(member: Member) -> dict | None:
    path = member.folder / "config.yaml"
    return yaml.safe_load(path.read_text()) if path.exists() else None


def last_checkpoint(member: Member) -> Path | None:
    path = member.folder / "checkpoints" / "last.ckpt"
    return path if path.exists() else None


def check_folders(plan: Plan) -> None:
    """Refuse (ConfigError) a logdir we cannot write or a folder holding other settings."""
    logdir = plan.folder.parent
    existing = next((p for p in [logdir, *logdir.parents] if p.exists()), Path("."))
    if not existing.is_dir():
        raise ConfigError(f"--logdir {logdir}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK):
        raise ConfigError(f"--logdir {logdir}: {existing} is not writable")
    if plan.overwrite:
        return
    for member in plan.members:
        if changed := changed_settings(member):
            raise ConfigError(
                f"{member.folder} holds a run with other settings ({', '.join(changed)}); "
                "use --overwrite to replace it, or another --logdir"
            )


def changed_settings(member: Member) -> list[str]:
    """The keys whose values differ from the run already in the member's folder."""
    saved = saved_settings(member)
    if saved is None:
        return []
    # Compare as config.yaml reads back (tuples become lists, and so on).
    old, new = flat(saved), flat(yaml.safe_load(yaml.safe_dump(member.settings())))
    keys = (old.keys() | new.keys()) - DISPLAY_ONLY
    return sorted(k for k in keys if old.get(k) != new.get(k))


def run_member(plan: Plan, member: Member) -> dict:
    """Train, validate and test one member; return (and write) its metrics.json."""
    if changed_settings(member):  # only with --overwrite: check_folders refused it before
        shutil.rmtree(member.folder)
    done = read_metrics(member)
    if done is not None and done["status"] in ("completed", "diverged"):
        return done  # a finished member is a result: reuse it
    started = time.perf_counter()
    model, data, trainer_args = plan.instantiate(member)
    member.folder.mkdir(parents=True, exist_ok=True)
    write_atomically(member.folder / "config.yaml", yaml.safe_dump(member.settings()))
    logger = TensorBoardLogger(
        save_dir=plan.folder.parent,
        name=plan.experiment.name,
        version=member.name,
        default_hp_metric=False,  # final metrics go to HPARAMS at the end, not a -1
    )
    checkpoint = ModelCheckpoint(
        dirpath=member.folder / "checkpoints", filename="last", enable_version_counter=False
    )
    callbacks = [checkpoint, *(trainer_args.pop("callbacks", None) or [])]
    trainer = L.Trainer(**trainer_args, logger=logger, callbacks=callbacks)
    if trainer.is_global_zero:
        board.add_layout(logger.experiment, sorted(model.train_metrics.keys()))
    status, message, logged = "completed", None, {}
    try:
        trainer.fit(model, datamodule=data, ckpt_path=last_checkpoint(member), weights_only=True)
        logged = dict(trainer.callback_metrics)  # test() starts afresh
        if data.has_test:
            trainer.test(model, datamodule=data, verbose=False)
    except DivergedError as error:
        status, message = "diverged", str(error)
    except SystemExit:
        if trainer.interrupted:  # Lightning turns Ctrl-C into SystemExit after saving
            raise KeyboardInterrupt from None
        raise
    except (CorruptDataError, DataUnavailableError) as error:
        status, message = "failed", str(error)
    except Exception as error:  # a bug or the machine: report it, keep the other runs going
        traceback.print_exc()
        status, message = "failed", f"{type(error).__name__}: {error}"
    logged.update(trainer.callback_metrics)
    final = {k: logged[k].item() for k in sorted(logged, key=stage_order) if k != "step"}
    result = {
        "experiment": plan.experiment.name,
        "member": member.name,
        "status": status,
        "epochs": trainer.current_epoch,
        "seconds": round(time.perf_counter() - started, 3),
        "metrics": {**final, **model.final_metrics(), **truth_errors(model, data)},
    }
    if message:
        result["message"] = message
    if trainer.is_global_zero:
        board.add_hparams(logger.experiment, hyperparameters(member), final)
        logger.finalize("success")
        write_atomically(member.folder / "metrics.json", json.dumps(result, indent=2) + "\n")
    return result


def stage_order(name: str) -> tuple[int, str]:
    """train/* before val/* before test/*, so tables read left to right."""
    stage = name.partition("/")[0]
    return (board.STAGES.index(stage) if stage in board.STAGES else len(board.STAGES), name)


def truth_errors(model: L.LightningModule, data: L.LightningDataModule) -> dict:
    """Largest absolute error of the learned w and b, where the data knows the truth."""
    if not (hasattr(data, "true_w") and hasattr(model, "weights")):
        return {}
    w, b = model.weights()
    errors = {"w_err": (w.cpu() - data.true_w).abs().max().item()}
    if b is not None:
        errors["b_err"] = abs(b.item() - data.true_b)
    return errors


def hyperparameters(member: Member) -> dict:
    """What HPARAMS compares: the model's and data's settings, the seed and the epochs."""
    settings = flat(member.settings())
    keep = ("model.", "data.", "seed", "trainer.max_epochs")
    return {k: v for k, v in settings.items() if k.startswith(keep) and v is not None}


def flat(settings: dict, prefix: str = "") -> dict:
    """{"model": {"init_args": {"lr": 0.1}}} -> {"model.lr": 0.1}, the command line's keys."""
    out = {}
    for key, value in settings.items():
        if key == "init_args":
            out.update(flat(value, prefix))
        elif isinstance(value, dict):
            out.update(flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out
