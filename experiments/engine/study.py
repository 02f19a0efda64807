"""A study: the members an experiment declares, run one after another, then reported.

Members come from the experiment's YAML as overrides in the command line's dotted keys:

    study:
      members: {scratch: {model.style: scratch}, concise: {model.style: concise}}
      grid: {model.degree: [1, 3, 19]}      # adds members degree=1, degree=3, degree=19

An experiment with more to say (figures, folds, checks) subclasses Study and names it
with `study.class_path` in its YAML.

Its sentences and figures name members only through roles the YAML declares
(`study.roles: {book_gap: [wd=0, wd=3]}`; the roles a study needs are its `needed_roles`)
or through the sweep's own structure (`sweep`), and read the numbers they state from the
members' settings. Every setting that names members (roles, and a subclass's own, e.g.
`compared`: `named_members`) is checked when the plan is made: a renamed or missing member
is exit 2 naming it. The hooks see `aggregate.Result`s (a member's seeds merged), write
mean ± se with `report.pm` / `report.shown`, pair seeds with `aggregate.difference` /
`aggregate.paired`, and draw bands with `figures.band`.

`seeds: N` runs every member N times (see plan.py); the summary, the figures and the
verdicts see one merged result per member (aggregate.py): means with standard errors.
Only final members (`final`: by default the declared ones, not grid points or folds)
are scored on the test split, so the test split selects nothing.

Spread over a cluster, each task of a job array runs one member (`--study.member 3`, an
index into the members in this order, or a name) into the usual folder, and a last job
builds the summary from the finished ones (`--study.report_only true`). Under DDP every
rank runs the same members in the same order; only rank 0 writes (runner, report).
"""

import dataclasses
import itertools
from typing import Any

import lightning as L
from lightning.pytorch.utilities import rank_zero_only

from experiments.engine import aggregate, member_lock, report, training
from experiments.engine.aggregate import Result, RunResult
from experiments.engine.figures import curves_figure
from experiments.engine.headline import (
    Headline,
    beside_the_book,
    count_verdicts,
    first_sentence,
    write_headline,
)
from experiments.engine.plan import Member, Plan
from experiments.engine.runner import changed_settings, read_metrics
from experiments.engine.serve import MEANS


def sweep(plan: Plan, *keys: str) -> list[Member]:
    """A one-factor sweep over `keys`: the largest group of members whose settings differ
    in those keys alone (declared members and grid points alike), one per value of the
    first key. A member that also changes another setting is not part of it."""
    groups: dict[str, list[Member]] = {}
    for member in merged(plan, [])[0].members:  # one per member, whatever its seeds
        settings = member.flat_settings
        rest = sorted((k, repr(v)) for k, v in settings.items() if k not in keys)
        groups.setdefault(repr(rest), []).append(member)
    seen, members = set(), []
    for member in max(groups.values(), key=len, default=[]):
        value = repr(member.flat_settings[keys[0]])
        if value not in seen:
            seen.add(value)
            members.append(member)
    return members


