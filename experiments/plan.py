"""A parsed experiment, ready to run: its study and every member's resolved settings."""

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import lightning as L
import torch
from jsonargparse import ArgumentParser, Namespace

from experiments.registry import Experiment

if TYPE_CHECKING:
    from experiments.study import Study

# Keys that say how to run, not what a member is; left out of its config.yaml.
RUN_KEYS = ("config", "logdir", "overwrite", "study", "__path__")


@dataclass
class Member:
    name: str
    config: Namespace  # the fully resolved settings
    folder: Path  # <logdir>/<experiment>/<member>

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
    study: "Study"
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
