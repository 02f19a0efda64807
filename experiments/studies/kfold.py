"""`kfold` (chapter 11, d2l 3.6.3): K-fold cross-validation chooses the polynomial's degree
(or, with a grid over model.weight_decay, its weight decay too), then the chosen candidate
is fitted on all the training data and scored once on the test split."""

import math
import statistics
from typing import Literal

from matplotlib.figure import Figure

from experiments.engine import report
from experiments.engine.figures import curves_figure
from experiments.engine.plan import Member, Plan
from experiments.studies import fitting
from experiments.studies.regression import RegressionStudy

STAGES = ("train", "val")


class KFold(RegressionStudy):
    """Each candidate (a declared member or a grid point) becomes K members, `NAME,fold=k`,
    that train on the other folds of the training data and validate on fold k. When all
    have finished, the chosen candidate's `final,NAME` trains on all of it."""

    def __init__(self, num_folds: int = 5,
                 rule: Literal["min", "one_std_error"] = "one_std_error", **kwargs):
        """
        Args:
            num_folds: K, the number of folds (data.num_folds of every fold member).
            rule: `min` chooses the candidate with the lowest mean validation loss;
                `one_std_error` the first candidate listed (list them simplest first) whose
                mean is within one standard error of that lowest mean: candidates the folds
                cannot tell apart are decided by simplicity (Hastie et al., ESL 7.10).
        """
        super().__init__(**kwargs)
        self.num_folds, self.rule = num_folds, rule

    def candidates(self) -> dict[str, dict]:
        """Candidate name -> its overrides: the declared members and the grid's."""
        return super().all_members()

    def all_members(self) -> dict[str, dict]:
        return {
            f"{name},fold={k}": fitting.with_num_inputs(
                {**overrides, "data.num_folds": self.num_folds, "data.fold": k})
            for name, overrides in self.candidates().items()
            for k in range(self.num_folds)
        }

    def scores(self, results: list[dict]) -> dict[str, dict[str, list[float]]]:
        """candidate -> stage -> final loss per fold, for candidates whose folds all completed
        (with a validation loss: a run that stops between validations has none)."""
        by_name = {r["member"]: r for r in results}
        scores = {}
        for name in self.candidates():
            folds = [by_name.get(f"{name},fold={k}") for k in range(self.num_folds)]
            if all(r is not None and r["status"] == "completed" and "val/loss" in r["metrics"]
                   for r in folds):
                scores[name] = {s: [r["metrics"][f"{s}/loss"] for r in folds] for s in STAGES}
        return scores

    def choose(self, scores: dict[str, dict[str, list[float]]]) -> str | None:
        if not scores:
            return None
        mean = {name: statistics.mean(s["val"]) for name, s in scores.items()}
        best = min(mean, key=mean.get)
        if self.rule == "min":
            return best
        bar = mean[best] + standard_error(scores[best]["val"])
        return next(name for name in scores if mean[name] <= bar)

    def later_members(self, plan: Plan, results: list[dict]) -> list[Member]:
        """The chosen candidate's final fit: its first fold's settings without the fold."""
        scores = self.scores(results)
        if len(scores) < len(self.candidates()):  # a fold is missing or failed: no choice
            return []
        chosen = self.choose(scores)
        first_fold = next(m for m in plan.members if m.name == f"{chosen},fold=0")
        config = first_fold.config.clone()
        config["data.init_args.fold"] = None
        name = f"final,{chosen}"
        overrides = {k: v for k, v in first_fold.overrides.items() if k != "data.fold"}
        return [Member(name, config, plan.folder / name, overrides)]

    def takeaway(self, plan: Plan, results: list[dict]) -> str:
        scores = self.scores(results)
        if not scores:
            return ""
        chosen = self.choose(scores)
        final = next((r for r in results if r["member"] == f"final,{chosen}"), None)
        tested = (f"; refitted on all the training data its test loss is "
                  f"{final['metrics']['test/loss']:.3g}"
                  if final and "test/loss" in final["metrics"] else "")
        return (f"{self.num_folds}-fold cross-validation over {len(scores)} candidates "
                f"chooses {chosen}{tested}.")

    def curves(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        # Every candidate's first fold and the final fit: all K folds would bury them.
        drawn = [m for m in plan.members if m.name.endswith(",fold=0")
                 or m.name.startswith("final,")]
        figure = curves_figure([m for m in drawn if m.folder.exists()])
        caption = ("Train (solid) and validation (dashed) loss by epoch of each candidate's "
                   "first fold and of the final fit")
        return [report.Figure("curves", caption, figure)] if figure else []

    def notes(self, plan: Plan, results: list[dict]) -> str:
        scores = self.scores(results)
        if not scores:
            return ""
        chosen = self.choose(scores)
        rows = [{"candidate": name,
                 **{f"{s}/loss mean ± std": f"{statistics.mean(v[s]):.4g} ± {std(v[s]):.2g}"
                    for s in STAGES},
                 "chosen": "✓" if name == chosen else ""}
                for name, v in scores.items()]
        rule = ("the lowest mean validation loss" if self.rule == "min" else
                "the first candidate whose mean validation loss is within one standard "
                "error (std / √K) of the lowest: the simplest the folds cannot tell apart "
                "from the best")
        lines = [f"**{self.num_folds}-fold cross-validation** over the training data: each "
                 f"candidate trained {self.num_folds} times, validated each time on the "
                 f"fold it did not see. Chosen by {rule}: **{chosen}**.", "",
                 *report.table(rows)]
        final = next((r for r in results if r["member"] == f"final,{chosen}"), None)
        if final is not None and "test/loss" in final["metrics"]:
            lines += ["", f"Final fit of {chosen} on all the training data: test/loss "
                          f"{final['metrics']['test/loss']:.4g} (the test split was used "
                          "for nothing else)."]
        return "\n".join(lines)

    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        scores = self.scores(results)
        if len(scores) < 2:
            return []
        chosen = self.choose(scores)
        caption = (f"Validation curve: final train and validation loss per candidate, mean "
                   f"over {self.num_folds} folds with a ± std band (cut at the lowest fold); "
                   f"the chosen {chosen} dotted")
        figure = validation_curve(scores, self.candidates(), chosen)
        return [report.Figure("validation_curve", caption, figure)]


def std(values: list[float]) -> float:
    return statistics.stdev(values) if len(values) > 1 else 0.0


def standard_error(values: list[float]) -> float:
    return std(values) / math.sqrt(len(values))


def validation_curve(scores: dict[str, dict[str, list[float]]],
                     candidates: dict[str, dict], chosen: str) -> Figure:
    """Loss against the candidates: numbers on the axis when one setting varies (e.g.
    data.degree), else the candidates' names."""
    names = list(scores)
    keys = {k for name in names for k in candidates[name]}
    varying = [k for k in sorted(keys)
               if len({repr(candidates[n].get(k)) for n in names}) > 1]
    numeric = len(varying) == 1 and all(
        isinstance(candidates[n].get(varying[0]), (int, float)) for n in names)
    x = [candidates[n][varying[0]] for n in names] if numeric else list(range(len(names)))
    figure = Figure(figsize=(6.5, 4), layout="constrained")
    ax = figure.subplots()
    for stage, color in zip(STAGES, ("C0", "C1"), strict=True):
        folds = [scores[n][stage] for n in names]
        mean = [statistics.mean(f) for f in folds]
        # On a log axis mean − std may be ≤ 0: the band stops at the lowest fold instead.
        low = [max(m - std(f), min(f)) for m, f in zip(mean, folds, strict=True)]
        high = [m + std(f) for m, f in zip(mean, folds, strict=True)]
        ax.plot(x, mean, "o-", color=color, label=f"{stage} (mean over folds)")
        ax.fill_between(x, low, high, color=color, alpha=0.2, label=f"{stage} ± std")
    ax.axvline(x[names.index(chosen)], color="grey", linestyle=":", label=f"chosen: {chosen}")
    ax.set_yscale("log")
    if numeric:
        ax.set_xticks(x)
        ax.set_xlabel(varying[0])
    else:
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("final loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure
