"""`perceptron` (chapter 10): the perceptron's updates against the convergence theorem's
bound over a sweep of margins, its generalisation on separable points, and the decision
boundaries of the perceptron and an MLP on separable and XOR points.

Novikoff's theorem: on points with ‖(x, 1)‖ <= R that a unit vector u = (w, b) separates
with margin y·(u·(x, 1)) >= ρ, the perceptron started from zero makes at most R²/ρ²
updates, whatever the order. SeparablePoints draws such points (R² = r² + 1) for each
margin ρ of the grid, a fresh dataset per seed.
"""

import lightning as L
import torch
from matplotlib.collections import PathCollection
from matplotlib.figure import Figure

from experiments.engine import report
from experiments.engine.aggregate import Result, completed
from experiments.engine.figures import curves_figure
from experiments.engine.headline import Headline
from experiments.engine.plan import Member, Plan
from experiments.engine.study import Study, sweep

TRAIN_STYLE = {"marker": "o", "s": 14, "edgecolors": "k", "linewidths": 0.3}
VAL_STYLE = {"marker": "^", "s": 14, "edgecolors": "none", "alpha": 0.6}


def theorem_runs(plan: Plan, results: list[Result]) -> list[dict]:
    """Every seed's own metrics of the margin sweep's completed runs (the perceptron on
    SeparablePoints, differing in the margin alone), each with its member's margin."""
    by_name = {r["member"]: r for r in results}
    runs = []
    for member in sweep(plan, "data.margin"):
        result = by_name.get(member.name)
        if member.config.data.init_args.get("margin") is None or result is None:
            continue
        runs += [{**run["metrics"], "margin": member.config.data.init_args.margin}
                 for run in result.get("runs", [result])
                 if run["status"] == "completed" and "bound" in run["metrics"]]
    return runs


def mean_se(metrics: dict, key: str) -> str:
    """`0.995 ± 0.0039`: a merged metric and its standard error over seeds."""
    return report.shown_value(metrics, key, scientific=False)


def converged(run: dict) -> bool:
    """Whether a perceptron run ended on an epoch without a mistake (train acc 1)."""
    return run.get("train/acc") == 1.0


def count(value: float) -> str:
    """A count (updates) as an integer; a mean over seeds with one decimal."""
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


