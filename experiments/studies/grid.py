"""A sweep of one's own: any model and data (docs/own_model.md) over
`study.grid`, each grid point judged as the chapter-11 studies judge theirs.

    study:
      class_path: experiments.studies.grid.GridStudy
      init_args:
        seeds: 3
        grid: {model.net.init_args.num_hiddens: [1, 4, 64]}

summary.md gets a verdict per member (underfitting, overfitting, good fit or
inconclusive, by fitting.verdicts' rule with its standard errors over seeds) and, when
the first grid key takes positive numbers, the final train and val metrics against it.
"""

from experiments.engine import report
from experiments.engine.aggregate import Result, completed
from experiments.engine.figures import against
from experiments.engine.plan import Member, Plan
from experiments.engine.study import Study
from experiments.studies import fitting


class GridStudy(Study):
    """Members from `grid` (and `members`), each judged against the best on validation:
    a capacity sweep's rule, where overfitting also needs val/loss to rise above the best
    member's (fitting.verdict_rule(rise=True))."""

    def swept(self, plan: Plan) -> tuple[str, list[Member]] | None:
        """The first grid key (as the settings name it) and the members in its order, when
        its values are positive numbers; else None."""
        if not self.grid:
            return None
        key = next(iter(self.grid)).replace(".init_args.", ".")
        members = [m for m in plan.members if key in m.flat_settings]
        values = [m.flat_settings[key] for m in members]
        if len(members) < 2 or not all(type(v) in (int, float) and v > 0 for v in values):
            return None
        return key, sorted(members, key=lambda m: m.flat_settings[key])

    def columns(self, plan: Plan, results: list[Result]) -> dict[str, dict]:
        verdicts = fitting.verdicts(results, rise=True)
        return {member: {"verdict": verdict} for member, verdict in verdicts.items()}

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        done = {r["member"]: r["metrics"] for r in results if "val/loss" in r["metrics"]}
        if not done:
            return ""
        best = min(done, key=lambda name: done[name]["val/loss"])
        verdicts = self.columns(plan, results)
        judged = "; ".join(f"{name} {column['verdict']}" for name, column in verdicts.items())
        return (f"val/loss is lowest at {best} ({report.shown(done[best], 'val/loss')}). "
                f"Verdicts: {judged}.")

    def notes(self, plan: Plan, results: list[Result]) -> str:
        return fitting.verdict_rule(rise=True)

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        done = {r["member"]: r["metrics"] for r in results
                if completed(r) and "val/loss" in r["metrics"]
                and "train/loss" in r["metrics"]}
        if (swept := self.swept(plan)) is None:
            return []
        key, members = swept
        members = [m for m in members if m.name in done]
        classifies = all("val/acc" in done[m.name] and "train/acc" in done[m.name]
                         for m in members)
        if len(members) < 2 or not classifies:
            return []
        seeds = max((r.get("seeds", 1) for r in results), default=1)
        caption = (f"Final train and validation loss (log; val/loss alone on a linear scale "
                   f"in the middle, its minimum starred) and accuracy against {key}; mean ± "
                   f"se over {seeds} seeds")
        figure = against(members, lambda m: m.flat_settings[key], key, done, val_alone=True)
        return [report.Figure("grid", caption, figure)]
