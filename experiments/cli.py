"""Parse everything, check everything, then run each experiment's study in course order.

Exit codes: 0 every run finished (a diverged run is a result), 2 bad usage or settings
(one short message, nothing written), 1 a run failed (after the others still ran),
130 interrupted (rerun the same command to resume).
"""

import logging
import sys
import warnings

from experiments import config, registry, runner
from experiments.describe import describe
from experiments.errors import ConfigError, suggest

USAGE = """usage: python experiments/run.py [NAME ...] [OPTIONS]

Runs the named experiments (all of them, in course order, when none is named).
  --list                  the experiments: name, chapter, description
  NAME --help             an experiment's settings, types and defaults
  NAME --print_config     its resolved settings as YAML
  --logdir DIR            where run folders go (default: runs)
  --seed N                default 0: same seed, same numbers on CPU
  --fast                  smoke mode: tiny epochs and batches
  --overwrite             replace earlier runs whose settings differ
  --config FILE           YAML merged over the experiment's defaults
  --model.KEY V  --data.KEY V  --trainer.KEY V  --study.KEY V   single settings
"""


def split(argv: list[str]) -> tuple[list[str], list[str]]:
    """Leading words are experiment names; the rest are options."""
    names = []
    while argv and not argv[0].startswith("-"):
        names.append(argv.pop(0))
    return names, argv


def list_experiments() -> None:
    for name in registry.names():
        experiment = registry.load(name)
        print(f"{name:<20} ch. {experiment.chapter:<5} {experiment.description}")


def quiet_lightning() -> None:
    """Keep the console for progress and results: drop Lightning's start-up chatter."""
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    logging.getLogger("lightning.fabric").setLevel(logging.WARNING)
    # Batches come from tensors in memory; worker processes would only add overhead.
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def plans_for(names: list[str], options: list[str], check: bool = True) -> list:
    known = registry.names()
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown experiment {name!r}{suggest(name, known)}; see --list")
    plans = [config.plan(registry.load(name), options) for name in names or known]
    for plan in plans if check else []:
        runner.check_folders(plan)
    return plans


def main(argv: list[str] | None = None) -> int:
    names, options = split(list(sys.argv[1:] if argv is None else argv))
    if "--list" in options:
        list_experiments()
        return 0
    wants_help = bool({"-h", "--help"} & set(options))
    if wants_help and not names:
        print(USAGE)
        return 0
    quiet_lightning()
    try:
        if wants_help:
            rest = [o for o in options if o not in ("-h", "--help")]
            print("\n\n".join(describe(p) for p in plans_for(names, rest, check=False)))
            return 0
        plans = plans_for(names, options)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    failed = []
    try:
        for plan in plans:
            results = plan.study.run(plan)
            name = plan.experiment.name
            failed += [f"{name}/{r['member']}" for r in results if r["status"] == "failed"]
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return 130
    print(f"\nTensorBoard: tensorboard --logdir {plans[0].folder.parent}")
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