class PerceptronStudy(Study):
    one_process = ("the perceptron updates after each misclassified point, and each rank "
                   "would update apart from the others")
    # The members the prose speaks of (the YAML's study.roles): the perceptron on separable
    # points; the perceptron and an MLP on XOR.
    needed_roles = {"separable": 1, "xor": 2}

    def member_metrics(self, model: L.LightningModule, data: L.LightningDataModule) -> dict:
        """The data's (r² + 1) / ρ², where it knows it, as `bound` beside the model's
        `updates` (TensorBoard: perceptron/bound, perceptron/updates): the experiment is
        the one place that sees both the model and the data."""
        bound = getattr(data, "bound", None)
        return {} if bound is None else {"bound": float(bound)}

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        by_name = {r["member"]: r["metrics"] for r in results if completed(r)}
        parts = []
        if (m := by_name.get(self.role("separable")[0])) and "updates" in m:
            parts.append(
                f"On separable points (margin {margin(plan, self.role('separable')[0]):g}) "
                "the perceptron "
                f"separates the training points (train acc {mean_se(m, 'train/acc')}) "
                f"after {mean_se(m, 'updates')} updates, within the "
                f"theorem's bound of {m['bound']:.0f}, and generalises: val acc "
                f"{mean_se(m, 'val/acc')} on points of the same line.")
        if runs := theorem_runs(plan, results):
            ratios = [r["updates"] / r["bound"] for r in runs]
            below = sum(r["updates"] <= r["bound"] for r in runs)
            margins = sorted({r["margin"] for r in runs})
            parts.append(
                f"Over margins {margins[0]:g}–{margins[-1]:g} × {len(runs) // len(margins)} "
                f"datasets, {below} of {len(runs)} runs stay within the bound, at "
                f"updates/bound {min(ratios):.2g} to {max(ratios):.2g}: the bound is "
                f"{1 / max(ratios):.0f}× to {1 / min(ratios):.0f}× the updates made: a worst "
                "case (it holds for any order of any points of that radius and margin), not "
                "a forecast.")
            if capped := sum(not converged(r) for r in runs):
                parts.append(f"{capped} of these runs stopped at the epoch cap (trainer."
                             "max_epochs, --fast) before an epoch without a mistake: their "
                             "updates are a count so far.")
        xor, mlp = (by_name.get(name) for name in self.role("xor"))
        if xor and mlp:
            parts.append(
                f"No line separates XOR: the perceptron stops at its epoch cap with train acc "
                f"{mean_se(xor, 'train/acc')}, while a one-hidden-layer MLP "
                f"reaches {mean_se(mlp, 'train/acc')} (val acc "
                f"{mean_se(mlp, 'val/acc')}).")
        return " ".join(parts)

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        by_name = {r["member"]: r["metrics"] for r in results if completed(r)}
        ours = []
        if (m := by_name.get(self.role("separable")[0])) and "updates" in m:
            ours.append(f"separable val/acc {mean_se(m, 'val/acc')} after "
                        f"{mean_se(m, 'updates')} updates (bound {m['bound']:.0f})")
        if runs := theorem_runs(plan, results):
            ratios = [r["updates"] / r["bound"] for r in runs]
            below = sum(r["updates"] <= r["bound"] for r in runs)
            ours.append(f"{below} of {len(runs)} runs over the margins within the bound, "
                        f"updates/bound {min(ratios):.2g}–{max(ratios):.2g}")
        xor, mlp = (by_name.get(name) for name in self.role("xor"))
        if xor and mlp:
            ours.append(f"XOR train/acc {mean_se(xor, 'train/acc')} (an MLP: "
                        f"{mean_se(mlp, 'train/acc')})")
        return Headline("; ".join(ours) or "–", takeaway=(
            "the perceptron converges within its bound, far inside it, and generalises on "
            "separable points; no line learns XOR"))

    def notes(self, plan: Plan, results: list[Result]) -> str:
        if not results:
            return ""
        return ("Every seed draws its own dataset (a new line and new points; train and val "
                "share the line). Metrics are mean ± standard error over the seeds. `bound` "
                "is (r² + 1)/ρ² for the disk's radius r and the margin ρ; `updates` counts the "
                "perceptron's mistakes until its first epoch without one. The loss is the "
                "perceptron criterion max(0, −y(w·x + b)) (zero once every point is on its "
                "side; the MLP's is cross-entropy). The trainer's cap of epochs is past the "
                "largest bound, so the theorem says no separable run reaches it.")

    def curves(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        """The declared members' curves (the margin sweep is told by `theorem`)."""
        declared = [m for m in plan.members if m.name in self.members and m.folder.exists()]
        figure = curves_figure(declared)
        caption = ("Train (solid) and validation (dashed) curves by epoch of "
                   + ", ".join(m.name for m in declared) + " (seed 0), as d2l's `plot` draws them")
        return [report.Figure("curves", caption, figure)] if figure else []

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        figures = []
        if runs := theorem_runs(plan, results):
            caption = ("The convergence theorem: each run's perceptron updates against its "
                       "bound (r² + 1)/ρ², one colour per margin ρ, one dot per dataset; no "
                       "dot may lie above the diagonal")
            figures.append(report.Figure("theorem", caption, theorem_figure(runs)))
        by_name = {r["member"]: r for r in results}
        shown = [m for m in plan.members if m.name in self.members and m.checkpoint.exists()]
        if not shown:
            return figures
        datasets: dict[str, Member] = {}  # the first member of each kind of data
        for member in shown:
            datasets.setdefault(member.config.data.class_path, member)
        classes = "coloured by true class (blue 0, red 1)"
        figures.append(report.Figure(
            "points", "The data, as d2l draws its synthetic data: the points of "
            + ", ".join(m.name for m in datasets.values())
            + f" (seed 0), training (dots) and validation (triangles), {classes}",
            points_figure(plan, list(datasets.values()))))
        figure = Figure(figsize=(4.2 * len(shown), 4.4), layout="constrained")
        for ax, member in zip(figure.subplots(1, len(shown), squeeze=False)[0], shown,
                              strict=True):
            draw_boundary(ax, plan, member, by_name[member.name])
        caption = ("Decision boundaries (background: predicted class) of "
                   + ", ".join(m.name for m in shown) + " (seed 0) under their training "
                   f"(dots) and validation (triangles) points, {classes}")
        figures.append(report.Figure("decision_boundaries", caption, figure))
        return figures


def margin(plan: Plan, name: str) -> float:
    """The margin of member `name`'s points (its data.margin)."""
    member = next(m for m in plan.members if m.name == name)
    return member.config.data.init_args.margin


def theorem_figure(runs: list[dict]) -> Figure:
    figure = Figure(figsize=(5.5, 4.5), layout="constrained")
    ax = figure.subplots()
    margins = sorted({r["margin"] for r in runs})
    for i, margin in enumerate(margins):
        mine = [r for r in runs if r["margin"] == margin]
        # A run stopped by the epoch cap (hollow) has not converged: its count is so far.
        ax.scatter([r["bound"] for r in mine], [r["updates"] for r in mine], s=22,
                   edgecolors=f"C{i}", alpha=0.8, label=f"ρ = {margin:g}",
                   facecolors=[f"C{i}" if converged(r) else "none" for r in mine])
    low = min(min(r["updates"] for r in runs), min(r["bound"] for r in runs)) / 2
    high = max(r["bound"] for r in runs) * 2
    ax.plot([low, high], [low, high], "k-", lw=1, label="updates = bound")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(low, high)
    ax.set_ylim(low, high)
    ax.set_xlabel("theorem's bound (r² + 1)/ρ², in updates")
    ax.set_ylabel("perceptron's updates until convergence")
    capped = sum(not converged(r) for r in runs)
    ax.set_title((f"{len(runs)} runs, every one below the diagonal"
                 if all(r["updates"] <= r["bound"] for r in runs) else
                 f"{len(runs)} runs (some above the bound!)")
                 + (f"\n{capped} hollow: stopped at the epoch cap, not converged" if capped
                    else ""), fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, title="margin")
    return figure


def scatter_splits(ax, data) -> None:
    """A datamodule's training and validation points, coloured by true class."""
    for split, style in (("train", TRAIN_STYLE), ("val", VAL_STYLE)):
        X, y = data.splits[split].tensors
        ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", vmin=0, vmax=1,
                   label=f"{split} ({len(y)})", **style)
    ax.set_xlabel("input $x_1$")
    ax.set_ylabel("input $x_2$")
    ax.set_aspect("equal")


