"""`mlp` (chapter 10): the activation functions and their derivatives, and the book's
`predict` view (test images with true and predicted labels) of the best member."""

import torch
from matplotlib.figure import Figure
from torch.func import grad, vmap

from experiments.engine import report
from experiments.engine.plan import Member, Plan
from experiments.engine.study import Study
from modules.mlp import SCRATCH_ACTIVATIONS

NUM_IMAGES = 16


class MLPStudy(Study):
    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        figures = [report.Figure(
            "activations",
            "relu, sigmoid and tanh (solid) with their derivatives from autograd (dashed)",
            activation_panels(),
        )]
        finished = [(m, r) for m, r in zip(plan.members, results, strict=True)
                    if "val/acc" in r["metrics"]
                    and m.checkpoint.exists()]
        if finished:  # best on validation: the test split picks nothing
            member, result = max(finished, key=lambda mr: mr[1]["metrics"]["val/acc"])
            caption = (f"Test images with true (top) and predicted (bottom, red when wrong) "
                       f"labels of the best member on validation, {member.name}")
            figures.append(report.Figure("predictions", caption, predictions(plan, member)))
        return figures


def activation_panels() -> Figure:
    x = torch.linspace(-8, 8, 400)
    figure = Figure(figsize=(12, 3.5), layout="constrained")
    for ax, (name, f) in zip(figure.subplots(1, 3), SCRATCH_ACTIVATIONS.items(), strict=True):
        ax.plot(x, f(x), label=f"{name}(x)")
        ax.plot(x, vmap(grad(f))(x), "--", label=f"d {name}(x) / dx")
        ax.set_title(name)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    return figure


def predictions(plan: Plan, member: Member) -> Figure:
    """The first test images, as d2l's `predict`: true label over predicted label."""
    model, data = plan.trained(member)
    X, y = (t[:NUM_IMAGES] for t in data.splits["test"].tensors)
    with torch.no_grad():
        y_hat = model(X).argmax(1)
    figure = Figure(figsize=(NUM_IMAGES / 2 * 1.2, 3.6), layout="constrained")
    axes = figure.subplots(2, NUM_IMAGES // 2).flatten()
    for ax, image, true, pred in zip(axes, X, y, y_hat, strict=True):
        ax.imshow(image[0], cmap="gray_r")
        ax.set_axis_off()
        wrong = pred != true
        ax.set_title(f"{data.classes[true]}\n{data.classes[pred]}", fontsize=7,
                     color="red" if wrong else "black")
    return figure
