"""How a study's members train: the unfinished ones, same-shaped ones together (groups.py,
members/) unless the study's `vectorize` is false, each member held by this process alone
(member_lock.py) while it trains; their results in the members' order. `study` is the
Study whose callbacks and final numbers (`callbacks()`, `member_metrics`) join each run.
"""

import gc
import time
from collections.abc import Callable

from experiments.engine import member_lock, report, runner
from experiments.engine.aggregate import RunResult
from experiments.engine.groups import grouped, run_group
from experiments.engine.plan import Member, Plan
from experiments.engine.runner import changed_settings, read_metrics


def run_members(study, plan: Plan, members: list[Member]) -> list[RunResult]:
    """Run the members that have not finished, same-shaped ones together (unless
    `vectorize` is false); the results in the members' order. A member another process
    is training (member_lock.py) is left to it and waited for at the end, then reused
    or, if that process died first, resumed; under DDP, whose ranks must train the same
    members, it is waited for at once."""
    results: dict[str, dict] = {}
    unfinished(members, results)
    started = time.perf_counter()

    def progress(label: str) -> None:
        report.progress(plan.experiment.name, label, len(results), len(members), started)

    if held := run_groups(study, plan, members, results, progress, plan.world_size > 1):
        run_groups(study, plan, held, results, progress, wait=True)
    return [results[m.name] for m in members]

def run_groups(study, plan: Plan, members: list[Member], results: dict[str, dict],
               progress: Callable[[str], None], wait: bool) -> list[Member]:
    """Train the `members` missing from `results` into it, group by group: the group's
    members taken first, then read again (another process may just have finished
    them). The members other processes hold, unless `wait`."""
    held = []
    for group in grouped(members) if study.vectorize else [[m] for m in members]:
        pending = [m for m in group if m.name not in results]
        with member_lock.claim(plan.experiment.name, pending, wait) as (mine, others):
            held += others
            trainable = unchanged(plan, unfinished(mine, results), results)
            todo = member_lock.agreed(group, trainable)
            chosen = {m.name for m in todo} | {m.name for m in others}
            for member in group:  # under DDP, those rank 0 found finished meanwhile
                if member.name not in results and member.name not in chosen:
                    results[member.name] = read_metrics(member)
            train_together(study, plan, todo, results, progress)
    return held

def train_together(study, plan: Plan, group: list[Member], results: dict[str, dict],
                   progress: Callable[[str], None]) -> None:
    """Train the group as one vectorised run, or its members one by one when they
    cannot train stacked (or it has one member); their results into `results`."""
    if not group:
        return
    done = run_group(plan, group, study.callbacks(), study.member_metrics,
                     announce=lambda: progress(group_label(group))
                     ) if len(group) > 1 else None
    if done is None:
        for member in group:
            progress(member.name)
            results[member.name] = runner.run_member(
                plan, member, extra_callbacks=study.callbacks(),
                member_metrics=study.member_metrics)
    else:
        results.update((r["member"], r) for r in done)
    # A Trainer, its model and its datamodule refer to one another, so only the
    # cycle collector frees them: do it now, before the next member loads its data.
    gc.collect()


def unfinished(members: list[Member], results: dict[str, dict]) -> list[Member]:
    """The members that have not finished; the finished ones' results go into `results`."""
    pending = []
    for member in members:
        if (done := runner.finished_result(member)) is None:
            pending.append(member)
        else:
            results[member.name] = done
    return pending


def unchanged(plan: Plan, members: list[Member], results: dict[str, dict]) -> list[Member]:
    """The members whose folders hold no run with other settings (check_folders found none
    at the start, but another process may have put one there since): the others fail,
    unless --overwrite."""
    kept = []
    for member in members:
        if plan.overwrite or plan.base.get("rerun") or not changed_settings(member):
            kept.append(member)
        else:
            results[member.name] = runner.member_result(
                plan, member, "failed", f"{member.folder}: another process put a run with other "
                "settings there meanwhile; use --overwrite to replace it, or another --logdir",
                0, time.perf_counter(), {})
    return kept


def group_label(group: list) -> str:
    """`degree=3,seed=0 … degree=3,seed=4 (5 together)`."""
    return f"{group[0].name} … {group[-1].name} ({len(group)} together)"
