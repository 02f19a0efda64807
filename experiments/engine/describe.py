"""`run.py NAME --help`: an experiment's settings, their types and current values."""

import importlib
import inspect
import types
import typing

import lightning as L
from jsonargparse import Namespace

from experiments.engine.plan import Plan


def type_name(annotation) -> str:
    """`Literal['a', 'b']` -> `a|b`; `int | None` -> `int|None`; `float` -> `float`."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return "|".join(str(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return "|".join(type_name(a) for a in args)
    if origin is not None:
        return str(annotation).replace("typing.", "")
    return "None" if annotation is type(None) else getattr(annotation, "__name__", "")


def settings(key: str, group: Namespace) -> list[str]:
    """`--model.lr  float  0.1` for each init argument of the group's class."""
    module, _, name = group.class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    hints = typing.get_type_hints(cls.__init__)
    lines = [f"{key}: {group.class_path}"]
    for arg, value in vars(group.init_args).items():
        option = f"--{key}.{arg}"
        lines.append(f"  {option:<28} {type_name(hints.get(arg)):<24} {value}")
    return lines


def describe(plan: Plan) -> str:
    experiment, base = plan.experiment, plan.base
    lines = [
        f"usage: python experiments/run.py {experiment.name} [--KEY VALUE ...]",
        "",
        f"{experiment.description} (chapter {experiment.chapter})",
        "",
        "Settings, their types and current values (--config FILE takes them as YAML):",
    ]
    for key in ("model", "data", "study"):
        if base.get(key) is not None:
            lines += settings(key, base[key]) + [""]
    lines += [f"members: {', '.join(m.name for m in plan.members)}", ""]
    lightning_defaults = inspect.signature(L.Trainer).parameters
    changed = {k: v for k, v in vars(base.trainer).items() if v != lightning_defaults[k].default}
    lines += [
        "trainer: any lightning.Trainer argument as --trainer.KEY VALUE; set here:",
        *(f"  --trainer.{k:<20} {v}" for k, v in changed.items()),
        "",
        "run options:",
        "  --logdir DIR      where run folders go (runs; runs-fast with --fast)",
        "  --seed N          the training seed (0): same seed, same numbers on CPU",
        "  --fast            smoke mode: 2 epochs of 4 batches, into runs-fast unless",
        "                    --logdir says otherwise",
        "  --overwrite       replace earlier runs in the folders whose settings or code",
        "                    differ",
        "  --rerun           train every member again, even one finished with these",
        "                    settings and code",
        "  --print_config    the resolved settings as YAML, then exit",
    ]
    return "\n".join(lines)
