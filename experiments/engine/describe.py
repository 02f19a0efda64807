"""`run.py NAME --help`: an experiment's settings, their types, current values and what
they mean (from the Args sections of the classes' docstrings), and its members."""

import functools
import importlib
import inspect
import textwrap
import types
import typing
from collections import Counter

import docstring_parser  # jsonargparse[signatures] installs it; its --help reads it too
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


@functools.cache
def meanings(cls: type) -> dict[str, str]:
    """init argument -> what it means: the Args sections of the class's docstring and its
    __init__'s, and of its parents' (a shared setting is explained once, where it is
    defined: FitModule's lr); the nearest class that explains an argument wins."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        for doc in (klass.__doc__, getattr(klass.__dict__.get("__init__"), "__doc__", None)):
            for param in docstring_parser.parse(doc or "").params:
                if param.description:
                    found[param.arg_name] = " ".join(param.description.split())
    return found


MAX_VALUE = 40  # characters of a current value shown; a study's member table is summarised


def shown(value) -> str:
    text = str(value)
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1] + "…"


def settings(key: str, group: Namespace) -> list[str]:
    """`--model.lr  float  0.1` for each init argument of the group's class, with what it
    means on the next line where its docstrings say."""
    module, _, name = group.class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    hints, meaning = typing.get_type_hints(cls.__init__), meanings(cls)
    lines = [f"{key}: {group.class_path}"]
    for arg, value in vars(group.init_args).items():
        option = f"--{key}.{arg}"
        lines.append(f"  {option:<28} {type_name(hints.get(arg)):<24} {shown(value)}")
        if arg in meaning:
            lines += textwrap.wrap(meaning[arg], width=96, initial_indent=" " * 6,
                                   subsequent_indent=" " * 6)
    return lines


def axis_values(values: list[str]) -> str:
    """`0, 2, 4, … 18 (17 values)`, or all of them when few."""
    if len(values) <= 6:
        return ", ".join(values)
    return f"{', '.join(values[:3])}, … {values[-1]} ({len(values)} values)"


def member_lines(plan: Plan) -> list[str]:
    """The members, compactly when many: the named ones, then each grid's pattern with
    the values of its axes (`degree=3,fold=2` is a point of `degree=…,fold=…`), and their
    seeds: in the heading when all have as many, else after each name (`tuned ×3`)."""
    seeds = Counter(m.base_name for m in plan.members)  # member -> its number of seeds
    names = list(seeds)
    counts = set(seeds.values())
    each = f", each with {max(counts)} seeds" if len(counts) == 1 and max(counts) > 1 else ""
    if len(counts) > 1:
        each = f", with {min(counts)} to {max(counts)} seeds"
    head = f"members ({len(names)}{each}; --study.member NAME or an index runs one):"
    if len(names) <= 12:  # each name, with its own seeds where they differ
        return [head, "  " + ", ".join(f"{name} ×{seeds[name]}" if len(counts) > 1 and
                                       seeds[name] > 1 else name for name in names)]
    named = [n for n in names if "=" not in n]
    grids: dict[str, dict[str, list[str]]] = {}  # pattern -> axis -> its values
    for name in (n for n in names if "=" in n):
        parts = [part.partition("=") for part in name.split(",")]
        pattern = ",".join(f"{key}=…" if axis else key for key, axis, _ in parts)
        axes = grids.setdefault(pattern, {})
        for key, axis, value in parts:
            if axis and value not in axes.setdefault(key, []):
                axes[key].append(value)
    return [head, *textwrap.wrap(", ".join(named), width=96, initial_indent="  ",
                                 subsequent_indent="  "),
            *(f"  {pattern}: " + "; ".join(f"{key} {axis_values(values)}"
                                           for key, values in axes.items())
              for pattern, axes in grids.items())]


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
    lines += [*member_lines(plan), ""]
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