def legend(ax) -> None:
    """The legend, its point markers grey: the colour of a point is its class."""
    for handle in ax.legend(fontsize=7, loc="upper right").legend_handles:
        if isinstance(handle, PathCollection):  # a scatter's marker, coloured by its classes
            handle.set_array(None)
            handle.set_facecolor("grey")


def points_figure(plan: Plan, members: list[Member]) -> Figure:
    """Each member's data; a separating line with its margin band where the data has one."""
    figure = Figure(figsize=(4.4 * len(members), 4.4), layout="constrained")
    for ax, member in zip(figure.subplots(1, len(members), squeeze=False)[0], members,
                          strict=True):
        _, data = plan.trained(member)
        scatter_splits(ax, data)
        line = getattr(data, "line", None)
        if line is not None:  # u·(x, 1) = 0, and u·(x, 1) = ±margin beside it
            w, b = line[:2], line[2]
            along = torch.stack([-w[1], w[0]]) / w.norm()  # the lines' direction
            s = torch.linspace(-2 * data.radius, 2 * data.radius, 2).unsqueeze(1)
            for level, style, label in ((0, "-", "true line"), (data.margin, ":", "margin"),
                                        (-data.margin, ":", None)):
                xs = (level - b) * w / w.norm() ** 2 + s * along  # (2, 2): the ends
                ax.plot(xs[:, 0], xs[:, 1], "k" + style, lw=1, label=label)
            ax.set_xlim(-data.radius * 1.1, data.radius * 1.1)
            ax.set_ylim(-data.radius * 1.1, data.radius * 1.1)
        ax.set_title(f"{member.name} (seed 0): {type(data).__name__}", fontsize=10)
        legend(ax)
    return figure


def draw_boundary(ax, plan: Plan, member: Member, result: Result) -> None:
    """The member's trained model's class over a grid, under its training and validation
    points; the title its seed-0 run's own numbers (counts as integers)."""
    model, data = plan.trained(member)
    points = torch.cat([data.splits[s].tensors[0] for s in ("train", "val")])
    low, high = points.min(0).values - 0.3, points.max(0).values + 0.3
    g0, g1 = torch.meshgrid(torch.linspace(low[0], high[0], 300),
                            torch.linspace(low[1], high[1], 300), indexing="xy")
    with torch.no_grad():
        classes = model(torch.stack([g0.flatten(), g1.flatten()], dim=1)).argmax(1)
    ax.contourf(g0, g1, classes.reshape(g0.shape), levels=[-0.5, 0.5, 1.5],
                colors=["#9ecae1", "#fdae6b"], alpha=0.6)
    scatter_splits(ax, data)
    metrics = result.get("runs", [result])[0]["metrics"]  # seed 0's, whose model is drawn
    title = (f"{member.name}: train acc {metrics.get('train/acc', float('nan')):.2f}, "
             f"val acc {metrics.get('val/acc', float('nan')):.2f}")
    if "updates" in metrics:
        title += f"\n{count(metrics['updates'])} updates"
        if "bound" in metrics:
            title += f" (bound {metrics['bound']:.0f})"
    ax.set_title(title, fontsize=10)
    legend(ax)
