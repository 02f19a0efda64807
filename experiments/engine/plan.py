"""A parsed experiment, ready to run: every member's resolved settings, seeds included.

With `--study.seeds N` (N > 1) each member runs N times, as `NAME,seed=0` ... `NAME,seed=N-1`:
ordinary run folders whose settings differ in `seed` alone (and in `data.seed` where the
study draws new data per seed). Seed 0 is `--seed` itself, so a one-seed run and seed 0
of a many-seed run are the same run; the others are mixed from (--seed, k) by numpy's
SeedSequence, so no two collide.
"""

import dataclasses
import functools
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from jsonargparse import ArgumentParser, Namespace

from datamodules import InMemoryDataModule
from experiments.engine.registry import Experiment
from modules import FitModule

# Keys that say how to run, not what a member is; left out of its config.yaml.
RUN_KEYS = ("config", "logdir", "overwrite", "rerun", "study", "__path__")


SEED_SEPARATOR = ",seed="


def seed_of(seed: int, index: int) -> int:
    """The run seed of seed number `index` of a study run with `--seed seed`."""
    if index == 0:
        return seed
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0])


@dataclass
class Member:
    name: str
    config: Namespace  # the fully resolved settings
    folder: Path  # <logdir>/<experiment>/<member>
    overrides: dict[str, Any]  # what the study sets for this member, e.g. {"data.degree": 3}
    final: bool = True  # scored on the test split (a selection member, e.g. a fold, is not)
    setup: str = ""  # the setup it belongs to, where a study has several (its tables' title)

    @property
    def base_name(self) -> str:
        """The member this run is a seed of: `degree=3` for `degree=3,seed=2`."""
        return self.name.split(SEED_SEPARATOR)[0]

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

    @functools.cached_property
    def flat_settings(self) -> dict[str, Any]:
        """settings() with the command line's keys ({"model.lr": 0.1}); computed once, as
        studies compare every member's with every other's. Read it, don't change it."""
        return flat(self.settings())


@dataclass
class Plan:
    experiment: Experiment
    parser: ArgumentParser
    folder: Path  # <logdir>/<experiment>
    overwrite: bool
    base: Namespace  # the experiment's settings before any member's overrides
    members: list[Member]
    world_size: int = 1  # processes training each member (DDP's ranks)
    # What the console says before running: e.g. a trainer setting that replaced a
    # member's own (config.members_kept).
    notes: list[str] = dataclasses.field(default_factory=list)

    def seeded(self, member: Member, seeds: int, seed_data: bool) -> list[Member]:
        """The member's runs, one per seed (the member itself when seeds is 1).
        `seed_data`: each seed also draws its own data or split (data.seed)."""
        runs = []
        for index in range(seeds):
            config = member.config.clone()
            config.seed = seed_of(member.config.seed, index)
            data = config.data.get("init_args") if config.get("data") else None
            if seed_data and data is not None and "seed" in data:  # a class may take none
                data.seed = config.seed
            name = member.name if seeds == 1 else f"{member.name}{SEED_SEPARATOR}{index}"
            runs.append(dataclasses.replace(member, name=name, config=config,
                                            folder=self.folder / name))
        return runs

    def instantiate(self, member: Member) -> tuple[L.LightningModule, L.LightningDataModule, dict]:
        """The member's model, datamodule and Trainer arguments (seeded first: same init).
        The model and datamodule take plain values, checked when parsed, so they are built
        from their class_path and init_args directly: jsonargparse's instantiation of a
        whole config (the study's too) cost ~10 ms a member, three times the constructors.
        The Trainer's arguments may name classes (callbacks): jsonargparse builds those."""
        seed = member.config.seed
        L.seed_everything(seed, verbose=False)  # the initial weights, drawn as torch builds
        model, data = (construct(member.config.get(key)) for key in ("model", "data"))
        # The run's seed, handed over (not an init setting: --seed is the one place it is
        # given): the model's dropout draws and the datamodule's batch order follow it.
        if isinstance(model, FitModule):
            model.seed = seed
        if isinstance(data, InMemoryDataModule):
            data.order_seed = seed
        trainer = self.parser.instantiate_classes(Namespace(trainer=member.config.trainer))
        return model, data, dict(trainer.trainer)

    def trained(self, member: Member) -> tuple[L.LightningModule, L.LightningDataModule]:
        """The member's model with the weights of its last checkpoint, in eval mode, and its
        data, set up: what a study draws its figures from."""
        model, data, _ = self.instantiate(member)
        model.load_state_dict(torch.load(member.checkpoint, weights_only=True)["state_dict"])
        data.prepare_data()
        data.setup()
        return model.eval(), data


def class_of(setting: Namespace | None) -> type | None:
    """The class a {class_path, init_args} setting names (None for None)."""
    if setting is None:
        return None
    module, _, name = setting.class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def construct(setting: Namespace | None):
    """{class_path, init_args} -> the object, as jsonargparse builds one with plain
    arguments; None stays None (an experiment without a model or data)."""
    if setting is None:
        return None
    args = setting.get("init_args")  # a class without arguments has none
    return class_of(setting)(**(args.as_dict() if args else {}))


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
