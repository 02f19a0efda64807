"""`kfold` (chapter 11, d2l 3.6.3): K-fold cross-validation chooses the polynomial's degree,
then the chosen candidate is fitted on all the training data and scored once on the test
split."""

import statistics
from typing import Literal

from matplotlib.figure import Figure

from experiments.engine import report
from experiments.engine.aggregate import Result, completed, mean_se
from experiments.engine.headline import Headline
from experiments.engine.plan import Member, Plan
from experiments.engine.report import pm
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

    def scores(self, results: list[Result]) -> dict[str, dict[str, list[float]]]:
        """candidate -> stage -> final loss per fold, for candidates whose folds all completed
        (with a validation loss: a run that stops between validations has none)."""
        by_name = {r["member"]: r for r in results}
        scores = {}
        for name in self.candidates():
            folds = [by_name.get(f"{name},fold={k}") for k in range(self.num_folds)]
            if all(r is not None and completed(r) and "val/loss" in r["metrics"]
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

    def later_members(self, plan: Plan, results: list[Result]) -> list[Member]:
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

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        scores = self.scores(results)
        if not scores:
            return ""
        chosen = self.choose(scores)
        final = next((r for r in results if r["member"] == f"final,{chosen}"), None)
        tested = (f"; refitted on all the training data its test loss is "
                  f"{final['metrics']['test/loss']:.3g}"
                  if final and "test/loss" in final["metrics"] else "")
        mean = {name: statistics.mean(s["val"]) for name, s in scores.items()}
        best = min(mean, key=mean.get)
        val = {name: pm(mean[name], standard_error(s["val"])) for name, s in scores.items()}
        return (f"{self.num_folds}-fold cross-validation over {len(scores)} candidates "
                f"chooses {chosen} (val/loss {val[chosen]} over the folds; the lowest "
                f"mean is {best}'s, {val[best]})"
                f"{tested}.")

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        scores = self.scores(results)
        if not scores:
            return Headline("–")
        chosen = self.choose(scores)
        final = next((r for r in results if r["member"] == f"final,{chosen}"), None)
        noise = plan.members[0].config.data.init_args.noise
        tested = (f"; refitted, test/loss {final['metrics']['test/loss']:.3g} (noise floor "
                  f"½σ² = {noise**2 / 2:.3g})" if final and "test/loss" in final["metrics"]
                  else "")
        return Headline(f"{self.num_folds}-fold CV chooses {chosen} of {len(scores)} "
                        f"candidates{tested}", takeaway=(
                            "cross-validation on the training data alone finds the degree of "
                            "the truth; the test split only scores the refit"))

    def curves(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        return []  # a closed-form fit has one epoch: no curve to draw

    def table(self, plan: Plan, results: list[Result]) -> list[dict] | None:
        """One row per candidate (its folds' mean ± se), not one per fold."""
        scores = self.scores(results)
        if not scores:
            return None
        chosen, candidates = self.choose(scores), self.candidates()
        return [{"member": name, "status": "completed", **candidates[name],
                 **{f"{s}/{key}": value for s in STAGES
                    for key, value in zip(("loss", "loss_se"), mean_se(v[s]), strict=True)},
                 "chosen": "✓" if name == chosen else ""}
                for name, v in scores.items()]

    def notes(self, plan: Plan, results: list[Result]) -> str:
        scores = self.scores(results)
        if not scores:
            return ""
        chosen = self.choose(scores)
        rule = ("the lowest mean validation loss" if self.rule == "min" else
                "the first candidate whose mean validation loss is within one standard "
                "error (std / √K) of the lowest: the simplest the folds cannot tell apart "
                "from the best")
        lines = [f"**{self.num_folds}-fold cross-validation** over the training data: each "
                 f"candidate fitted {self.num_folds} times, validated each time on the "
                 f"fold it did not see; the table gives the mean ± standard error over the "
                 f"folds. Chosen by {rule}: **{chosen}**. A fold's examples beyond the other "
                 "folds' range make a high degree extrapolate: its mean is that fold's."]
        final = next((r for r in results if r["member"] == f"final,{chosen}"), None)
        if final is not None and "test/loss" in final["metrics"]:
            lines += ["", f"Final fit of {chosen} on all the training data: train/loss "
                          f"{final['metrics']['train/loss']:.4g}, test/loss "
                          f"{final['metrics']['test/loss']:.4g} (the test split was used "
                          "for nothing else; no fold has a test/loss)."]
        return "\n".join(lines)

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        scores = self.scores(results)
        if len(scores) < 2:
            return []
        chosen = self.choose(scores)
        floor = plan.members[0].config.data.init_args.noise ** 2 / 2
        caption = (f"Validation curve: train and validation loss per candidate, each fold's "
                   f"(dots) and their mean ± se over {self.num_folds} folds (the bar cut at "
                   f"the lowest fold on the log axis), the noise floor ½σ² and the chosen "
                   f"{chosen} (dotted)")
        figure = validation_curve(scores, self.candidates(), chosen, floor)
        return [report.Figure("validation_curve", caption, figure)]


# The words on the axis of a candidate setting, where its key alone would not say it.
AXIS_WORDS = {"data.degree": fitting.DEGREE_AXIS}


def standard_error(values: list[float]) -> float:
    return mean_se(values)[1] if len(values) > 1 else 0.0


def validation_curve(scores: dict[str, dict[str, list[float]]],
                     candidates: dict[str, dict], chosen: str, floor: float) -> Figure:
    """Loss against the candidates: numbers on the axis when one setting varies (e.g.
    data.degree), else the candidates' names."""
    names = list(scores)
    keys = {k for name in names for k in candidates[name]}
    varying = [k for k in sorted(keys)
               if len({repr(candidates[n].get(k)) for n in names}) > 1]
    numeric = len(varying) == 1 and all(
        isinstance(candidates[n].get(varying[0]), (int, float)) for n in names)
    x = [candidates[n][varying[0]] for n in names] if numeric else list(range(len(names)))
    figure = Figure(figsize=(7, 4.2), layout="constrained")
    ax = figure.subplots()
    for stage, color, shift in zip(STAGES, ("C0", "C1"), (-0.12, 0.12), strict=True):
        folds = [scores[n][stage] for n in names]
        mean = [statistics.mean(f) for f in folds]
        se = [standard_error(f) for f in folds]
        # On a log axis mean − se may be ≤ 0: the bar stops at the lowest fold instead.
        low = [m - max(m - e, min(f)) for m, e, f in zip(mean, se, folds, strict=True)]
        ax.errorbar(x, mean, yerr=[low, se], fmt="o-", color=color, capsize=3,
                    label=f"{stage}: mean ± se over folds")
        for xi, values in zip(x, folds, strict=True):  # beside the mean, not on it
            ax.scatter([xi + shift] * len(values), values, s=7, color=color, alpha=0.4)
    ax.axhline(floor, color="grey", linestyle="--", linewidth=1,
               label=f"noise floor ½σ² = {floor:.3g}")
    ax.axvline(x[names.index(chosen)], color="grey", linestyle=":", label=f"chosen: {chosen}")
    ax.set_yscale("log")
    if numeric:
        ax.set_xticks(x)
        ax.set_xlabel(AXIS_WORDS.get(varying[0], report.short_name(varying[0])))
    else:
        ax.set_xticks(x, names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("final loss (½·MSE)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return figure
