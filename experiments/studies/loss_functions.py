"""`loss_functions` (chapter 9): the course's picture of L2, L1 and Huber's loss, and one
linear fit per loss through labels with gross outliers (the members, l2 / l1 / huber)."""

import torch
from matplotlib.figure import Figure
from torch.func import grad, vmap

from experiments.engine import report
from experiments.engine.plan import Plan
from experiments.studies.regression import RegressionStudy
from modules import losses

TITLES = {
    "l2": r"L2: $\frac{1}{2}(y - y')^2$",
    "l1": r"L1: $|y - y'|$",
    "huber": "Huber: $|y - y'| - \\frac{1}{2}$ beyond 1, else $\\frac{1}{2}(y - y')^2$",
}


class LossFunctions(RegressionStudy):
    def takeaway(self, plan: Plan, results: list[dict]) -> str:
        errors = {r["member"]: r["metrics"]["b_err"] for r in results if "b_err" in r["metrics"]}
        if not errors:
            return ""
        outliers = plan.members[0].config.data.init_args.outliers
        worst, best = max(errors, key=errors.get), min(errors, key=errors.get)
        listed = ", ".join(f"{name} {error:.2g}" for name, error in errors.items())
        return (f"With {outliers:.0%} of the labels pushed up by 10–20, the intercept's error "
                f"is {listed}: {best} resists the outliers best, {worst} is pulled furthest "
                "towards them.")

    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        caption = ("Each loss with y = 0 over y' in [-5, 5]: the loss, its likelihood "
                   "exp(-loss) and its gradient (from autograd)")
        figures = [report.Figure("losses", caption, loss_panels())]
        fits = {m.name: r["metrics"] for m, r in zip(plan.members, results, strict=True)
                if "weights" in r["metrics"] and "bias" in r["metrics"]}
        if fits:
            _, data = plan.trained(plan.members[0])
            caption = ("The training data with its outliers and the line each loss fitted, "
                       "along x₁ (the label less the true x₂ part), beside the truth (dashed)")
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
        ax.set_xlabel("$y'$")
        ax.set_ylim(-5.5, 5.5)
        ax.legend(fontsize=8, loc="lower right")
    return figure


def fits_figure(data, fits: dict[str, dict]) -> Figure:
    """y − w₂x₂ against x₁ (the data seen along its first input), with each member's line
    ŵ₁x₁ + b̂ and the true w₁x₁ + b."""
    X, y = data.splits["train"].tensors
    w, b = data.true_w, data.true_b
    seen = y[:, 0] - X[:, 1:] @ w[1:]
    x = torch.linspace(X[:, 0].min().item(), X[:, 0].max().item(), 2)
    figure = Figure(figsize=(7, 4.5), layout="constrained")
    ax = figure.subplots()
    ax.scatter(X[:, 0], seen, s=5, color="grey", alpha=0.5, label="training data")
    ax.plot(x, w[0] * x + b, "k--", zorder=5, label=f"truth: {w[0]:.2f}·x₁ + {b:.2f}")
    for name, metrics in fits.items():
        w1, b1 = metrics["weights"][0], metrics["bias"]
        ax.plot(x, w1 * x + b1, linewidth=2, label=f"{name}: {w1:.2f}·x₁ + {b1:.2f}")
    ax.set_xlabel("x₁")
    ax.set_ylabel("y − w₂·x₂")
    ax.set_title("Linear fits through 10–20 high outliers, one per loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure
