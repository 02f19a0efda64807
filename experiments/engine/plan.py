"""A parsed experiment, ready to run: its study and every member's resolved settings."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from jsonargparse import ArgumentParser, Namespace

from experiments.engine.registry import Experiment

# Keys that say how to run, not what a member is; left out of its config.yaml.
RUN_KEYS = ("config", "logdir", "overwrite", "study", "__path__")


@dataclass
class Member:
    name: str
    config: Namespace  # the fully resolved settings
    folder: Path  # <logdir>/<experiment>/<member>
    overrides: dict[str, Any]  # what the study sets for this member, e.g. {"data.degree": 3}

    @property
    def checkpoint(self) -> Path:
        """Where the runner keeps the member's last epoch (it may not exist yet)."""
        return self.folder / "checkpoints" / "last.ckpt"

    def settings(self) -> dict:
        """The member's settings as plain values (what config.yaml holds)."""
        settings = self.config.clone().as_dict()
        for key in RUN_KEYS:
            settings.pop(key, None)
        return settings


@dataclass
class Plan:
    experiment: Experiment
    parser: ArgumentParser
    folder: Path  # <logdir>/<experiment>
    overwrite: bool
    base: Namespace  # the experiment's settings before any member's overrides
    members: list[Member]

    def instantiate(self, member: Member) -> tuple[L.LightningModule, L.LightningDataModule, dict]:
        """The member's model, datamodule and Trainer arguments (seeded first: same init)."""
        L.seed_everything(member.config.seed, verbose=False)
        init = self.parser.instantiate_classes(member.config)
        return init.model, init.data, dict(init.trainer)

    def trained(self, member: Member) -> tuple[L.LightningModule, L.LightningDataModule]:
        """The member's model with the weights of its last checkpoint, in eval mode, and its
        data, set up: what a study draws its figures from."""
        model, data, _ = self.instantiate(member)
        model.load_state_dict(torch.load(member.checkpoint, weights_only=True)["state_dict"])
        data.prepare_data()
        data.setup()
        return model.eval(), data


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
