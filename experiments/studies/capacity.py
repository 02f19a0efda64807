"""`capacity` (chapter 11, d2l 3.6) on Fashion-MNIST: train against validation as an MLP
widens (model capacity) and as its training set grows (the learning curve), with a
verdict per member."""

from matplotlib.figure import Figure

from experiments.engine import report
from experiments.engine.plan import Member, Plan
from experiments.engine.study import Study, sweep
from experiments.studies import fitting

# The settings each curve varies.
WIDTH = ("model.num_hiddens",)
SIZE = ("data.train_size",)


def width(member: Member) -> int:
    return sum(member.config.model.init_args.num_hiddens)  # hidden units, over all layers


def train_size(member: Member) -> int:
    return member.config.data.init_args.train_size


class Capacity(Study):
    """The width curve has the members that differ in model.num_hiddens alone (a fixed
    number of epochs), the learning curve those that differ in data.train_size alone
    (each stopped early on validation)."""

    def columns(self, plan: Plan, results: list[dict]) -> dict[str, dict]:
        # Each curve is its own group: a width is judged beside the best width on the same
        # images, a training-set size beside the best size at the same width.
        columns = {}
        for keys, label in ((WIDTH, "width"), (SIZE, "size")):
            names = {m.name for m in sweep(plan, *keys)}
            group = [r for r in results if r["member"] in names]
            for member, verdict in fitting.verdicts(group).items():
                columns.setdefault(member, {})[f"verdict by {label}"] = verdict
        return columns

    def takeaway(self, plan: Plan, results: list[dict]) -> str:
        done = {r["member"]: r["metrics"] for r in results if "val/loss" in r["metrics"]}
        parts = []
        widths = sorted((m for m in sweep(plan, *WIDTH) if m.name in done), key=width)
        if len(widths) >= 2:
            best = min(widths, key=lambda m: done[m.name]["val/loss"])
            widest = done[widths[-1].name]
            rise = widest["val/loss"] / done[best.name]["val/loss"] - 1
            parts.append(
                f"On {train_size(widths[0])} training images the validation loss is lowest "
                f"at {width(best)} hidden units ({shown(done[best.name], 'val/loss')}); the "
                f"widest, {width(widths[-1])}, fits its training images to train/acc "
                f"{shown(widest, 'train/acc')} and its validation loss is "
                f"{shown(widest, 'val/loss')}, {rise:+.0%} against that minimum.")
        sizes = sorted((m for m in sweep(plan, *SIZE) if m.name in done), key=train_size)
        if len(sizes) >= 2:
            gaps = [(train_size(m), done[m.name]["train/acc"] - done[m.name]["val/acc"])
                    for m in sizes]
            parts.append(
                f"Stopped early on validation, width {width(sizes[0])}'s train−val accuracy "
                "gap goes " + ", ".join(f"{gap:.3f} ({n} images)" for n, gap in gaps) + ".")
        return " ".join(parts)

    def notes(self, plan: Plan, results: list[dict]) -> str:
        return (f"{fitting.verdict_rule()} The groups are the two curves: the widths on the "
                "same images, the training-set sizes at the same width.")

    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        done = {r["member"]: r["metrics"] for r in results
                if r["status"] == "completed" and "val/loss" in r["metrics"]}
        seeds = max((r.get("seeds", 1) for r in results), default=1)
        figures = []
        widths = [m for m in sweep(plan, *WIDTH) if m.name in done]
        if len(widths) >= 2:
            caption = (f"Model capacity: final train and validation loss and accuracy against "
                       f"the hidden units, on {train_size(widths[0])} training images, "
                       f"{widths[0].config.trainer.max_epochs} epochs each; mean ± se over "
                       f"{seeds} seeds")
            figure = against(sorted(widths, key=width), width, "hidden units", done)
            figures.append(report.Figure("width", caption, figure))
        sizes = [m for m in sweep(plan, *SIZE) if m.name in done]
        if len(sizes) >= 2:
            caption = (f"Learning curve: final train and validation loss and accuracy against "
                       f"the training images, {width(sizes[0])} hidden units, each stopped "
                       f"early on validation loss; mean ± se over {seeds} seeds")
            figure = against(sorted(sizes, key=train_size), train_size, "training images", done)
            figures.append(report.Figure("learning_curve", caption, figure))
        return figures


def shown(metrics: dict, key: str) -> str:
    """`0.412 ± 0.008`: a merged metric with its standard error over seeds, if it has one."""
    error = metrics.get(f"{key}_se")
    return f"{metrics[key]:.3g}" + (f" ± {error:.2g}" if error is not None else "")


def against(members: list[Member], x_of, label: str, done: dict[str, dict]) -> Figure:
    """Loss (left, log) and accuracy (right) of train and val against x_of(member): the
    mean over seeds with a ± se band."""
    x = [x_of(m) for m in members]
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    for ax, metric in zip(figure.subplots(1, 2), ("loss", "acc"), strict=True):
        for stage, color in (("train", "C0"), ("val", "C1")):
            key = f"{stage}/{metric}"
            mean = [done[m.name][key] for m in members]
            error = [done[m.name].get(f"{key}_se", 0.0) for m in members]
            ax.plot(x, mean, "o-", color=color, label=stage)
            ax.fill_between(x, [max(v - e, v / 10) for v, e in zip(mean, error, strict=True)],
                            [v + e for v, e in zip(mean, error, strict=True)],
                            color=color, alpha=0.25)
        ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in x], minor=False)
        ax.minorticks_off()
        ax.set_xlabel(label)
        ax.set_ylabel({"loss": "final loss", "acc": "final accuracy"}[metric])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.axes[0].set_yscale("log")
    return figure
