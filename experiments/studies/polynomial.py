"""`polynomial` (chapter 11, d2l 3.6): the book's cubic fitted with too few, enough and
too many powers of x, in two setups: the book's (SGD for 400 or 1500 epochs on 100
examples), where the degree-19 fit is under-trained and rarely overfits, and the fits
trained to convergence (closed-form least squares) on 50 examples, where it always does;
and the capacity curve of the converged fits against the degree."""

import math
import statistics

from experiments.engine import aggregate, report
from experiments.engine.aggregate import Result, completed
from experiments.engine.figures import curves_figure
from experiments.engine.headline import Headline, count_verdicts
from experiments.engine.plan import Plan
from experiments.engine.report import pm, shown
from experiments.engine.study import sweep
from experiments.studies import fitting
from experiments.studies.fitting import degree, num_train, seed_values, trained_by_sgd
from experiments.studies.polynomial_figures import capacity_figure, fits_figure
from experiments.studies.regression import RegressionStudy

TRUE_WEIGHTS = (5.0, 1.2, -3.4, 5.6)  # the book's cubic, the data's default
# d2l 3.6's printed weights of its degree-3 fit (book_normal): one run of the book's SGD.
BOOK_NORMAL_WEIGHTS = (5.01, 1.24, -3.42, 5.50)


def noise_floor(plan: Plan) -> float:
    """½σ²: the l2 loss (½·MSE) of the true cubic itself, which no fit beats on average."""
    return plan.members[0].config.data.init_args.noise ** 2 / 2


def mean_weights(result: Result) -> list[float]:
    """The learned weights averaged over the seeds."""
    weights = [run["metrics"]["weights"] for run in result["runs"] if run["status"] == "completed"]
    return [statistics.fmean(w) for w in zip(*weights, strict=True)]


def spread(values: list[float]) -> str:
    """`mean 38 ± 38, median 0.0086, geometric mean 0.11`: for losses whose mean one seed
    can dominate."""
    mean, se = aggregate.mean_se(values)
    geometric = math.exp(statistics.fmean(math.log(v) for v in values))
    return (f"mean {pm(mean, se)}, median {statistics.median(values):.3g}, "
            f"geometric mean {geometric:.3g}")


def dominated(values: list[float]) -> bool:
    """Whether one seed holds more than half of the sum: the mean is that seed's."""
    return len(values) > 1 and max(values) > sum(values) / 2


def overfit_ratio(result: Result) -> float:
    """The geometric mean over seeds of val/loss ÷ train/loss."""
    ratios = [math.log(val / train) for train, val in fitting.seed_losses(result).values()]
    return math.exp(statistics.fmean(ratios))


def verdict_phrase(verdict: str) -> str:
    """`overfitting`, or `a good fit`: what follows "is" in a sentence."""
    return f"a {verdict}" if verdict.startswith("good fit") else verdict


