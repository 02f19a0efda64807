"""`softmax_regression` (chapter 8, d2l 4.1–4.5): the dataset as d2l 4.2 shows it, the
Fashion-MNIST figures of every classifier study, and the ten weight templates the best
member learned."""

import torch
from matplotlib.figure import Figure

from experiments.engine import report
from experiments.engine.plan import Member
from experiments.studies.fashion import FashionStudy


class SoftmaxRegressionStudy(FashionStudy):
    def best_figures(self, member: Member, model, data) -> list[report.Figure]:
        caption = (f"The weights {member.name} learned for each class, as 28×28 images: "
                   "a class's logit is the image's overlap with its template (red adds, "
                   "blue subtracts)")
        samples = ("The first 18 training images with their labels, as d2l 4.2 shows the "
                   "dataset")
        return [report.Figure("templates", caption, templates_figure(model, data.classes)),
                report.Figure("samples", samples, samples_figure(data))]


def samples_figure(data, count: int = 18, columns: int = 9) -> Figure:
    """d2l's `show_images`: the first training images, each titled with its class."""
    X, y = data.splits["train"].tensors
    figure = Figure(figsize=(columns * 1.5, count // columns * 1.75), layout="constrained")
    for ax, image, label in zip(figure.subplots(count // columns, columns).flatten(),
                                X[:count], y[:count].tolist(), strict=True):
        ax.imshow(image.reshape(-1, image.shape[-1]), cmap="gray_r")
        ax.set_title(data.classes[label], fontsize=9)
        ax.set_axis_off()
    return figure


def templates_figure(model: torch.nn.Module, classes: list[str]) -> Figure:
    """Each class's row of W as an image, on one symmetric colour scale."""
    W = next(p for p in model.parameters() if p.ndim == 2).detach()
    W = W if W.shape[0] == len(classes) else W.T  # scratch keeps W as (inputs, outputs)
    limit = W.abs().max().item()
    figure = Figure(figsize=(12, 5.4), layout="constrained")
    axes = figure.subplots(2, 5).flatten()
    for ax, template, name in zip(axes, W.reshape(len(classes), 28, 28), classes, strict=True):
        image = ax.imshow(template, cmap="RdBu_r", vmin=-limit, vmax=limit)
        ax.set_title(name, fontsize=10)
        ax.set_axis_off()
    figure.colorbar(image, ax=axes.tolist(), shrink=0.8, label="weight")
    return figure
