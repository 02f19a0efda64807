"""Figures every study can draw: the book's `plot` of train and val curves by epoch, read
back from the members' event files, and for classifiers of images a confusion matrix and
a grid of misclassified images."""

import math
from pathlib import Path

import torch
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from torchmetrics.classification import MulticlassConfusionMatrix

from experiments.engine.plan import Member, class_of

# What a member's loss measures, by its model's `loss` setting (classifiers: cross-entropy).
LOSS_UNITS = {"l2": "½·MSE", "l1": "L1 |error|", "huber": "Huber"}
MAX_LEGEND = 12  # a sweep longer than this names its first members and its last


def closed_form(member: Member) -> bool:
    """Whether the member's model is solved, not trained (its class says `solved`): each
    epoch solves the same weights again, so its "curve" by epoch is one value repeated."""
    return getattr(class_of(member.config.model), "solved", False)


def loss_unit(member: Member) -> str:
    """What the member's loss measures: what its model class declares (`loss_unit`), else
    its `loss` setting's, else cross-entropy."""
    model = member.config.model
    if declared := getattr(class_of(model), "loss_unit", None):
        return declared
    loss = getattr(model.init_args, "loss", None)
    return LOSS_UNITS.get(loss, "cross-entropy")


def read_curves(folder: Path) -> dict[str, tuple[list[int], list[float]]]:
    """Every scalar of a run folder by epoch, as TensorBoard reads it back."""
    events = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    events.Reload()
    return {tag: ([p.step for p in events.Scalars(tag)], [p.value for p in events.Scalars(tag)])
            for tag in events.Tags()["scalars"]}


def spans_decades(values: list[float]) -> bool:
    positive = [v for v in values if v > 0]
    return len(positive) == len(values) > 0 and max(positive) / min(positive) > 30


def curves_figure(members: list[Member]) -> Figure | None:
    """The book's `plot`: train (solid) and val (dashed) loss by epoch of each member, and
    accuracy beside it for classifiers; one row of panels per loss unit, so ½·MSE and
    cross-entropy never share an axis. A closed-form fit, or a member of one epoch, is
    drawn as points; where every member is one, there is no curve to draw, and no figure."""
    curves = {m.name: read_curves(m.folder) for m in members}
    members = [m for m in members if "train/loss" in curves[m.name]]
    points = {m.name for m in members
              if closed_form(m) or len(curves[m.name]["train/loss"][0]) < 2}
    if all(m.name in points for m in members):
        return None
    rows: dict[str, list[Member]] = {}
    for member in members:
        rows.setdefault(loss_unit(member), []).append(member)
    if not rows:
        return None
    metrics = {unit: ["loss", *(["acc"] if any("train/acc" in curves[m.name] for m in group)
                                else [])] for unit, group in rows.items()}
    columns = max(len(m) for m in metrics.values())
    figure = Figure(figsize=(5.5 * columns, 3.8 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), columns, squeeze=False)
    for row, (unit, group) in zip(axes, rows.items(), strict=True):
        for ax, metric in zip(row, metrics[unit], strict=False):
            values = []
            for i, member in enumerate(group):
                # Many members (a sweep) in order along a colour ramp, a few in distinct ones.
                color = f"C{i}" if len(group) <= 10 else colormaps["viridis"](i / (len(group) - 1))
                label = member.name if i < MAX_LEGEND or i == len(group) - 1 else None
                for stage, style in (("train", "-"), ("val", "--")):
                    steps, ys = curves[member.name].get(f"{stage}/{metric}", ([], []))
                    marker = {"-": "o", "--": "x"}[style] if member.name in points else None
                    ax.plot(steps, ys, linestyle="none" if marker else style, color=color,
                            linewidth=1.2, marker=marker,
                            label=label if stage == "train" else None)
                    values += ys
            if metric == "loss" and spans_decades(values):
                ax.set_yscale("log")
            ax.set_xlabel("epoch")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.set_ylabel(unit if metric == "loss" else "accuracy")
            title = {"loss": f"{unit} loss", "acc": "accuracy"}[metric]
            ax.set_title(f"{title} by epoch: train solid, val dashed", fontsize=10)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=7, ncols=2 if len(group) > 6 else 1)
        for ax in row[len(metrics[unit]):]:
            ax.set_axis_off()
    return figure