class Study:
    # Why the study cannot run as one process per device (DDP), where it cannot: the plan
    # then refuses more than one device with this reason.
    one_process: str | None = None

    def __init__(
        self,
        members: dict[str, dict[str, Any]] | None = None,
        grid: dict[str, list[Any]] | None = None,
        seeds: int = 1,
        seed_data: bool = False,
        final: list[str] | None = None,
        vectorize: bool = True,
        member: str | None = None,
        report_only: bool = False,
        roles: dict[str, list[str]] | None = None,
    ):
        """
        Args:
            members: member name -> its overrides, e.g. {"scratch": {"model.style": "scratch"}}.
            grid: dotted key -> values; one member per combination, named like `degree=3`.
            seeds: run every member with this many seeds (init, dropout, batch order).
            seed_data: each seed also draws its own data or split (data.seed).
            final: the members scored on the test split (default: the declared members;
                grid points, which exist to be compared on validation, are not).
            vectorize: train same-shaped members (seeds, folds, λ grids) together as one
                vectorised run (engine/groups.py); false trains them one by one.
            member: run only this member (a name or an index), e.g. one task of a job array.
            report_only: run nothing; build the summary from the members already finished.
            roles: role -> the members that play it, e.g. {"book_gap": ["wd=0", "wd=3"]}:
                how a takeaway or a figure names the members it speaks of (the roles a
                study needs are its `needed_roles`); checked when the plan is made.
        """
        if seeds < 1:
            raise ValueError(f"--study.seeds must be >= 1, got {seeds}")
        self.members, self.grid = members or {}, grid or {}
        self.seeds, self.seed_data, self.final = seeds, seed_data, final
        self.vectorize = vectorize
        self.member, self.report_only = member, report_only
        self.roles = roles or {}

    # The roles a study's sentences and figures need, each with how many members play it;
    # and those it can do without (their sentences left out with their members), checked
    # alike where the YAML gives them.
    needed_roles: dict[str, int] = {}
    optional_roles: dict[str, int] = {}

    def named_members(self) -> dict[str, list[str]]:
        """Each setting that names members (`roles.book_gap`, a subclass's `compared`) ->
        the names it gives: checked against the members when the plan is made."""
        return {f"roles.{role}": names for role, names in self.roles.items()}

    def check_named_members(self, members: dict[str, dict]) -> None:
        """A renamed or missing member, or a role the study needs and the YAML does not
        declare, is a setting the study cannot use (ValueError, exit 2 naming it), not a
        sentence that silently says nothing."""
        known = self.needed_roles | self.optional_roles
        if unknown_roles := [role for role in self.roles if role not in known]:
            raise ValueError(f"--study.roles.{unknown_roles[0]}: {type(self).__name__} has no "
                             f"such role; its roles are {', '.join(known) or 'none'}")
        declared = {role: n for role, n in self.optional_roles.items() if role in self.roles}
        for role, count in (self.needed_roles | declared).items():
            if len(self.roles.get(role, [])) != count:
                members_word = "member" if count == 1 else "members"
                raise ValueError(f"--study.roles.{role}: {type(self).__name__} needs {count} "
                                 f"{members_word} in this role, got {self.roles.get(role, [])}")
        for setting, names in self.named_members().items():
            if unknown := [name for name in names if name not in members]:
                fix = (f" (set --study.{setting} to the members that play it)"
                       if setting.startswith("roles.") else "")
                raise ValueError(f"--study.{setting}: {', '.join(unknown)} is not a member{fix}; "
                                 f"the members are {', '.join(members)}")

    def role(self, role: str) -> list[str]:
        """The members that play `role` (the YAML's `study.roles`), checked at plan time;
        none for an optional role the YAML leaves out."""
        return self.roles.get(role, []) if role in self.optional_roles else self.roles[role]

    def all_members(self) -> dict[str, dict[str, Any]]:
        """Every member's overrides by name, declared ones first, then the grid's."""
        members = dict(self.members)
        keys = list(self.grid)
        for values in itertools.product(*self.grid.values()) if keys else []:
            overrides = dict(zip(keys, values, strict=True))
            name = ",".join(f"{key.rpartition('.')[2]}={value}" for key, value in overrides.items())
            members[name] = overrides
        for name in members:
            if not name or "/" in name or "\\" in name or name in (".", ".."):
                raise ValueError(f"member name {name!r} must be a plain folder name")
            if name == MEANS:  # the study's folder keeps its mean runs there (board.py)
                raise ValueError(f"member name {name!r} is where the members' mean curves "
                                 "go: name the member otherwise")
        return members or {"default": {}}

    def seeds_of(self, name: str) -> int:
        """How many seeds member `name` runs with (`seeds`, unless a study says otherwise)."""
        return self.seeds

    def setup_of(self, name: str) -> str:
        """The setup member `name` belongs to, where the study has several: its members
        share a table, headed so (default: one table per model and data class)."""
        return ""

    def is_final(self, name: str) -> bool:
        """Whether member `name` is scored on the test split."""
        return name in (self.members if self.final is None else self.final)

    def selected_members(self) -> dict[str, dict[str, Any]]:
        """The members this invocation runs: all of them, or the one `member` names
        (where every member the settings name exists)."""
        members = self.all_members()
        self.check_named_members(members)
        if self.member is None:
            return members
        if self.report_only:  # a summary of one member would only look like one
            raise ValueError("--study.member and --study.report_only exclude each other")
        names = list(members)
        index = int(self.member) if self.member.isdigit() else None
        name = names[index] if index is not None and index < len(names) else self.member
        if name not in members:
            raise ValueError(f"--study.member {self.member!r} is not one of {', '.join(names)} "
                             f"or an index from 0 to {len(names) - 1}")
        return {name: members[name]}

    def run(self, plan: Plan) -> list[RunResult]:
        """Run the selected members one by one (skipping finished ones), then report.

        One `member` leaves the summary to a later `report_only` run: the tasks of a job
        array finish in any order and would overwrite each other's partial summaries.
        """
        if self.report_only:  # one read of the members and one write, one process at a time
            with member_lock.study_files(plan.folder):
                return self.report_finished(plan)
        results = training.run_members(self, plan, plan.members)
        if self.member is None and (later := self.later_runs(plan, results)):
            plan = dataclasses.replace(plan, members=[*plan.members, *later])  # in the summary
            results += training.run_members(self, plan, later)
        if rank_zero_only.rank != 0:  # under DDP, rank 0 reports for all (and alone draws)
            return results
        if self.member is None:
            with member_lock.study_files(plan.folder):
                self.summarize(plan, results)
        else:
            report.show_results(plan, results)
            print(f"{plan.experiment.name}/{plan.members[0].name}: {results[0]['status']}; "
                  "once every member has finished, --study.report_only true writes the summary")
        return results

    def callbacks(self) -> list[L.Callback]:
        """The experiment's own callbacks, fresh for each member's Trainer; they join
        fitlab's (checkpoint, ...) and the user's --trainer.callbacks, replacing none."""
        return []

    def member_metrics(self, model: L.LightningModule, data: L.LightningDataModule) -> dict:
        """The study's own final numbers of a trained member, for its metrics.json."""
        return {}

    def later_members(self, plan: Plan, results: list[Result]) -> list[Member]:
        """Members decided by the results of the planned ones (e.g. a final fit of the
        candidate they chose), run after them and reported with them. Like the other
        hooks, it sees one merged result and one member (seed 0's) per member."""
        return []

    def later_runs(self, plan: Plan, results: list[RunResult]) -> list[Member]:
        """The later members' runs, one per seed."""
        later = self.later_members(*merged(plan, results))
        return [run for m in later
                for run in plan.seeded(m, self.seeds_of(m.name), self.seed_data)]

    def report_finished(self, plan: Plan) -> list[RunResult]:
        """The summary of the members that have finished, listing the ones still missing."""
        finished = {m.name: None if changed_settings(m) else read_metrics(m)
                    for m in plan.members}
        results = [result for result in finished.values() if result is not None]
        # A job array's task runs a member with all its seeds: `--study.member` takes the
        # member's name or its index among the members, not a seed's.
        index = {name: i for i, name in enumerate(self.all_members())}
        unfinished = dict.fromkeys(m.base_name for m in plan.members if finished[m.name] is None)
        missing = [f"{member} (--study.member {index[member]})" if member in index else member
                   for member in unfinished]
        name = plan.experiment.name
        if missing:
            nothing = "" if results else "; nothing to report"
            print(f"{name}: not finished yet: {', '.join(missing)}{nothing}")
        if not results:
            return []
        if not missing:  # the members decided by the planned ones may have finished too
            later = [m for m in self.later_runs(plan, results) if not changed_settings(m)]
            results += [result for m in later if (result := read_metrics(m)) is not None]
            plan = dataclasses.replace(plan, members=[*plan.members, *later])
        notes = f"Not finished yet: {', '.join(missing)}." if missing else ""
        self.summarize(plan, results, notes)
        return results

    def summarize(self, plan: Plan, results: list[RunResult], notes: str = "") -> None:
        """summary.json, summary.md and the figures, with what the subclass adds."""
        # The hooks see one member and one merged result per member (with report_only, the
        # finished ones); the table's columns still come from the whole study.
        names = {result["member"] for result in results}
        finished = dataclasses.replace(plan, members=[m for m in plan.members if m.name in names])
        done, results = merged(finished, results)
        whole, _ = merged(plan, [])
        notes = "\n\n".join(text for text in (notes, self.notes(done, results)) if text)
        figures = [*self.curves(done, results), *self.figures(done, results)]
        report.write_summary(whole, results, figures, notes, self.columns(done, results),
                             self.takeaway(done, results), self.table(done, results))
        found = self.headline(done, results)
        if plan.base.fast:  # a taste of every member: no number of it is a result
            found = dataclasses.replace(found, ours=f"smoke run (--fast), not a result: "
                                                    f"{found.ours}")
        write_headline(plan.folder, found)

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        """What runs/index.md says of the study: by default each of the book's members
        (the YAML's `book`) beside the book's number for it, the takeaway's first sentence
        and the verdicts per setup; a study whose result is not a book number (a peak, a
        bound, a chosen model) says its own."""
        ours, book = beside_the_book(plan.experiment.book, results)
        return Headline(ours, book, first_sentence(self.takeaway(plan, results)),
                        count_verdicts(self.columns(plan, results)))

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        """What the study found, in a sentence or two computed from the numbers: the first
        thing summary.md says."""
        return ""

    def notes(self, plan: Plan, results: list[Result]) -> str:
        """Markdown under the summary's table: how to read it (a rule, a choice)."""
        return ""

    def table(self, plan: Plan, results: list[Result]) -> list[dict] | None:
        """summary.md's table rows in place of one per member (summary.json keeps those):
        a study of many selection members (folds) shows what they select among."""
        return None

    def columns(self, plan: Plan, results: list[Result]) -> dict[str, dict]:
        """member -> extra columns of its summary row (e.g. a verdict)."""
        return {}

    def curves(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        """The book's `plot` of the members' train and val curves by epoch (a study with
        many members draws the ones that tell its story)."""
        figure = curves_figure([m for m in plan.members if m.folder.exists()])
        caption = ("Train (solid) and validation (dashed) curves by epoch of every member, "
                   "as d2l's `plot` draws them")
        return [report.Figure("curves", caption, figure)] if figure else []

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        """The study's figures; an experiment's Study subclass draws its own. `results`
        line up with `plan.members` (with `report_only`, the finished ones)."""
        return []


def merged(plan: Plan, results: list[RunResult]) -> tuple[Plan, list[Result]]:
    """The plan with one member per member (its seed 0, named without the seed) and one
    merged result per member (aggregate.merge_seeds)."""
    firsts = {}
    for member in plan.members:
        firsts.setdefault(member.base_name, dataclasses.replace(member, name=member.base_name))
    members = list(firsts.values())
    return dataclasses.replace(plan, members=members), aggregate.merge_seeds(results)
