"""polynomial's figures: the named members' fitted polynomials beside the true cubic, and
train and validation loss against the degree."""

import math

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from datamodules.polynomial import MAX_DEGREE, PolynomialData, features
from experiments.engine.aggregate import Result
from experiments.engine.plan import Member
from experiments.studies import fitting
from experiments.studies.fitting import degree, num_train, seed_values, trained_by_sgd


def fits_figure(fits: list[Member], done: dict[str, dict]) -> Figure:
    """A grid of the named members' fits, three a row, each titled with its setup."""
    columns = min(3, len(fits))
    rows = math.ceil(len(fits) / columns)
    figure = Figure(figsize=(4.6 * columns, 3.9 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    for ax, member in zip(axes, fits, strict=False):
        draw_fit(ax, member, done[member.name])
        ax.set_ylabel("y")
    for ax in axes[len(fits):]:
        ax.set_axis_off()
    axes[0].legend(fontsize=8)
    return figure


def draw_fit(ax: Axes, member: Member, result: Result) -> None:
    args = member.config.data.init_args.as_dict()
    # Seed 0's examples, as its fit saw them (x is the feature x¹ of any degree's).
    data = PolynomialData(**{**args, "degree": MAX_DEGREE, "fold": None})
    data.setup()
    X, y = data.splits["train"].tensors
    x = X[:, 1]
    grid = torch.linspace(x.min().item(), x.max().item(), 300).reshape(-1, 1).double()
    w = torch.tensor(result["runs"][0]["metrics"]["weights"], dtype=torch.float64)
    ax.scatter(x, y[:, 0], s=8, color="grey", alpha=0.6, label="training data")
    ax.plot(grid, features(grid, 3) @ data.poly_w.double(), "k--", label="true cubic")
    ax.plot(grid, features(grid, len(w) - 1) @ w, color="C3", label="fitted")
    ax.set_ylim(y.min().item() - 2, y.max().item() + 2)  # a wild fit may leave the data
    how = f"SGD, {result['epochs']} epochs" if trained_by_sgd(member) else "converged"
    metrics = result["runs"][0]["metrics"]
    ax.set_title(f"{member.name} (seed 0): degree {degree(member)}, n = {num_train(member)}\n"
                 f"{how}; train {metrics['train/loss']:.3g}, val {metrics['val/loss']:.3g}",
                 fontsize=10)
    ax.set_xlabel("x")
    ax.grid(alpha=0.3)


def capacity_figure(members: list[Member], book: list[Member], done: dict[str, dict],
                    floor: float) -> Figure:
    figure = Figure(figsize=(7, 4.2), layout="constrained")
    ax = figure.subplots()
    degrees = [degree(m) for m in members]
    for stage, color in (("train", "C0"), ("val", "C1")):
        seeds = [seed_values(done[m.name], f"{stage}/loss") for m in members]
        mean = [done[m.name]["metrics"][f"{stage}/loss"] for m in members]
        se = [done[m.name]["metrics"].get(f"{stage}/loss_se", 0.0) for m in members]
        # On a log axis mean − se may be ≤ 0: the bar stops at the lowest seed instead.
        low = [m - max(m - e, min(values)) for m, e, values in zip(mean, se, seeds, strict=True)]
        ax.errorbar(degrees, mean, yerr=[low, se], fmt="o-", color=color, capsize=3,
                    label=f"{stage} (mean ± se)")
        for d, values in zip(degrees, seeds, strict=True):
            ax.scatter([d] * len(values), values, s=6, color=color, alpha=0.35)
    tested = [m for m in members if "test/loss" in done[m.name]["metrics"]]
    ax.scatter([degree(m) for m in tested], [done[m.name]["metrics"]["test/loss"] for m in tested],
               marker="*", s=110, color="C3", zorder=3, label="test (named members)")
    for stage, marker in (("train", "s"), ("val", "D")):
        ax.scatter([degree(m) for m in book], [done[m.name]["metrics"][f"{stage}/loss"]
                                                for m in book],
                   marker=marker, facecolors="none", edgecolors="k", s=40,
                   label=f"book SGD, n = {num_train(book[0]) if book else '–'}: {stage}")
    ax.axhline(floor, color="grey", linestyle=":", label=f"noise floor ½σ² = {floor:.3g}")
    ax.set_yscale("log")
    ax.set_xticks(range(MAX_DEGREE + 1))
    ax.set_xlabel(fitting.DEGREE_AXIS)
    ax.set_ylabel("final loss (½·MSE)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    return figure
