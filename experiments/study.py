"""A study: the members an experiment declares, run one after another, then reported.

Members come from the experiment's YAML as overrides in the command line's dotted keys:

    study:
      members: {scratch: {model.style: scratch}, concise: {model.style: concise}}
      grid: {model.degree: [1, 3, 19]}      # adds members degree=1, degree=3, degree=19

An experiment with more to say (figures, folds, checks) subclasses Study and names it
with `study.class_path` in its YAML.
"""

import itertools
import time
from typing import Any

from experiments import report
from experiments.plan import Plan
from experiments.runner import run_member


class Study:
    def __init__(
        self,
        members: dict[str, dict[str, Any]] | None = None,
        grid: dict[str, list[Any]] | None = None,
        member: str | None = None,
        report_only: bool = False,
    ):
        """
        Args:
            members: member name -> its overrides, e.g. {"scratch": {"model.style": "scratch"}}.
            grid: dotted key -> values; one member per combination, named like `degree=3`.
            member: run only this member (a name or an index), e.g. one task of a job array.
            report_only: run nothing; build the summary from the members already finished.
        """
        self.members, self.grid = members or {}, grid or {}
        self.member, self.report_only = member, report_only

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
        return members or {"default": {}}

    def selected_members(self) -> dict[str, dict[str, Any]]:
        """The members this invocation runs: all of them, or the one `member` names."""
        members = self.all_members()
        if self.member is None:
            return members
        names = list(members)
        index = int(self.member) if self.member.isdigit() else None
        name = names[index] if index is not None and index < len(names) else self.member
        if name not in members:
            raise ValueError(f"--study.member {self.member!r} is not one of {', '.join(names)}")
        return {name: members[name]}

    def run(self, plan: Plan) -> list[dict]:
        """Run the selected members one by one (skipping finished ones), then report."""
        results, started = [], time.perf_counter()
        for i, member in enumerate(plan.members):
            report.progress(plan.experiment.name, member.name, i, len(plan.members), started)
            results.append(run_member(plan, member))
        report.write_summary(plan, results, self.figures(plan, results))
        return results

    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        """The study's figures; an experiment's Study subclass draws its own."""
        return []
