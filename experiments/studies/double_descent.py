"""`double_descent` (chapter 11): test error against model size past the interpolation
threshold, on real Fashion-MNIST (Belkin et al., 2019; Nakkiran et al., 2019).

Each member fits a least-squares readout on p random ReLU features of the same n
training images (modules.RandomFeatures). Below p = n the fit is a regression with too
few features; at p = n it interpolates through a nearly singular system, and the test
error peaks; beyond, among the many interpolants, the minimum-norm one is ever smoother,
and the test error falls again: the classical U-curve and then a second descent.
"""

from matplotlib.figure import Figure

from experiments.engine import report
from experiments.engine.aggregate import Result, completed
from experiments.engine.headline import Headline
from experiments.engine.plan import Plan
from experiments.engine.study import Study, sweep


class DoubleDescent(Study):
    """One member per number of features (the grid over model.num_features)."""

    def is_final(self, name: str) -> bool:
        return True  # every member is a point on the curve; none is chosen by another

    def columns(self, plan: Plan, results: list[Result]) -> dict[str, dict]:
        return {m.name: {"params": m.config.model.init_args.num_features,
                         "n_train": m.config.data.init_args.train_size}
                for m in plan.members}

    def curve(self, plan: Plan, results: list[Result]) -> list[dict]:
        """The completed members' metrics with params and n_train, by params."""
        done = {r["member"]: r["metrics"] for r in results
                if completed(r) and "test/loss" in r["metrics"]}
        columns = self.columns(plan, results)
        rows = [{**columns[m.name], **done[m.name]}
                for m in sweep(plan, "model.num_features") if m.name in done]
        return sorted(rows, key=lambda row: row["params"])

    def peak(self, plan: Plan, results: list[Result]) -> tuple[dict, dict, dict] | None:
        """The curve's highest test loss and the lowest on each side of it (None when the
        highest is at either end of the sweep: then there is no peak to speak of)."""
        rows = self.curve(plan, results)
        peak = max(range(len(rows)), key=lambda i: rows[i]["test/loss"], default=None)
        if peak is None or peak in (0, len(rows) - 1):
            return None
        lowest = min(rows[:peak], key=lambda row: row["test/loss"]), min(
            rows[peak + 1:], key=lambda row: row["test/loss"])
        return rows[peak], *lowest

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        if (found := self.peak(plan, results)) is None:
            return Headline("no peak inside the sweep", takeaway="no double descent here")
        top, left, right = found
        return Headline(
            f"test/loss peaks at p = {top['params']} "
            f"(p/n = {top['params'] / top['n_train']:.2g}): "
            f"{top['test/loss']:.3g}, {top['test/loss'] / left['test/loss']:.0f}× the lowest "
            f"below (p = {left['params']}) and {top['test/loss'] / right['test/loss']:.0f}× "
            f"the lowest beyond (p = {right['params']})",
            takeaway="past the interpolation threshold the minimum-norm fit descends again")

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        if (found := self.peak(plan, results)) is None:
            return ("No double descent: the test loss does not peak inside the sweep."
                    if self.curve(plan, results) else "")
        top, left, right = found
        n = top["n_train"]
        return (
            f"On n = {n} training images the test loss peaks at p = {top['params']} features "
            f"(p/n = {top['params'] / n:.2g}) at {top['test/loss']:.3g}, "
            f"{top['test/loss'] / left['test/loss']:.0f}× its lowest below (p = "
            f"{left['params']}: {left['test/loss']:.3g}, test acc {left['test/acc']:.3f}) and "
            f"{top['test/loss'] / right['test/loss']:.0f}× its lowest beyond (p = "
            f"{right['params']}: {right['test/loss']:.3g}, test acc {right['test/acc']:.3f}); "
            f"test accuracy falls to {top['test/acc']:.3f} at the peak."
        )

    def notes(self, plan: Plan, results: list[Result]) -> str:
        if not results:
            return ""
        return "\n\n".join(text for text in (self.takeaway(plan, results), (
            "Each member solves the readout of its p fixed random ReLU features in closed "
            "form (float64; the minimum-norm solution where several fit) on the same n "
            "training images. Losses are ½·MSE against the one-hot labels, averaged over "
            "examples and the 10 classes (the loss least squares minimizes); accuracy takes "
            "the largest output. params is p, the number of features (the readout has "
            "10·p weights). From p = n on, train/loss is zero to float precision: the fit "
            "interpolates. Every member is a point on the curve (nothing is selected), so "
            "every one is scored on the test split (the official 10000 images).")) if text)

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        rows = self.curve(plan, results)
        if len(rows) < 2:
            return []
        caption = (f"Double descent: loss (½·MSE on one-hot labels) and accuracy of "
                   f"least-squares fits on p random ReLU features of n = {rows[0]['n_train']} "
                   "Fashion-MNIST images, against p/n; the dotted line is the interpolation "
                   "threshold p = n (train loss is zero beyond it, below the axis)")
        return [report.Figure("double_descent", caption, curve_figure(rows))]


def curve_figure(rows: list[dict]) -> Figure:
    ratio = [row["params"] / row["n_train"] for row in rows]
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    for ax, metric in zip(figure.subplots(1, 2), ("loss", "acc"), strict=True):
        for stage, color in (("train", "C0"), ("test", "C1")):
            ax.plot(ratio, [row[f"{stage}/{metric}"] for row in rows], "o-", color=color,
                    ms=4, label=stage)
        ax.axvline(1, color="k", ls=":", lw=1, label="p = n")
        ax.set_xscale("log")
        ax.set_xlabel("features per training example, p/n")
        ax.set_ylabel({"loss": "final loss (½·MSE)", "acc": "final accuracy"}[metric])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    loss = figure.axes[0]
    loss.set_yscale("log")
    # The interpolating fits' train loss (~1e-30) would squash the test curve.
    loss.set_ylim(bottom=min(row["test/loss"] for row in rows) / 10)
    return figure
