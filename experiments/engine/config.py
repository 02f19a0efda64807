"""From the command line to one fully resolved configuration per member of a study.

Precedence, lowest first: the experiment's YAML, the member's overrides (from the study),
`--fast`'s limits, the user's `--config` files and dotted options (so the user has the
last word). Everything is parsed before anything runs: a bad key or value is a
ConfigError (exit 2) and nothing is written.
"""

import contextlib
import importlib.util
import json
import os
import sys
from pathlib import Path

import lightning as L
import yaml
from jsonargparse import (
    ActionConfigFile,
    ArgumentError,
    Namespace,
    get_loader,
    set_loader,
    set_parsing_settings,
)
from jsonargparse._common import parsing_settings
from lightning.pytorch.accelerators import CPUAccelerator
from lightning.pytorch.cli import LightningArgumentParser
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from datamodules import InMemoryDataModule
from experiments.engine.errors import (
    ConfigError,
    constructor_message,
    option_named,
    short_message,
)
from experiments.engine.files import cannot_write
from experiments.engine.identity import config_key, is_number, members_kept
from experiments.engine.plan import Member, Plan
from experiments.engine.registry import Experiment
from experiments.engine.study import Study
from experiments.engine.trainer import build_trainer
from modules import FitModule

# fitlab's own Trainer defaults; any of them can be overridden with --trainer.KEY.
TRAINER_DEFAULTS = {
    "num_sanity_val_steps": 0,  # every epoch ends with a full validation pass anyway
    "enable_model_summary": False,  # one table per member of a 20-member study is noise
    "use_distributed_sampler": False,  # our batch samplers shard by rank themselves
    "log_every_n_steps": 1,  # nothing is logged per step; this only silences a warning
    # One device unless asked: Lightning's "auto" takes every GPU, multiplying the batch
    # the book's settings assume. Scale out with --trainer.devices N (see the README).
    "devices": 1,
}
# Where run folders go unless --logdir says: smoke runs apart, so that a real run in
# runs/ never finds a smoke run's other settings in its folders.
LOGDIR, FAST_LOGDIR = "runs", "runs-fast"
# Smoke mode: a taste of every member, not a result.
FAST = {
    "trainer.max_epochs": 2,
    "trainer.limit_train_batches": 4,
    "trainer.limit_val_batches": 2,
    "trainer.limit_test_batches": 2,
    "trainer.check_val_every_n_epoch": 1,  # so every smoke run validates
}
FAST_SEEDS = 2  # at most: enough to exercise the means and standard errors

# A setting may name a class to build (`class_path`); jsonargparse imports it to check it,
# and importing runs code. Only this project's packages, Lightning's callbacks and the
# packages the user opts in (`--import PKG`, or `import: [PKG]` in a --config file) may be
# named; anything else is refused before it is imported (exit 2).
CLASS_PACKAGES = ["modules", "datamodules", "experiments", "lightning.pytorch.callbacks"]


def imports_of(options: list[str]) -> list[str]:
    """The packages `options` opt in: every `--import PKG ...`, and each --config file's
    `import:` list. Read before parsing, since the parse imports the classes it is given."""
    found, option = [], None
    for word in options:
        if word.startswith("--"):
            option, _, value = word[2:].partition("=")
            words = [value] if value else []
        else:
            words = [word]
        for value in words if option in ("import", "config") else []:
            found += [value] if option == "import" else config_imports(value)
    for name in found:
        if not all(part.isidentifier() for part in name.split(".")):
            raise ConfigError(f"--import {name}: not a package name (e.g. mypkg)")
        if name.partition(".")[0] in {*sys.stdlib_module_names, "jsonargparse"}:
            raise ConfigError(f"--import {name}: only your own packages may be opted in, "
                              "not the standard library's or jsonargparse")
        if importlib.util.find_spec(name.partition(".")[0]) is None:
            raise ConfigError(f"--import {name}: no such package on the path (run from the "
                              "folder that holds it, or add it to PYTHONPATH)")
    return list(dict.fromkeys(found))


def config_imports(config: str) -> list[str]:
    """A --config file's (or YAML string's) `import:` list; a bad file is the parse's to
    report."""
    try:
        text = Path(config).read_text() if Path(config).is_file() else config
        loaded = yaml.safe_load(text)
    except (OSError, ValueError, yaml.YAMLError):
        return []
    imports = loaded.get("import") if isinstance(loaded, dict) else None
    return [str(name) for name in imports] if isinstance(imports, list) else []