def band(ax, x: list[float], mean: list[float], se: list[float], style: str, color: str,
         label: str, log: bool = False) -> None:
    """A mean over seeds against x, with a ± one standard error band (none where a point
    has one seed: NaN or None). On a `log` axis the band's lower edge stops at a tenth of
    the mean, where mean − se would reach zero or below."""
    ax.plot(x, mean, style, color=color, label=label, markersize=4)
    error = [0.0 if e is None or math.isnan(e) else e for e in se]
    low = [m - e for m, e in zip(mean, error, strict=True)]
    if log:
        low = [max(lo, m / 10) for lo, m in zip(low, mean, strict=True)]
    ax.fill_between(x, low, [m + e for m, e in zip(mean, error, strict=True)], color=color,
                    alpha=0.2)


def against(members: list[Member], x_of, label: str, done: dict[str, dict],
            val_alone: bool = False) -> Figure:
    """Loss (left, log) and accuracy (right) of train and val against x_of(member): the
    mean over seeds with a ± se band. `val_alone` adds val/loss on a linear scale between
    them, its minimum marked: beside train's fall over decades the log scale flattens it."""
    x = [x_of(m) for m in members]
    panels = ("loss", "val", "acc") if val_alone else ("loss", "acc")
    figure = Figure(figsize=(4.6 * len(panels), 3.8), layout="constrained")
    for ax, panel in zip(figure.subplots(1, len(panels)), panels, strict=True):
        metric = "loss" if panel == "val" else panel
        stages = (("val", "C1"),) if panel == "val" else (("train", "C0"), ("val", "C1"))
        for stage, color in stages:
            key = f"{stage}/{metric}"
            band(ax, x, [done[m.name][key] for m in members],
                 [done[m.name].get(f"{key}_se") for m in members], "o-", color, stage,
                 log=panel == "loss")
        if panel == "val":
            lowest = min(range(len(x)), key=lambda i: done[members[i].name]["val/loss"])
            minimum = done[members[lowest].name]["val/loss"]
            ax.axhline(minimum, color="grey", ls=":", lw=1)
            ax.plot([x[lowest]], [minimum], "*", color="k", ms=12,
                    label=f"minimum {minimum:.3g}")
        ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in x], minor=False)
        ax.minorticks_off()
        ax.set_xlabel(label)
        ax.set_ylabel({"loss": "final cross-entropy (log scale)",
                       "val": "final validation cross-entropy (linear)",
                       "acc": "final accuracy"}[panel])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.axes[0].set_yscale("log")
    return figure


def predict(model: torch.nn.Module, X: torch.Tensor, batch: int = 2048) -> torch.Tensor:
    """The model's class for each row of X, in batches."""
    with torch.no_grad():
        return torch.cat([model(X[i:i + batch]).argmax(1) for i in range(0, len(X), batch)])


def confusion_figure(model, data, split: str = "val") -> Figure:
    """torchmetrics' confusion matrix of the model on a split, rows the true class."""
    X, y = data.splits[split].tensors
    # Drawn by rank 0 alone (under DDP the other ranks are not there to sync with).
    matrix = MulticlassConfusionMatrix(num_classes=len(data.classes), sync_on_compute=False)
    matrix.update(predict(model, X), y)
    figure = Figure(figsize=(9, 8), layout="constrained")
    ax = figure.subplots()
    matrix.plot(ax=ax, labels=list(data.classes), cmap="Blues")
    for text in ax.texts:  # torchmetrics writes counts at 15 pt: too big for 10 classes
        text.set_fontsize(8)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(f"Confusion matrix on the {split} split ({len(y)} images)")
    return figure


def misclassified_figure(model, data, split: str = "test", count: int = 24) -> Figure:
    """The first `count` images of a split the model gets wrong, true over predicted label."""
    X, y = data.splits[split].tensors
    y_hat = predict(model, X)
    wrong = (y_hat != y).nonzero().flatten()[:count]
    columns = 8
    rows = max(1, -(-len(wrong) // columns))
    figure = Figure(figsize=(columns * 1.5, rows * 1.9), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False).flatten()
    for ax in axes:
        ax.set_axis_off()
    for ax, i in zip(axes, wrong.tolist(), strict=False):
        ax.imshow(X[i][0], cmap="gray_r")
        ax.set_title(f"true: {data.classes[y[i]]}\npred: {data.classes[y_hat[i]]}",
                     fontsize=8, color="firebrick")
    figure.suptitle(f"{(y_hat != y).sum().item()} of {len(y)} {split} images misclassified; "
                    f"the first {len(wrong)}")
    return figure
