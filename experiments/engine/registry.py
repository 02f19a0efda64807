"""The experiments: one YAML of defaults each in configs/, listed in course order.

An experiment joins fitlab by adding `configs/<name>.yaml`. Its header keys say where it
sits in the course; the rest are the settings' defaults, in the same keys as the command
line (model, data, trainer, study).
"""

from dataclasses import dataclass
from pathlib import Path

import yaml

CONFIGS = Path(__file__).parents[1] / "configs"
HEADER = ("chapter", "order", "description")


@dataclass(frozen=True)
class Experiment:
    name: str
    chapter: str
    order: int  # position in the course; `run.py` with no names runs them in this order
    description: str
    defaults: dict  # the settings, without the header
    # The book's own numbers, shown beside ours in runs/index.md: each {metric, value,
    # where} and, to compare one member rather than the best on validation, its member.
    book: tuple = ()


def load(name: str) -> Experiment:
    raw = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    header = {key: raw.pop(key) for key in HEADER}
    return Experiment(name=name, defaults=raw, book=tuple(raw.pop("book", ())), **header)


def names() -> list[str]:
    """Every experiment's name, in course order."""
    experiments = [load(path.stem) for path in CONFIGS.glob("*.yaml")]
    return [e.name for e in sorted(experiments, key=lambda e: e.order)]
