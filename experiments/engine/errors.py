"""Bad usage or settings: one short line that names the key and what it accepts.

jsonargparse explains a failed parse at length (every Union member it tried); a user
needs the option, the value and what would be accepted.
"""

import difflib
import importlib
import inspect
import re

import lightning as L
import yaml
from jsonargparse import ArgumentError
from torch import nn


class ConfigError(Exception):
    """Bad usage or settings: run.py prints the message and exits 2, having written nothing."""


def suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def readable_type(expected: str) -> str:
    """`typing.Literal['a', 'b']` -> `one of a, b`; `<class 'float'>` -> `a float`."""
    if literal := re.match(r"typing\.Literal\[(.*)\]", expected):
        return "one of " + literal[1].replace("'", "")
    if cls := re.match(r"<class '(?:\w+\.)*(\w+)'>", expected):
        return f"a {cls[1]}"
    return expected


def init_parameters(class_path: str) -> list[str]:
    module, _, name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name)
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def not_a_subclass(class_path: str, expected: str) -> str:
    """Why a class cannot go where it was named, and what to name instead (docs/own_model.md)."""
    if expected != "FitModule":
        wanted = {"Module": "a torch.nn.Module",
                  "Dataset": "a torch Dataset or a LightningDataModule"}
        return f"not {wanted.get(expected, f'a subclass of {expected}')}"
    module, _, name = class_path.rpartition(".")
    cls = getattr(importlib.import_module(module), name, None)
    wrapped = (f"--model.class_path modules.WrappedClassifier --model.net.class_path "
               f"{class_path} (or modules.WrappedRegressor)")
    if inspect.isclass(cls) and issubclass(cls, L.LightningModule):
        return ("a LightningModule but not a fitlab model (modules.FitModule: train scored "
                "like val, each example's loss, the metrics per stage); subclass "
                "modules.Classifier or modules.Regressor and build self.net, or train its "
                f"forward with fitlab's loss and optimizer: {wrapped}")
    if inspect.isclass(cls) and issubclass(cls, nn.Module):
        return f"a plain torch.nn.Module, not a fitlab model; give it as the network: {wrapped}"
    return "not a fitlab model (a subclass of modules.FitModule)"


def causes(error: BaseException) -> list[BaseException]:
    """`error` and what it was raised from, outermost first: jsonargparse wraps the error
    of the setting that failed (a Union tries each of its members) in one per level,
    raised from the one below (not errors it merely handled on the way)."""
    chain = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__
    return chain


def constructor_message(error: BaseException) -> str:
    """The class's own error (its ValueError), which jsonargparse's report of a failed
    instantiation was raised from; its first line."""
    return str(causes(error)[-1]).strip().splitlines()[0]


def first(chain: list[BaseException], kind: type | tuple[type, ...]) -> BaseException | None:
    return next((error for error in chain if isinstance(error, kind)), None)


def short_message(error: ArgumentError, parser) -> str:
    """One line from a failed parse. jsonargparse 4.53 raises plain ValueErrors and
    TypeErrors with English text, one per level, each raised from the next; a Union (a
    class or None, a list or one callback) links only its first member's error, the
    others' survive as text. So the errors raised from say what could not be loaded
    (fitlab's own YAML error) or imported (ImportError) and, innermost, the first
    member's own reason; the keys (`Parser key`), argparse's unknown arguments, a denied
    import, a key a class does not take and a class of the wrong kind are read from the
    report's text, which holds every member's."""
    text, chain = str(error), causes(error)
    if unknown := re.search(r"unrecognized arguments: (--[\w.]+)", text):
        option = unknown[1]
        known = {f"--{key}" for key in parser.get_defaults().keys()}
        known |= {"--list", "--help", "--print_config"}  # flags that are no settings
        return f"unknown option {option}{suggest(option, sorted(known))}"
    if loading := first(chain, yaml.YAMLError):
        return f"--config {loading}"  # config.load_yaml made it one line, naming the file
    option = "--" + ".".join(re.findall(r'Parser key "([^"]+)"', text))
    if denied := re.search(r"Importing '([\w.]+)' is not allowed", text):
        return (f"{option}: class_path {denied[1]} is not allowed; settings may only name "
                "classes of fitlab (modules, datamodules, experiments) or Lightning callbacks"
                f", or of a package you opt in: --import {denied[1].partition('.')[0]}")
    if wrong := re.search(r"Import path ([\w.]+ )?does not correspond to a subclass of (\w+)",
                          text):
        path = (wrong[1] or re.findall(r"Given value: ([\w.]+)$", text, re.MULTILINE)[0]).strip()
        return f"{option}.class_path {path}: {not_a_subclass(path, wrong[2])}"
    class_path = re.search(r"class_path '([\w.]+)'", text)
    if bad_key := re.search(r"Option '(\w+)' is not accepted", text):
        choices = init_parameters(class_path[1]) if class_path else []
        owner = f" of {class_path[1].rpartition('.')[2]}" if class_path else ""
        return f"unknown option {option}.{bad_key[1]}: not a setting{owner}" + suggest(
            bad_key[1], choices
        )
    if class_path and first(chain, (ImportError, AttributeError)):
        return f"{option}.class_path {class_path[1]}: cannot import it (no such module or class)"
    reason = str(chain[-1])  # the first Union member's own
    if expected := re.match(r"Expected a (.+?)(?:\. Got value: (.*)|$)", reason, re.MULTILINE):
        given = expected[2] or re.search(r"Given value: (.*)", text)[1]
        return f"{option}: expected {readable_type(expected[1])}, got {given.strip()!r}"
    return text.strip().splitlines()[0]


def option_named(message: str, config, options: list[str]) -> str:
    """A constructor's or Lightning's message naming its setting as the command line does:
    `batch_size must be >= 1` (a datamodule's) -> `--data.batch_size must be >= 1`,
    Lightning's `max_epochs` -> `--trainer.max_epochs`; a Trainer message that names none
    (`No supported gpu backend found!`) gets the --trainer options given in front."""
    for group in ("model", "data"):
        setting = config.get(group)
        arguments = setting.get("init_args") if setting is not None else None
        for argument in vars(arguments) if arguments is not None else ():
            if re.match(rf"{argument}\b", message):
                return f"--{group}.{message}"
    named = re.sub(r"`(\w+)`", lambda m: f"--trainer.{m[1]}" if m[1] in config.trainer
                   else m[0], message)
    if "--" in named:
        return named
    given = [f"{o} {value}" if "=" not in o and not value.startswith("--") else o
             for o, value in zip(options, [*options[1:], "--"], strict=True)
             if o.startswith("--trainer.")]
    return f"{', '.join(given)}: {message}" if given else message
