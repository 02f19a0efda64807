"""`mlp` (chapter 10): the activation functions and their derivatives, and the Fashion-MNIST
figures of the best member on validation (confusion matrix, misclassified test images)."""

import torch
from matplotlib.figure import Figure
from torch.func import grad, vmap

from experiments.engine import report
from experiments.engine.aggregate import Result
from experiments.engine.plan import Plan
from experiments.studies.fashion import FashionStudy
from modules.mlp import SCRATCH_ACTIVATIONS


class MLPStudy(FashionStudy):
    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        activations = report.Figure(
            "activations",
            "relu, sigmoid and tanh (solid) with their derivatives from autograd (dashed)",
            activation_panels(),
        )
        return [*super().figures(plan, results), activations]


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
