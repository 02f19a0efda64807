"""A member is what its name says: the rule that keeps the command line from changing what
a study's members are (config.plan applies it to every plan)."""

import importlib
import re

from jsonargparse import Namespace

from experiments.engine.errors import ConfigError
from experiments.engine.plan import Member


def is_number(value) -> bool:
    return type(value) in (int, float)  # not bool


def config_key(config: Namespace, key: str) -> str:
    """Where an override's dotted key lives in a parsed config: `model.lr` is
    `model.init_args.lr` where the model names a class."""
    group, _, rest = key.partition(".")
    if (rest == "class_path" or rest.startswith("init_args.")
            or not isinstance(config.get(group), Namespace) or "class_path" not in config[group]):
        return key
    return f"{group}.init_args.{rest}"


def plain(value):
    """A setting as a comparable plain value: 3 == 3.0, (1,) == [1], a class path by its
    class (`modules.MLP` is `modules.mlp.MLP`)."""
    if isinstance(value, Namespace):
        value = value.as_dict()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if is_number(value):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"(modules|datamodules|experiments)(\.\w+)+", value):
        module, _, name = value.rpartition(".")
        return getattr(importlib.import_module(module), name, value)
    return value


MISSING = object()  # a setting the member's class does not take


def members_kept(experiment: str, members: list[Member], yaml_layer: Namespace,
                 fast_keys: set[str]) -> list[str]:
    """A member is what its name says. A model or data setting a member sets itself (mlp's
    relu sets model.activation) may not be changed by the user's options, --config files
    or a switched class_path: the members would be other runs under the same names
    (ConfigError, saying what to run instead). A trainer setting is the budget, not what
    a member is: the user's wins, and a note (returned) names each member's own value it
    replaced; `fast_keys`, those --fast set, replace them without a word. Two members
    that end up with the same settings are refused whatever made them so."""
    lost: dict[str, list[tuple[Member, object, object]]] = {}
    for member in members:
        for key, own in member.overrides.items():
            where = config_key(member.config, key)
            got = member.config.get(where) if where in member.config else MISSING
            if plain(own) != plain(got) and key not in fast_keys:
                lost.setdefault(key, []).append((member, own, got))
    notes = []
    for key, changed in lost.items():
        owns = ", ".join(f"{m.name}: {own}" for m, own, _ in changed[:4])
        owns += f", and {len(changed) - 4} more" if len(changed) > 4 else ""
        got = changed[0][2]
        if key.startswith("trainer."):
            notes.append(f"note: --{key} {got} replaces the members' own {key} ({owns})")
            continue
        group = key.partition(".")[0]
        if got is MISSING:
            cls = changed[0][0].config[group].class_path
            raise ConfigError(
                f"{experiment}: --{group}.class_path {cls} does not take {key}, which "
                f"members set ({owns}): a class swap must take every member's settings; "
                "give your own members with --study.members, or drop the swap")
        same = [m.name for m in members if plain(m.overrides.get(key, MISSING)) == plain(got)]
        instead = (f"run --study.member {same[0]} for that member" if same else
                   f"leave --{key} out, or give your own members with --study.members")
        raise ConfigError(
            f"{experiment}: --{key} {got} changes what members are ({key} of {owns}): "
            f"they would be other runs under their names; {instead}")
    seen: dict[str, Member] = {}
    for member in members:
        settings = repr(sorted(member.flat_settings.items()))
        if (twin := seen.setdefault(settings, member)) is not member:
            apart = sorted({*twin.overrides, *member.overrides})
            raise ConfigError(
                f"{experiment}: members {twin.name} and {member.name} would be the same run "
                f"(the options override what tells them apart: {', '.join(apart)}); run "
                f"one of them with --study.member {twin.name}, or leave those options out")
    return notes
