"""Parse everything, check everything, then run each experiment's study in course order.

Exit codes: 0 every run finished (a diverged run is a result), 2 bad usage or settings
(one short message, nothing written), 1 a run failed (after the others still ran),
130 interrupted (rerun the same command to resume), 141 the reader of stdout left mid-run
(`| head`; a listing or --help that a reader cut short still ends 0, quietly).
"""

import contextlib
import gc
import logging
import os
import sys
import traceback
import warnings

from lightning.pytorch.utilities import rank_zero_only

from experiments.engine import config, drawing, index, registry, report, runner
from experiments.engine.describe import describe
from experiments.engine.errors import ConfigError, suggest
from experiments.engine.plan import Plan
from experiments.engine.study import Study
from experiments.engine.threads import set_torch_threads

USAGE = """usage: python experiments/run.py [NAME ...] [OPTIONS]

Runs the named experiments (all of them, in course order, when none is named).
  --list                  the experiments: name, chapter, description
  NAME --help             an experiment's settings, types and defaults
  NAME --print_config     its resolved settings as YAML
  --logdir DIR            where run folders go (default: runs; runs-fast with --fast)
  --seed N                default 0: same seed, same numbers on CPU
  --fast                  smoke mode: tiny epochs and batches, kept apart in runs-fast
  --overwrite             replace earlier runs whose settings or code differ
  --rerun                 train again even runs finished with these settings and code
  --config FILE           YAML merged over the experiment's defaults
  --import PKG ...        your own packages, whose classes settings may then name
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
    # A resumed run finds its own last.ckpt there; that is the point, not a problem.
    warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
    # Closed-form fits (least squares, their groups) solve in a step: no optimizer, by design.
    warnings.filterwarnings("ignore", message=".*configure_optimizers. returned .None.*")


def plans_for(names: list[str], options: list[str], check: bool = True, freeze: bool = False
              ) -> list[tuple[Study, Plan]]:
    """Each experiment's study and plan, every setting checked (exit 2 before any run);
    `freeze`: each plan set aside from the collector once made (set_aside_what_lives_on)."""
    known = registry.names()
    for name in names:
        if name not in known:
            raise ConfigError(f"unknown experiment {name!r}{suggest(name, known)}; see --list")
    plans = []
    for name in names or known:
        plans.append(config.plan(registry.load(name), options))
        if freeze:
            set_aside_what_lives_on()
    for _, plan in plans if check else []:
        runner.check_folders(plan)
    return plans


def set_aside_what_lives_on() -> None:
    """What is alive now (imported modules, the plans, earlier experiments' results) lives
    to the end, or goes by its reference count, not in a cycle: the cycle collector need not
    look at it again. Each full collection, automatic while planning and after each member
    or group (training.py), had looked at everything, ~0.1 s a time: 8 s of a --fast run.
    Garbage goes first. (Figures in a cycle that outlive their study are pickled at once:
    drawing.py.) Only run.py's own process asks for it (main's `freeze`): a process that
    calls main and goes on, as the tests do, keeps every object under its collector."""
    gc.collect()
    gc.freeze()


SIGPIPE_EXIT = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left


def main(argv: list[str] | None = None, freeze: bool = False) -> int:
    """The command line's work; `freeze`: the process ends with it (run.py), so what lives
    on is set aside from the cycle collector as it goes (set_aside_what_lives_on)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return run(argv, freeze)
    except BrokenPipeError:  # `run.py --list | head -1`: the reader has all it wanted
        # Python would still flush into the closed pipe at exit, and complain: point
        # stdout at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        # A listing said all that was read; runs that stopped early did not finish.
        return 0 if {"--list", "-h", "--help"} & set(argv) else SIGPIPE_EXIT


def run(argv: list[str], freeze: bool = False) -> int:
    """main's work: parse, check, run, report."""
    names, options = split(list(argv))
    if "--list" in options:
        list_experiments()
        return 0
    wants_help = bool({"-h", "--help"} & set(options))
    if wants_help and not names:
        print(USAGE)
        return 0
    quiet_lightning()
    set_torch_threads()
    try:
        if wants_help:
            rest = [o for o in options if o not in ("-h", "--help")]
            print("\n\n".join(describe(p) for _, p in plans_for(names, rest, check=False)))
            return 0
        plans = plans_for(names, options, freeze=freeze)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if rank_zero_only.rank == 0:
        for _, plan in plans:
            for note in plan.notes:
                print(f"{plan.experiment.name}: {note}", file=sys.stderr)
    failed = []  # "experiment/member: why", one line each at the end
    # Several experiments: each one's figures are drawn while the next trains (drawing.py).
    figures = drawing.in_background() if len(plans) > 1 else contextlib.nullcontext([])
    try:
        with figures as figures_failed:
            for study, plan in plans:
                name = plan.experiment.name
                if freeze:
                    set_aside_what_lives_on()
                try:
                    results = study.run(plan)
                except OSError as error:  # e.g. the disk filled up while writing the summary
                    failed.append(f"{name}: {error}")
                    continue
                except Exception as error:  # a bug in a study's report: the others still run
                    traceback.print_exc()
                    failed.append(f"{name}: {type(error).__name__}: {error} (a fault in "
                                  "fitlab, its traceback above; the runs are kept)")
                    continue
                failed += [f"{name}/{r['member']}: {r.get('message', '')}"
                           for r in results if r["status"] == "failed"]
        failed += [f"{line} (figures)" for line in figures_failed]
    except KeyboardInterrupt:
        print("\ninterrupted: run the same command again to resume", file=sys.stderr)
        return 130
    if rank_zero_only.rank == 0:  # under DDP every rank gets here
        logdir = plans[0][1].folder.parent
        if path := index.write_index(logdir):
            print(f"\nEvery experiment in {logdir}: {path}")
        # One experiment named: its own folder, so TensorBoard opens on its runs alone.
        shown = plans[0][1].folder if len(plans) == 1 else logdir
        print(f"TensorBoard: {report.tensorboard_command(shown)}")
    for line in failed:
        print(f"failed: {line}", file=sys.stderr)
    return 1 if failed else 0