class Polynomial(RegressionStudy):
    """Members declared by name are final (tested) and drawn as fits; the grid over the
    degree is a validation curve. Verdicts are given within each setup (members of one
    training-set size see the same examples); model.num_inputs follows data.degree."""

    # The members the prose speaks of (the YAML's study.roles): the book's SGD fits of
    # degrees 1, 3 and 19; its degree-19 fit and the same fitted to convergence on the same
    # examples; and degrees 1, 3 and 19 fitted to convergence (the second setup).
    # Without the book's members (--study.members of one's own), leave their roles out too.
    needed_roles = {"converged": 3}
    optional_roles = {"book": 3, "book_overfit": 2}

    def fits(self) -> list[str]:
        """The named members drawn as fits, the book's SGD members first."""
        return list(dict.fromkeys([*self.role("book"), *self.role("book_overfit"),
                                   *self.role("converged")]))

    def __init__(self, sgd_seeds: int = 5, **kwargs):
        """
        Args:
            sgd_seeds: seeds of the members trained by SGD (the book's, thousands of steps
                each; at most `seeds`), beside `seeds` for the fits solved in closed form.
        """
        super().__init__(**kwargs)
        self.sgd_seeds = sgd_seeds

    def all_members(self) -> dict[str, dict]:
        return {name: fitting.with_num_inputs(o) for name, o in super().all_members().items()}

    def seeds_of(self, name: str) -> int:
        overrides = self.all_members().get(name, {})
        by_sgd = overrides.get("model.class_path") == "modules.LinearRegression"
        return min(self.sgd_seeds, self.seeds) if by_sgd else self.seeds

    def verdicts(self, plan: Plan, results: list[Result]) -> dict[str, str]:
        """member -> verdict, judged among the members of its training-set size."""
        size = {m.name: num_train(m) for m in plan.members}
        out = {}
        for n in sorted(set(size.values())):
            group = [r for r in results if size.get(r["member"]) == n]
            out |= fitting.verdicts(group, noise_floor(plan), ratios=True)
        return out

    def columns(self, plan: Plan, results: list[Result]) -> dict[str, dict]:
        """The verdict, and beside a tested member's mean test/loss its median and geometric
        mean over seeds (summary.json): one wild seed can make the mean its own."""
        columns = {m: {"verdict": v} for m, v in self.verdicts(plan, results).items()}
        for result in results:
            values = seed_values(result, "test/loss") if "runs" in result else []
            if len(values) > 1 and min(values) > 0:
                columns.setdefault(result["member"], {}).update({
                    "test/loss median": statistics.median(values),
                    "test/loss geomean": math.exp(statistics.fmean(map(math.log, values)))})
        return columns

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        """The book's book_normal weights beside d2l's, the verdicts of each setup apart:
        the book's SGD members, the fits to convergence, the degree grid."""
        done = {r["member"]: r for r in results if completed(r)}
        judged = self.verdicts(plan, results)
        grid = set(super().all_members()) - set(self.members)

        def setup(name: str, column: str) -> str:
            if name in grid:
                return "degree grid"
            return "book (SGD)" if name in self.role("book") else "converged"

        verdicts = count_verdicts({m: {"verdict": v} for m, v in judged.items()}, setup)
        ours, book = "–", "–"
        if (book_members := self.role("book")) and (normal := book_members[1]) in done:
            weights = ", ".join(f"{w:.3f}" for w in mean_weights(done[normal]))
            ours = f"{normal} weights [{weights}] (mean of {done[normal]['seeds']} seeds)"
            book = f"{normal} weights ≈ [5.01, 1.24, −3.42, 5.50] (d2l 3.6, one run)"
        members = {m.name: m for m in plan.members}
        parts = [f"degree {degree(members[m])} {verdict_phrase(judged[m])}"
                 for m in self.role("converged") if m in judged]
        takeaway = ("fitted to convergence, " + ", ".join(parts)) if parts else ""
        return Headline(ours, book, takeaway, verdicts)

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        done = {r["member"]: r for r in results if completed(r)}
        names = self.role("converged")
        if not set(names) <= done.keys():
            return ""
        judged = self.verdicts(plan, results)
        members = {m.name: m for m in plan.members}
        (under, normal, over), (d_under, d_normal, d_over) = zip(
            *((done[m]["metrics"], degree(members[m])) for m in names), strict=True)
        data = members[names[1]].config.data.init_args
        text = (
            f"Fitted to convergence on {data.num_train} examples ({done[names[1]]['seeds']} "
            f"fresh training sets), degree {d_under} is {verdict_phrase(judged[names[0]])} "
            f"(train/loss {shown(under, 'train/loss')}), degree {d_normal} "
            f"{verdict_phrase(judged[names[1]])} (val/loss {shown(normal, 'val/loss')} at the "
            f"noise floor {noise_floor(plan):.3g}; weights "
            f"[{', '.join(f'{w:.3g}' for w in mean_weights(done[names[1]]))}] on average "
            f"against [{', '.join(f'{w:g}' for w in data.w)}], the worst seed's off by "
            f"{max(seed_values(done[names[1]], 'w_err')):.3g}) and degree {d_over} is "
            f"{verdict_phrase(judged[names[2]])}: train/loss "
            f"{shown(over, 'train/loss')}, test/loss {shown(over, 'test/loss')}, "
            f"{over['test/loss'] / over['train/loss']:.3g}× train on average (val/train "
            f"{overfit_ratio(done[names[2]]):.3g}× as a geometric mean).")
        if (pair := self.role("book_overfit")) and set(pair) <= done.keys():
            book, converged = (done[m] for m in pair)
            text += (f" The book's degree-{degree(members[pair[0]])} fit after "
                     f"{book['epochs']} epochs of SGD is {verdict_phrase(judged[pair[0]])} "
                     f"(train/loss {shown(book['metrics'], 'train/loss')}, val/loss "
                     f"{shown(book['metrics'], 'val/loss')}); trained to convergence on the same "
                     f"examples it reaches train/loss {shown(converged['metrics'], 'train/loss')}"
                     f" and is {verdict_phrase(judged[pair[1]])}.")
        return text

    def notes(self, plan: Plan, results: list[Result]) -> str:
        floor = noise_floor(plan)
        done = {r["member"]: r for r in results if completed(r)}
        lines = [*self.setups_note(plan), *self.underfit_note(done), *self.weights_note(done),
                 *self.spread_note(done)]
        counts = []
        for name in (*self.role("book_overfit"), self.role("converged")[2]):
            if name in done:
                ratios = [val / max(train, floor)
                          for train, val in fitting.seed_losses(done[name]).values()]
                above = sum(r > 1 + fitting.TOLERANCE for r in ratios)
                counts.append(f"{name} in {above} of {len(ratios)} (val/train from "
                              f"{min(ratios):.3g} to {max(ratios):.3g})")
        if counts:
            book_size = next((num_train(m) for m in plan.members
                              if m.name in self.role("book_overfit")[:1]), "the book's")
            lines.append(
                "**How reliably degree 19 overfits** (val/loss above "
                f"{1 + fitting.TOLERANCE:g}× its train/loss, or the floor): "
                + "; ".join(counts) + ". The book's own demo is fragile: d2l issue #2337 "
                "reports the high-order fit overfitting in one or two of 10 runs; SGD "
                f"barely moves the weights of the high powers, and {book_size} examples leave "
                "many training sets whose range is covered densely enough for the converged "
                "fit to interpolate well.")
        lines += [fitting.verdict_rule(floor, ratios=True) + " Verdicts are judged within "
                  "each setup (members that saw the same examples).",
                  "Only the named members are scored on the test split; the degree grid "
                  "(`degree=…`) is a validation curve."]
        return "\n\n".join(lines)

    def setups_note(self, plan: Plan) -> list[str]:
        """The two setups, in numbers from the members' settings."""
        members = {m.name: m for m in plan.members}
        book, converged = self.role("book"), self.role("converged")
        if not book:
            return []
        if not {book[0], book[2], converged[1]} <= members.keys():
            return []
        sgd, longest = members[book[0]].config, members[book[2]].config
        return [
            f"**Two setups.** The book's members (`book_*`) are d2l 3.6 as printed: SGD, "
            f"batch {sgd.data.init_args.batch_size}, {sgd.data.init_args.num_train} training "
            f"examples, {sgd.trainer.max_epochs} epochs ({longest.trainer.max_epochs} for "
            f"degree {longest.data.init_args.degree}). The others are each degree trained to "
            "convergence: the closed-form least-squares solution that gradient descent from "
            f"w = 0 converges to (min-norm), on {num_train(members[converged[1]])} training "
            "examples. Each seed is a fresh training set. Validation and test x are drawn "
            "within the training x's range for every member, so no extrapolated point "
            "decides a loss."]

    def underfit_note(self, done: dict[str, dict]) -> list[str]:
        """Why a line's val/loss is below its train/loss here."""
        lines = [f"{name}'s val/loss {shown(done[name]['metrics'], 'val/loss')} is below its "
                 f"train/loss {shown(done[name]['metrics'], 'train/loss')}"
                 for name in (*self.role("book")[:1], self.role("converged")[0]) if name in done
                 and done[name]["metrics"]["val/loss"] < done[name]["metrics"]["train/loss"]]
        if not lines:
            return []
        return [
            f"**Degree 1: val below train.** {' and '.join(lines)}. Not a better fit of new "
            "data: a line's error on the cubic grows like x³, so the training points at the "
            "ends of the training range carry much of the training loss (the two largest "
            "errors about half of it), and validation x lies inside that range "
            "(data.eval_in_train_range), never past them. Drawn from all of N(0, 1) "
            "instead, validation scores a line above its training loss (least-squares lines "
            "on 200 training sets of 100: train about 5.2, in-range val 3.2, unrestricted "
            "val 5.9; tests/test_polynomial.py pins it)."]

    def weights_note(self, done: dict[str, dict]) -> list[str]:
        """book_normal's learned weights beside d2l's printed ones and the truth."""
        if not (sgd := self.role("book")) or (name := sgd[1]) not in done:
            return []
        result = done[name]
        runs = [run["metrics"]["weights"] for run in result["runs"]
                if run["status"] == "completed"]
        stats = [aggregate.mean_se(list(w)) for w in zip(*runs, strict=True)]
        seed0 = ", ".join(f"{w:.4g}" for w in runs[0])
        mean = ", ".join(pm(m, e, '.4g', '.1g') for m, e in stats)
        spread_ = ", ".join(f"{statistics.stdev(w):.2g}" for w in zip(*runs, strict=True)) \
            if len(runs) > 1 else "–"
        book = ", ".join(f"{w:g}" for w in BOOK_NORMAL_WEIGHTS)
        truth = ", ".join(f"{w:g}" for w in TRUE_WEIGHTS)
        return [f"**{name}'s weights** (x⁰ … x³): seed 0 [{seed0}]; mean ± se over "
                f"{len(runs)} training sets [{mean}] (one run's spread, sd [{spread_}]); "
                f"d2l 3.6's printed run [{book}]; the truth [{truth}]. The book's run is one "
                "draw: read it against the sd, not the se."]

    def spread_note(self, done: dict[str, dict]) -> list[str]:
        """The tested members whose mean test/loss one seed dominates, with its spread."""
        shown = [f"{name} test/loss {spread(values)}"
                 for name, result in done.items()
                 if dominated(values := seed_values(result, "test/loss"))
                 and min(values) > 0]
        if not shown:
            return []
        return ["**Means one seed dominates** (one seed over half the sum): "
                + "; ".join(shown) + ". The median and geometric mean say what a typical "
                "training set gives; the mean, what one unlucky draw does."]

    def curves(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        # The closed-form fits have one epoch: only the book's SGD members have curves.
        sgd = [m for m in plan.members if trained_by_sgd(m) and m.folder.exists()]
        figure = curves_figure(sgd)
        caption = ("Train (solid) and validation (dashed) loss by epoch of the book's SGD "
                   "members, seed 0 (one training set: its val/train order may differ from "
                   "the table's means over seeds)")
        return [report.Figure("curves", caption, figure)] if figure else []

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        done = {r["member"]: r for r in results if completed(r)}
        figures = []
        if fits := [m for name in self.fits() for m in plan.members
                    if m.name == name and name in done]:
            caption = ("Seed 0's training data, the true cubic (dashed) and each named "
                       "member's fitted polynomial, the book's SGD members first: the "
                       "converged degree-19 fit chases the noise between the points, SGD's "
                       "barely leaves the lower powers")
            figures.append(report.Figure("fits", caption, fits_figure(fits, done)))
        degrees = sorted((m for m in sweep(plan, "data.degree", "model.num_inputs")
                          if m.name in done), key=degree)
        if len(degrees) >= 2:
            book = [m for m in plan.members if trained_by_sgd(m) and m.name in done]
            caption = (f"Capacity: train and validation loss of the fits trained to convergence "
                       f"on {num_train(degrees[0])} examples against the degree, mean ± se "
                       f"over {done[degrees[0].name]['seeds']} training sets (error bars cut "
                       "at the lowest seed on the log axis; dots: each seed), test loss of "
                       "the named members, the noise floor ½σ², and the book's SGD members "
                       f"({num_train(book[0]) if book else '–'} examples) for comparison")
            figure = capacity_figure(degrees, book, done, noise_floor(plan))
            figures.append(report.Figure("capacity", caption, figure))
        return figures
