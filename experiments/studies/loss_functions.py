"""`loss_functions` (chapter 9): the course's picture of L2, L1 and Huber's loss, and one
linear fit per loss through labels with gross outliers (the members, l2 / l1 / huber)."""

import itertools
from operator import itemgetter

import torch
from matplotlib.figure import Figure
from torch.func import grad, vmap

from experiments.engine import aggregate, report
from experiments.engine.aggregate import Result
from experiments.engine.headline import Headline
from experiments.engine.plan import Plan
from experiments.studies.regression import RegressionStudy
from modules import losses

TITLES = {
    "l2": r"L2: $\frac{1}{2}(y - y')^2$",
    "l1": r"L1: $|y - y'|$",
    "huber": "Huber: $|y - y'| - \\frac{1}{2}$ beyond 1, else $\\frac{1}{2}(y - y')^2$",
}


def ordered(results: list[Result], key: str) -> str:
    """`l1 < huber < l2`: the members by their mean `key`, `<` between neighbours that
    differ beyond noise (aggregate's rule, paired by seed: the same data draw), `≈` where
    they are within noise."""
    by = sorted((r for r in results if key in r["metrics"]), key=lambda r: r["metrics"][key])
    text = by[0]["member"] if by else ""
    for low, high in itertools.pairwise(by):
        apart = aggregate.paired_apart(aggregate.per_seed(high, itemgetter(key)),
                                       aggregate.per_seed(low, itemgetter(key)))
        text += f" {'<' if apart else '≈'} {high['member']}"
    return text


def intercept_errors(results: list[Result]) -> tuple[list[dict], str]:
    """The members with an intercept error, and `l2 1.4 ± 0.09, l1 …` of them."""
    known = [r for r in results if "b_err" in r["metrics"]]
    return known, ", ".join(f"{r['member']} {report.shown(r['metrics'], 'b_err', '.2g', '.1g')}"
                            for r in known)


class LossFunctions(RegressionStudy):
    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        known, listed = intercept_errors(results)
        if not known:
            return ""
        data = plan.members[0].config.data.init_args
        validation = "clean validation labels" if data.get("clean_eval") else (
            "the same share of outliers in validation")
        return (f"With {data.outliers:.0%} of the training labels pushed up by 10–20 "
                f"({validation}), the intercept's error |b̂ − b| over "
                f"{known[0].get('seeds', 1)} seeds is {listed}; ordered, {ordered(known, 'b_err')} "
                f"(< beyond noise, a paired t-test over the seeds; ≈ within noise). The slope's "
                f"largest error w_err: {ordered(known, 'w_err')}.")

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        known, listed = intercept_errors(results)
        if not known:
            return Headline("–")
        return Headline(f"intercept error |b̂ − b| {listed} ({ordered(known, 'b_err')})",
                        takeaway="with outliers in the training labels, L1 and Huber keep "
                                 "to the bulk of the data; L2's mean is pulled toward them")

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        caption = ("Each loss with label y = 0 against the prediction y' in [-5, 5]: the "
                   "loss, its likelihood exp(-loss) and its gradient (from autograd)")
        figures = [report.Figure("losses", caption, loss_panels())]
        # Seed 0's fits, on seed 0's data (each seed draws its own).
        fits = {m.name: first for m, r in zip(plan.members, results, strict=True)
                if "bias" in (first := r.get("runs", [r])[0]["metrics"]) and "weights" in first}
        if fits:
            _, data = plan.trained(plan.members[0])
            caption = ("Seed 0's training data with its outliers and the line each loss "
                       "fitted, along x₁ (the label less the true x₂ part), beside the truth "
                       "(dashed); right, the same less the truth, near the clean points")
            figures.insert(0, report.Figure("fits", caption, fits_figure(data, fits)))
        return figures


def loss_panels() -> Figure:
    """One panel per loss of modules.losses, the implementation every regressor uses."""
    y_hat = torch.linspace(-5, 5, 401)
    y = torch.zeros(())
    figure = Figure(figsize=(13, 3.8), layout="constrained")
    for ax, (name, loss_fn) in zip(figure.subplots(1, 3), losses.SCRATCH.items(), strict=True):
        loss = loss_fn(y_hat, y)  # each y's loss
        gradient = vmap(grad(lambda a, fn=loss_fn: fn(a, y)))(y_hat)  # autograd at each y
        ax.plot(y_hat, loss, label="loss")
        ax.plot(y_hat, torch.exp(-loss), label="likelihood exp(-loss)")
        ax.plot(y_hat, gradient, label="gradient (autograd)")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_title(TITLES[name], fontsize=10)
        ax.set_xlabel("prediction $y'$ (label y = 0)")
        ax.set_ylabel("loss, likelihood, gradient")
        ax.set_ylim(-5.5, 5.5)
        ax.legend(fontsize=8, loc="lower right")
    return figure


def fits_figure(data, fits: dict[str, dict]) -> Figure:
    """Left: y − w₂x₂ against x₁ (the data seen along its first input), with each member's
    line ŵ₁x₁ + b̂ and the true w₁x₁ + b. Right: the same less the truth, zoomed on the
    clean points, where the lines that resist the outliers part from each other."""
    X, y = data.splits["train"].tensors
    w, b = data.true_w, data.true_b
    seen = y[:, 0] - X[:, 1:] @ w[1:]
    truth = w[0] * X[:, 0] + b
    clean = (seen - truth).abs() < 1
    x = torch.linspace(X[:, 0].min().item(), X[:, 0].max().item(), 2)
    figure = Figure(figsize=(12, 4.5), layout="constrained")
    full, near = figure.subplots(1, 2)
    for ax, less in ((full, 0.0), (near, 1.0)):
        # The points over the lines (zorder), small and dark: they lie on the truth.
        ax.scatter(X[clean, 0], seen[clean] - less * truth[clean], s=4, color="k", zorder=4,
                   label=f"training data ({int(clean.sum())} clean)")
        ax.scatter(X[~clean, 0], seen[~clean] - less * truth[~clean], s=8, color="C3",
                   zorder=4, label=f"outliers ({int((~clean).sum())})")
        ax.plot(x, (1 - less) * (w[0] * x + b), "k--", zorder=5,
                label=f"truth: {w[0]:.2f}·x₁ + {b:.2f}")
        for i, (name, metrics) in enumerate(fits.items()):
            w1, b1 = metrics["weights"][0], metrics["bias"]
            line = w1 * x + b1 - less * (w[0] * x + b)
            ax.plot(x, line, color=f"C{i}", linewidth=1.5, alpha=0.8, zorder=3,
                    label=f"{name}: {w1:.3f}·x₁ + {b1:.3f}")
        ax.set_xlabel("x₁")
        ax.grid(alpha=0.3)
    full.set_ylabel("y − w₂·x₂")
    full.set_title("Linear fits through 10–20 high outliers, one per loss", fontsize=10)
    full.legend(fontsize=8)
    near.set_ylim(-0.3, 0.3)
    near.set_ylabel("y − w₂·x₂ − (w₁·x₁ + b), the truth taken off")
    near.set_title("Near the clean points: each fit less the truth (lines off the axis "
                   "are further)", fontsize=10)
    return figure
