"""`perceptron` (chapter 10): the perceptron's updates against the convergence theorem's
bound, and the decision boundaries of the perceptron and an MLP on separable and XOR points."""

import lightning as L
import torch
from matplotlib.figure import Figure

from experiments.engine import report
from experiments.engine.plan import Member, Plan
from experiments.engine.study import Study


class PerceptronStudy(Study):
    one_process = ("the perceptron updates after each misclassified point, and each rank "
                   "would update apart from the others")

    def member_metrics(self, model: L.LightningModule, data: L.LightningDataModule) -> dict:
        """The data's (r² + 1) / ρ², where it knows it, as `bound` beside the model's
        `updates` (TensorBoard: perceptron/bound, perceptron/updates): the experiment is
        the one place that sees both the model and the data."""
        bound = getattr(data, "bound", None)
        return {} if bound is None else {"bound": float(bound)}

    def takeaway(self, plan: Plan, results: list[dict]) -> str:
        parts = []
        for r in results:
            m = r["metrics"]
            if "train/acc" in m:
                text = f"{r['member']} reaches train acc {m['train/acc']:.2f}"
                if "updates" in m and "bound" in m:
                    text += f" after {m['updates']:g} updates (bound {m['bound']:.0f})"
                parts.append(text)
        return "; ".join(parts) + "." if parts else ""

    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        trained = [(m, r) for m, r in zip(plan.members, results, strict=True)
                   if m.checkpoint.exists()]
        if not trained:
            return []
        figure = Figure(figsize=(4 * len(trained), 4), layout="constrained")
        for ax, (member, result) in zip(figure.subplots(1, len(trained), squeeze=False)[0],
                                        trained, strict=True):
            draw_boundary(ax, plan, member, result)
        caption = ("Decision boundaries on the training points (colour: predicted class, "
                   "dots: true class) of " + ", ".join(m.name for m, _ in trained))
        return [report.Figure("decision_boundaries", caption, figure)]


def draw_boundary(ax, plan: Plan, member: Member, result: dict) -> None:
    """The member's trained model's class over a grid, under its training points."""
    model, data = plan.trained(member)
    X, y = data.splits["train"].tensors
    low, high = X.min(0).values - 0.3, X.max(0).values + 0.3
    g0, g1 = torch.meshgrid(torch.linspace(low[0], high[0], 300),
                            torch.linspace(low[1], high[1], 300), indexing="xy")
    with torch.no_grad():
        classes = model(torch.stack([g0.flatten(), g1.flatten()], dim=1)).argmax(1)
    ax.contourf(g0, g1, classes.reshape(g0.shape), levels=[-0.5, 0.5, 1.5],
                colors=["#9ecae1", "#fdae6b"], alpha=0.6)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=12, edgecolors="k", linewidths=0.3)
    metrics = result["metrics"]
    title = f"{member.name}: train acc {metrics.get('train/acc', float('nan')):.2f}"
    if "updates" in metrics:
        title += f"\n{metrics['updates']} updates"
        if "bound" in metrics:
            title += f" (bound {metrics['bound']:.0f})"
    ax.set_title(title)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_aspect("equal")