def repeated_key(root: yaml.Node | None) -> yaml.ScalarNode | None:
    """A mapping key given twice anywhere in a composed YAML document, else None."""
    stack, visited = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in visited or not isinstance(node, yaml.CollectionNode):
            continue
        visited.add(id(node))  # aliases may share (or loop back to) a node
        if isinstance(node, yaml.SequenceNode):
            stack += node.value
            continue
        keys = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value in keys:
                return key
            keys.add(key.value if isinstance(key, yaml.ScalarNode) else id(key))
            stack.append(value)
    return None


JSONARGPARSE_YAML = get_loader("yaml")


def load_yaml(text: str, path: str | None = None):
    """jsonargparse's own (safe) YAML loader, but a key given twice is an error: PyYAML
    silently keeps the last one, so a config could say lr twice and mean the first.
    Errors become one line naming the file, the line and the problem."""
    where = path or "YAML"
    try:
        key = repeated_key(yaml.compose(text, Loader=yaml.SafeLoader))
        if key is None:
            return JSONARGPARSE_YAML(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = f", line {mark.line + 1}" if mark else ""
        raise yaml.YAMLError(f"{where}{line}: {error.problem or error.context}") from None
    line = key.start_mark.line + 1
    raise yaml.YAMLError(f"{where}, line {line}: key {key.value!r} is given twice")


# The strict loader is a parser mode of fitlab's own, which only fitlab's parser uses:
# registering it leaves jsonargparse's "yaml" mode, and every other parser, as they were.
PARSER_MODE = "fitlab_yaml"
set_loader(PARSER_MODE, load_yaml, exceptions=(yaml.YAMLError,))


@contextlib.contextmanager
def allowed_imports(imports: list[str] = ()):
    """Within: the class paths a setting may name are fitlab's packages and `imports` (the
    user's), anything else refused before it is imported. jsonargparse 4.53 keeps this
    policy process-wide only (set_parsing_settings; no parser-level allowlist, no public
    way to take an entry back), so it is set for the parse and the process's own policy
    put back after: the one private name used here, its settings dict."""
    saved = {key: parsing_settings[key]
             for key in ("import_path_verdicts", "import_paths_enforced")}
    set_parsing_settings(import_path_denylist=["*"],
                         import_path_allowlist=[*CLASS_PACKAGES, *imports])
    try:
        yield
    finally:
        parsing_settings.update(saved)


def build_parser(experiment: Experiment) -> LightningArgumentParser:
    parser = LightningArgumentParser(
        parser_mode=PARSER_MODE,
        prog=f"run.py {experiment.name}",
        description=f"{experiment.description} (chapter {experiment.chapter})",
        exit_on_error=False,
        allow_abbrev=False,  # --overw is a typo, not a request to --overwrite
    )
    parser.add_argument("--config", action=ActionConfigFile, help="YAML merged over the defaults")
    parser.add_argument("--logdir", type=str | None, default=None,
                        help=f"where run folders go (default: {LOGDIR}; {FAST_LOGDIR} with --fast)")
    parser.add_argument("--seed", type=int, default=0, help="same seed, same numbers on CPU")
    parser.add_argument("--import", type=str, nargs="+", default=[], metavar="PKG",
                        help="your own packages whose classes settings may name")
    parser.add_argument("--fast", action="store_true", help="smoke mode: tiny epochs and batches")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace earlier runs whose settings or code differ")
    parser.add_argument("--rerun", action="store_true",
                        help="train every member again, even one finished with these "
                             "settings and code")
    parser.add_lightning_class_args(FitModule, "model", subclass_mode=True, required=False)
    parser.add_lightning_class_args(
        L.LightningDataModule, "data", subclass_mode=True, required=False
    )
    # The logger and root folder belong to the run-folder contract (--logdir), not the user.
    parser.add_class_arguments(
        L.Trainer, "trainer", fail_untyped=False, instantiate=False, sub_configs=True,
        skip={"logger", "default_root_dir"},
    )
    parser.add_subclass_arguments(Study, "study", required=False)
    parser.set_defaults({f"trainer.{k}": v for k, v in TRAINER_DEFAULTS.items()})
    parser.set_defaults({"study": {"class_path": "experiments.engine.study.Study"}})
    return parser


def as_options(overrides: dict) -> list[str]:
    """{"model.lr": 0.1} -> ["--model.lr=0.1"], values written as the command line takes them."""
    return [
        f"--{key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in overrides.items()
    ]


def parse(parser: LightningArgumentParser, layers: list[str],
          start: Namespace | None = None) -> Namespace:
    """The layers parsed in order, over `start` (a parsed lower layer) when given."""
    try:
        return parser.parse_args(layers, namespace=None if start is None else start.clone())
    except ArgumentError as error:
        raise ConfigError(short_message(error, parser)) from None


def plan(experiment: Experiment, options: list[str]) -> tuple[Study, Plan]:
    """Parse `options` for `experiment`: its study, and one resolved config per selected
    member, with the class paths settings may name scoped to the parse."""
    with allowed_imports(imports_of(options)):
        return planned(experiment, options)


def planned(experiment: Experiment, options: list[str]) -> tuple[Study, Plan]:
    """plan's work."""
    parser = build_parser(experiment)
    defaults = ["--config", yaml.safe_dump(experiment.defaults, sort_keys=False)]
    # --print_config prints and exits at the end of a parse: only the last one, so that it
    # shows what --fast runs.
    printing = [o for o in options if o.startswith("--print_config")]
    options = [o for o in options if o not in printing]
    base = parse(parser, [*defaults, *options])
    if not 0 <= base.seed < 2**32:  # what numpy and Lightning's seed_everything take
        raise ConfigError(f"--seed {base.seed}: a seed is from 0 to {2**32 - 1}")
    fast = as_options(FAST) if base.fast else []
    if base.fast and base.study.init_args.seeds > FAST_SEEDS:  # your --study.seeds still wins
        defaults.append(f"--study.seeds={FAST_SEEDS}")
        base = parse(parser, [*defaults, *options])
    if printing:
        parse(parser, [*defaults, *fast, *options, *printing])
    folder = Path(base.logdir or (FAST_LOGDIR if base.fast else LOGDIR)) / experiment.name
    try:
        study = parser.instantiate_classes(Namespace(study=base.study)).study
        selected = study.selected_members()
    except ValueError as error:
        raise ConfigError(f"{experiment.name}: {constructor_message(error)}") from None
    result = Plan(experiment, parser, folder, base.overwrite, base, [])
    # The experiment's YAML is parsed once; each member's layers go over a copy of it
    # (a third of the time of parsing them all again, for studies of a hundred members),
    # or the member is derived from an earlier one that differs in numbers alone.
    yaml_layer = parse(parser, defaults)
    # The experiment's own members set keys of the classes its YAML names; members the
    # user declares (study.members or study.grid in a --config), keys of the classes the
    # user chose: a sweep over one's own model names that model's settings.
    user_layer = with_classes(yaml_layer, base)
    yaml_members = parser.instantiate_classes(Namespace(study=yaml_layer.study)).study
    yaml_members = yaml_members.all_members()
    user_keys = set_keys([*fast, *options])
    parsed: dict[tuple, tuple[dict, Namespace]] = {}  # numbers_apart(overrides) -> latest
    named = []
    for name, overrides in selected.items():
        shape = numbers_apart(overrides)
        config = derived(*parsed[shape], overrides, user_keys) if shape in parsed else None
        if config is None:
            start = yaml_layer if yaml_members.get(name) == overrides else user_layer
            config = parse(parser, [*as_options(overrides), *fast, *options], start=start)
        parsed[shape] = overrides, config
        named.append(Member(name, config, folder / name, overrides, study.is_final(name),
                            study.setup_of(name)))
    result.notes += members_kept(experiment.name, named, yaml_layer,
                                 set(FAST) if base.fast else set())
    for member in named:
        result.members += result.seeded(member, study.seeds_of(member.name), study.seed_data)
    trainers = {}  # the Trainer settings checked so far -> the Trainer they build
    for member in merged_members(result):
        # Construct once now so a bad value fails before anything runs or is written (one
        # seed stands for all: they differ in the seed alone).
        try:
            model, data, trainer_args = result.instantiate(member)
            # As the runner builds it (writing nothing yet): e.g. max_epochs -2, an absent GPU.
            settings = repr(member.config.trainer)
            if settings not in trainers:
                trainers[settings] = build_trainer(result, [member], member.checkpoint,
                                                   trainer_args, study.callbacks())
            notes = check_together(study, model, data, trainers[settings], options)
            result.notes += [note for note in notes if note not in result.notes]
            result.world_size = max(result.world_size, trainers[settings].world_size)
        except (ValueError, TypeError, MisconfigurationException) as error:
            message = option_named(constructor_message(error), member.config, options)
            raise ConfigError(f"{experiment.name}/{member.base_name}: {message}") from None
    return study, result


def with_classes(layer: Namespace, chosen: Namespace) -> Namespace:
    """`layer` with the model and data of `chosen` where it names other classes."""
    layer = layer.clone()
    for group in ("model", "data"):
        if chosen.get(group) is not None and (
                layer.get(group) is None or layer[group].class_path != chosen[group].class_path):
            layer[group] = chosen[group].clone()
    return layer


def numbers_apart(overrides: dict) -> tuple:
    """Members' overrides with the same keys and the same values but for numbers share
    this: e.g. kfold's `degree=3,fold=2` and `degree=7,fold=0`."""
    return tuple((k, type(v).__name__ if is_number(v) else repr(v)) for k, v in overrides.items())


def set_keys(options: list[str]) -> set[str] | None:
    """The dotted keys a list of command-line options sets, without `init_args`; None when
    a --config file may set any."""
    keys = {o[2:].partition("=")[0].replace(".init_args", "")
            for o in options if o.startswith("--")}
    return None if {"config", "print_config"} & keys else keys


def derived(overrides: dict, config: Namespace, wanted: dict,
            user_keys: set[str] | None) -> Namespace | None:
    """The config of a member with overrides `wanted`, from an earlier member's (`overrides`,
    parsed as `config`) when they differ in numbers that no later layer (--fast, the user's)
    sets: a copy with those numbers in, as a parse would give them (an int or float setting
    has no constraint beyond its type; constructors check ranges when the plan builds each
    member). A parse costs ~50 ms of jsonargparse checking every setting; kfold's 100 members
    differ in degree and fold alone. None where it must be parsed."""
    if user_keys is None:
        return None
    config = config.clone()
    for key, value in wanted.items():
        if value == overrides[key]:
            continue
        if any(key == u or key.startswith(f"{u}.") or u.startswith(f"{key}.") for u in user_keys):
            return None
        where = config_key(config, key)
        # How the parse took the earlier member's number says how it takes this one:
        # as given, or an int as a float (an int given for a float setting).
        given, parsed_as = type(overrides[key]), type(config.get(where))
        if parsed_as is given:
            config[where] = value
        elif (given, parsed_as) == (int, float):
            config[where] = float(value)
        else:
            return None
    return config


def merged_members(plan: Plan) -> list[Member]:
    """The first seed of each member."""
    return list({m.base_name: m for m in reversed(plan.members)}.values())[::-1]


def check_together(study: Study, model: FitModule | None, data: L.LightningDataModule | None,
                   trainer: L.Trainer, options: list[str]) -> list[str]:
    """Settings valid one by one that cannot work together: refused now (ValueError), not
    as a traceback in every member's fit. What the console should say before running."""
    if data is not None and not isinstance(data, InMemoryDataModule):
        path = f"{type(data).__module__}.{type(data).__qualname__}"
        raise ValueError(
            f"--data.class_path {path}: a LightningDataModule, but not one fitlab holds in "
            "memory (datamodules.InMemoryDataModule: has_test, train scored like val, the "
            "batch order from the run's seed); wrap it: --data.class_path "
            f"datamodules.WrappedData --data.dataset.class_path {path}")
    given = " ".join(sorted({o.partition("=")[0] for o in options if o.startswith("--data.")}))
    shapes = (("num_inputs", "num_inputs", "inputs per example"),
              ("num_outputs", "num_classes", "classes"))
    for model_key, data_key, what in shapes:
        wanted = model.hparams.get(model_key) if model is not None else None
        got = getattr(data, data_key, None)
        if wanted is not None and got is not None and wanted != got:
            raise ValueError(
                f"--model.{model_key} is {wanted} but the data ({type(data).__name__}"
                f"{', ' + given if given else ''}) gives {got} {what}; set --model.{model_key}"
                f" {got}, or data settings that give {wanted}")
    # A dataset kept in files (Fashion-MNIST) installs or downloads them there.
    data_dir = getattr(data, "data_dir", None)
    if data_dir is not None and not Path(data_dir).is_dir() and (
            problem := cannot_write(Path(data_dir))):
        raise ValueError(f"--data.data_dir {data_dir}: {problem}; give a folder you can "
                         "write, or leave it out (default data/)")
    if trainer.max_epochs == 0:
        raise ValueError("--trainer.max_epochs 0 trains nothing and saves no last.ckpt, yet "
                         "would score the untrained model as a result; give 1 or more")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if isinstance(trainer.accelerator, CPUAccelerator) and trainer.num_devices > cores:
        raise ValueError(
            f"--trainer.devices {trainer.num_devices} on CPU: DDP would start "
            f"{trainer.num_devices} processes on {cores} cores, each taking its own batch "
            f"(a step's batch becomes devices × --data.batch_size); use --trainer.devices "
            f"{cores} or fewer")
    if trainer.world_size > 1 and study.one_process:
        raise ValueError(
            f"--trainer.devices/--trainer.num_nodes give {trainer.world_size} processes, but "
            f"{study.one_process}; run it on one device (--trainer.devices 1)")
    batch = getattr(data, "batch_size", None)
    if trainer.world_size > 1 and batch:  # each process takes a batch of its own shard
        return [f"note: {trainer.world_size} processes (DDP) each take --data.batch_size "
                f"{batch} a step: {trainer.world_size * batch} examples in all (give "
                f"{batch // trainer.world_size} to keep {batch})"]
    return []
