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
    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        caption = ("Each loss with y = 0 over y' in [-5, 5]: the loss, its likelihood "
                   "exp(-loss) and its gradient (from autograd)")
        return [report.Figure("losses", caption, loss_panels())]


def loss_panels() -> Figure:
    """One panel per loss of modules.losses, the implementation every regressor uses."""
    y_hat = torch.linspace(-5, 5, 401)
    y = torch.zeros(())
    figure = Figure(figsize=(13, 3.8), layout="constrained")
    for ax, (name, loss_fn) in zip(figure.subplots(1, 3), losses.SCRATCH.items(), strict=True):
        # vmap evaluates the batch-mean loss one point at a time: the loss of each y'.
        loss = vmap(lambda a, fn=loss_fn: fn(a, y))(y_hat)
        gradient = vmap(grad(lambda a, fn=loss_fn: fn(a, y)))(y_hat)
        ax.plot(y_hat, loss, label="loss")
        ax.plot(y_hat, torch.exp(-loss), label="likelihood exp(-loss)")
        ax.plot(y_hat, gradient, label="gradient (autograd)")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.set_title(TITLES[name], fontsize=10)
        ax.set_xlabel("$y'$")
        ax.set_ylim(-5.5, 5.5)
        ax.legend(fontsize=8, loc="lower right")
    return figure
