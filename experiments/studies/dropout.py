"""`dropout` (chapter 13, d2l 4.6): the book's MLP with dropout, and what dropout does
where an MLP overfits, beside weight decay.

The book's members (scratch with its own dropout layer, and concise) train at the book's
settings on Fashion-MNIST. The rest train on one small setup that overfits (`setup`:
capacity's noisy-label one): a sweep over the dropout rate (`dropout=R`) and one over λ
(`wd=L`, λ = 0 being `dropout=0`), both read on validation only. Validation's choices are
then trained again as final members, tested, and compared side by side: `none`, `l2`
(the chosen λ), `dropout` (the chosen rate) and `both`.
"""

import dataclasses
import math

from matplotlib.figure import Figure

from experiments.engine import report
from experiments.engine.aggregate import Result, beyond_noise, difference, mean_se
from experiments.engine.figures import band, curves_figure, read_curves
from experiments.engine.headline import Headline, beside_the_book, metric
from experiments.engine.plan import Member, Plan
from experiments.engine.report import pm
from experiments.studies.fashion import FashionStudy, beside_the_books, comparisons, split_note

# The final members: what each adds to the setup, in the order they are shown.
REGULARISERS = ("none", "l2", "dropout", "both")


def rate_name(rate: float) -> str:
    return f"dropout={rate:g}"


def wd_name(lam: float) -> str:
    return f"wd={lam:g}"


def chosen(results: dict[str, dict], names: dict[float, str]) -> float | None:
    """The value whose member has the lowest mean validation loss, once all have one; a
    member none of whose seeds completed is no candidate."""
    if any(name not in results for name in names.values()):
        return None
    losses = {value: results[name]["metrics"].get("val/loss") for value, name in names.items()
              if results[name]["status"].startswith("completed")}
    losses = {value: loss for value, loss in losses.items() if isinstance(loss, float)}
    return min(losses, key=losses.get) if losses else None


def gap(result: Result) -> tuple[float, float]:
    """val/loss − train/loss over the completed seeds (both scored alike): mean and
    standard error (NaN without any)."""
    runs = [r for r in result.get("runs", [result]) if r["status"] == "completed"]
    gaps = [r["metrics"]["val/loss"] - r["metrics"]["train/loss"] for r in runs]
    return mean_se(gaps) if gaps else (math.nan, math.nan)


def effect(d: float, se: float, higher_is_better: bool = True) -> str:
    if not beyond_noise(d, se):
        return "within noise"
    return "helps" if (d > 0) == higher_is_better else "hurts"


