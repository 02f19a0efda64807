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
SIZE = ("data.train_size", "trainer.max_epochs")


def width(member: Member) -> int:
    return sum(member.config.model.init_args.num_hiddens)  # hidden units, over all layers


def train_size(member: Member) -> int:
    return member.config.data.init_args.train_size


class Capacity(Study):
    """The width curve has the members that differ in model.num_hiddens alone, the
    learning curve those that differ in data.train_size (and the epochs that keep the
    number of steps) alone; one member, the defaults, sits on both."""

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
        for keys, of, label in ((WIDTH, width, "hidden units"), (SIZE, train_size,
                                                                  "training images")):
            curve = [m for m in sweep(plan, *keys) if m.name in done]
            if len(curve) >= 2:
                best = min(curve, key=lambda m: done[m.name]["val/loss"])
                parts.append(f"over {len(curve)} {label} settings the lowest validation loss "
                             f"is at {of(best)} ({done[best.name]['val/loss']:.3g})")
        return ("; ".join(parts).capitalize() + ".") if parts else ""

    def notes(self, plan: Plan, results: list[dict]) -> str:
        return (f"{fitting.verdict_rule()} The groups are the two curves: the widths on the "
                "same images, the training-set sizes at the same width.")

    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        done = {r["member"]: r["metrics"] for r in results
                if r["status"] == "completed" and "val/loss" in r["metrics"]}
        figures = []
        widths = [m for m in sweep(plan, *WIDTH) if m.name in done]
        if len(widths) >= 2:
            caption = (f"Model capacity: final train and validation loss and accuracy against "
                       f"the hidden units, on {train_size(widths[0])} training images")
            figure = against(sorted(widths, key=width), width, "hidden units", done)
            figures.append(report.Figure("width", caption, figure))
        sizes = [m for m in sweep(plan, *SIZE) if m.name in done]
        if len(sizes) >= 2:
            caption = (f"Learning curve: final train and validation loss and accuracy against "
                       f"the training images, {width(sizes[0])} hidden units, about the same "
                       "number of SGD steps each")
            figure = against(sorted(sizes, key=train_size), train_size, "training images", done)
            figures.append(report.Figure("learning_curve", caption, figure))
        return figures


def against(members: list[Member], x_of, label: str, done: dict[str, dict]) -> Figure:
    """Loss (left, log) and accuracy (right) of train and val against x_of(member)."""
    x = [x_of(m) for m in members]
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    for ax, metric in zip(figure.subplots(1, 2), ("loss", "acc"), strict=True):
        for stage, color in (("train", "C0"), ("val", "C1")):
            ax.plot(x, [done[m.name][f"{stage}/{metric}"] for m in members], "o-",
                    color=color, label=stage)
        ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in x], minor=False)
        ax.minorticks_off()
        ax.set_xlabel(label)
        ax.set_ylabel({"loss": "final loss", "acc": "final accuracy"}[metric])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.axes[0].set_yscale("log")
    return figure