class Dropout(FashionStudy):
    def __init__(self, setup: dict | None = None, rates: list[float] | None = None,
                 lambdas: list[float] | None = None, book_seeds: int = 3, **kwargs):
        """
        Args:
            setup: the overrides of the setup that overfits, on which the rates and λs are
                swept and the regularisers compared.
            rates: the dropout rates of the sweep (one for every hidden layer); 0 is the
                setup itself.
            lambdas: the weight decays of the λ sweep (λ = 0 is the rate sweep's 0).
            book_seeds: seeds of the book's members (at most `seeds`).
        """
        # Set before the base class checks `compared` against all_members, which needs them.
        self.setup, self.rates, self.lambdas = setup or {}, rates or [], lambdas or []
        super().__init__(**kwargs)
        if 0 not in self.rates:
            raise ValueError("--study.rates must hold 0: the setup without dropout, which "
                             "the other rates and every λ are compared with")
        if any(lam <= 0 for lam in self.lambdas):
            raise ValueError("--study.lambdas: each λ must be > 0 (λ = 0 is the rate 0 member)")
        self.book_seeds = book_seeds

    def all_members(self) -> dict[str, dict]:
        members = dict(self.members)
        members |= {rate_name(r): {**self.setup, "model.dropout": r} for r in self.rates}
        members |= {wd_name(lam): {**self.setup, "model.weight_decay": lam}
                    for lam in self.lambdas}
        return members

    def setup_of(self, name: str) -> str:
        if name in self.members:
            return "the book's MLP (d2l 4.6)"
        size, side = self.setup.get("data.train_size"), self.setup.get("data.resize")
        return "the setup that overfits" + (
            f" (capacity's: {size} noisy {side}×{side} images)" if size and side else "")

    def seeds_of(self, name: str) -> int:
        return min(self.book_seeds, self.seeds) if name in self.members else self.seeds

    def choices(self, results: list[Result]) -> tuple[float | None, float | None]:
        """(the rate, the λ) that validation chose: lowest mean val/loss in each sweep."""
        by_name = {r["member"]: r for r in results}
        rate = chosen(by_name, {r: rate_name(r) for r in self.rates})
        lam = chosen(by_name, {0.0: rate_name(0), **{lam: wd_name(lam) for lam in self.lambdas}})
        return rate, lam

    def later_members(self, plan: Plan, results: list[Result]) -> list[Member]:
        """none, l2, dropout and both, each with validation's choice, as final members. A
        choice of 0 leaves out the members it would make copies of `none`."""
        rate, lam = self.choices(results)
        if rate is None or lam is None:
            return []
        members = {m.name: m for m in plan.members}

        def final(name: str, point: str, weight_decay: float | None = None) -> Member:
            """The sweep point's member again, as a final member (with λ, for `both`)."""
            member = members[point]
            config, overrides = member.config.clone(), dict(member.overrides)
            if weight_decay is not None:
                config.model.init_args.weight_decay = weight_decay
                overrides["model.weight_decay"] = weight_decay
            return dataclasses.replace(member, name=name, config=config, overrides=overrides,
                                       folder=plan.folder / name, final=True)

        later = [final("none", rate_name(0))]
        if lam > 0:
            later.append(final("l2", wd_name(lam)))
        if rate > 0:
            later.append(final("dropout", rate_name(rate)))
        if lam > 0 and rate > 0:
            later.append(final("both", rate_name(rate), weight_decay=lam))
        return later

    # -- what summary.md says -------------------------------------------------------------

    def compared_to_none(self, results: list[Result]) -> dict[str, tuple[float, float]]:
        """Each regulariser's test/acc minus none's, paired by seed (same data draw)."""
        by_name = {r["member"]: r for r in results}
        if "test/acc" not in by_name.get("none", {}).get("metrics", {}):
            return {}
        return {name: difference(by_name[name], by_name["none"], "test/acc")
                for name in REGULARISERS[1:] if name in by_name}

    def sweep_sentence(self, results: list[Result]) -> str:
        rate, lam = self.choices(results)
        if rate is None:
            return ""
        by_name = {r["member"]: r for r in results}
        at, none = by_name[rate_name(rate)], by_name[rate_name(0)]
        d, se = difference(at, none, "val/loss")
        return (f"On the setup that overfits, validation chooses dropout {rate:g} (val/loss "
                f"{metric(at, 'val/loss')} against {metric(none, 'val/loss')} without, "
                f"{pm(d, se, '+.3g')}: {effect(d, se, higher_is_better=False)}) and λ = "
                f"{lam:g}.")

    def regulariser_sentence(self, results: list[Result]) -> str:
        effects = self.compared_to_none(results)
        if not effects:
            return ""
        said = [f"{name} {effect(d, se)} ({pm(d, se, '+.3f')})"
                for name, (d, se) in effects.items()]
        among = comparisons(results, [n for n in REGULARISERS[1:] if n in effects])
        both = ""
        if {"both", "l2", "dropout"} <= effects.keys() and effects["both"][0] < min(
                effects["l2"][0], effects["dropout"][0]):
            both = (" `both` takes the rate and the λ that validation chose for each alone; "
                    "together they regularise more than either, and its test accuracy is "
                    "below both (a joint choice would take smaller ones).")
        return ("Tested against none (test/acc, paired by seed): " + "; ".join(said) + "."
                + (f" Among them, {among[0].lower()}{among[1:]}" if among else "") + both)

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        sentences = (beside_the_books(plan, results), split_note(plan),
                     comparisons(results, self.compared), self.sweep_sentence(results),
                     self.regulariser_sentence(results))
        return " ".join(s for s in sentences if s)

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        ours, book = beside_the_book(plan.experiment.book, results)
        by_name = {r["member"]: r for r in results}
        effects = self.compared_to_none(results)
        if "dropout" in effects:
            d, se = effects["dropout"]
            rate = self.choices(results)[0]
            ours += (f"; dropout {rate:g} on the overfitting setup: test/acc "
                     f"{metric(by_name['dropout'], 'test/acc')} against none's "
                     f"{metric(by_name['none'], 'test/acc')}")
            takeaway = (f"dropout {effect(d, se)} where the MLP overfits ({pm(d, se, '+.3f')} "
                        "test acc)")
        elif self.choices(results)[0] == 0:
            takeaway = "validation chose no dropout: it does not help on this setup"
        else:
            takeaway = "the regularisers' final members have no test result yet"
        return Headline(ours, book, takeaway)

    def notes(self, plan: Plan, results: list[Result]) -> str:
        by_name = {r["member"]: r for r in results}
        effects = self.compared_to_none(results)
        rows = []
        for name in (n for n in REGULARISERS if n in by_name):
            result = by_name[name]
            member = next(m for m in plan.members if m.name == name)
            model = member.config.model.init_args
            d, se = effects.get(name, (math.nan, math.nan))
            spread, spread_se = gap(result)
            rows.append({
                "regulariser": name, "rate": model.dropout, "λ": model.weight_decay,
                "train/loss": result["metrics"]["train/loss"],
                "train/loss_se": result["metrics"].get("train/loss_se"),
                "val/loss": result["metrics"]["val/loss"],
                "val/loss_se": result["metrics"].get("val/loss_se"),
                "gap": spread, "gap_se": spread_se,
                "test/acc": result["metrics"].get("test/acc"),
                "test/acc_se": result["metrics"].get("test/acc_se"),
                "Δ test/acc": d if name != "none" else None,
                "Δ test/acc_se": se if name != "none" else None,
                "vs none": effect(d, se) if name != "none" else "",
            })
        if not rows:
            return ""
        columns = ["regulariser", "rate", "λ", "train/loss", "val/loss", "gap", "test/acc",
                   "Δ test/acc", "vs none"]
        return "\n".join([
            "**The regularisers side by side** (the setup that overfits; mean ± standard "
            "error over seeds; gap = val/loss − train/loss, both scored alike; Δ test/acc "
            "against none, paired by seed, called only beyond a t-test's threshold: 2.8 "
            "standard errors over 5 seeds):", "",
            *report.table(rows, columns), "",
            "The rate and λ were chosen on validation (lowest mean val/loss in each sweep); "
            "the sweeps' members are not scored on the test split. train/* is scored on the "
            "labels the net trains on, a fifth of them wrong, and val/* and test/* on true "
            "labels: a net that stops memorising the wrong labels has a higher train loss "
            "than validation loss, so a regulariser's gap can be below zero."])

    # -- figures --------------------------------------------------------------------------

    def curves(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        book = [m for m in plan.members if m.name in self.members and m.folder.exists()]
        figure = curves_figure(book)
        caption = ("The book's members at the book's settings (seed 0): train (solid) and "
                   "validation (dashed) curves by epoch")
        return [report.Figure("curves", caption, figure)] if figure else []

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        figures = []
        by_name = {r["member"]: r for r in results}
        done = {r: by_name[rate_name(r)] for r in self.rates if rate_name(r) in by_name}
        if len(done) > 1:
            caption = ("The dropout-rate sweep on the setup that overfits: train (scored "
                       "like val, on its labels, a fifth of them wrong) and validation (true "
                       "labels) loss and accuracy against the rate, mean ± standard error over "
                       "seeds; the dotted line is validation's choice")
            figures.append(report.Figure("rates", caption,
                                         rate_figure(done, self.choices(results)[0])))
        finals = {name: by_name[name] for name in REGULARISERS if name in by_name}
        if finals:
            caption = ("The regularisers on the setup that overfits: validation loss by epoch, "
                       "mean ± standard error over seeds")
            figures.append(report.Figure("regularisers", caption,
                                         regulariser_figure(plan, finals)))
        return figures


def rate_figure(done: dict[float, dict], choice: float | None) -> Figure:
    figure = Figure(figsize=(11, 4), layout="constrained")
    rates = sorted(done)
    for ax, metric_name, unit in zip(figure.subplots(1, 2), ("loss", "acc"),
                                     ("cross-entropy", "accuracy"), strict=True):
        for stage, style, color in (("train", "o--", "C0"), ("val", "o-", "C1")):
            key = f"{stage}/{metric_name}"
            band(ax, rates, [done[r]["metrics"][key] for r in rates],
                 [done[r]["metrics"].get(f"{key}_se", 0.0) for r in rates], style, color,
                 f"{stage} (scored like val)" if stage == "train" else stage)
        if choice is not None:
            ax.axvline(choice, color="grey", linestyle=":", label=f"chosen: {choice:g}")
        ax.set_xlabel("dropout rate")
        ax.set_ylabel(f"final {unit}")
        ax.set_title(f"final {unit} against the dropout rate", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return figure


def regulariser_figure(plan: Plan, finals: dict[str, dict]) -> Figure:
    """val/loss by epoch of each final member, averaged over its seeds' event files."""
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.subplots()
    for i, (name, result) in enumerate(finals.items()):
        curves = [read_curves(plan.folder / run["member"]).get("val/loss", ([], []))
                  for run in result.get("runs", [result]) if run["status"] == "completed"]
        if not curves:
            continue
        steps = min((steps for steps, _ in curves), key=len)  # a seed may have stopped early
        per_epoch = [mean_se([values[e] for _, values in curves]) for e in range(len(steps))]
        band(ax, steps, [m for m, _ in per_epoch], [s for _, s in per_epoch], "-", f"C{i}",
             name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation cross-entropy")
    ax.set_title("validation loss by epoch: none, L2, dropout, both", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure
