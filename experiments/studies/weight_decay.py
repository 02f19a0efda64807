"""`weight_decay` (chapter 12, d2l 3.7): weight decay on the book's high-dimensional
regression (the pair wd=0 / wd=3, a sweep over λ, three ways to apply it) and on an MLP."""

from matplotlib.figure import Figure

from experiments.engine import report
from experiments.engine.figures import curves_figure
from experiments.engine.plan import Plan
from experiments.engine.study import sweep
from experiments.studies.regression import RegressionStudy

# Each way of applying λ = 3 -> its member (the book's way, the penalty, is wd=3).
WAYS = {"penalty": "wd=3", "sgd": "sgd", "adamw": "adamw"}


def shown(metrics: dict) -> str:
    """`‖w‖ 0.387, val/loss 0.148`, of the two it has (a run may stop between validations)."""
    return ", ".join(f"{label} {metrics[key]:.3g}" for key, label in
                     (("w_norm", "‖w‖"), ("val/loss", "val/loss")) if key in metrics)


class WeightDecay(RegressionStudy):
    """The λ figure has the members that differ in model.weight_decay alone (the grid's
    and, e.g., wd=0 and wd=3)."""

    def __init__(self, curves: list[str] | None = None, **kwargs):
        """
        Args:
            curves: members whose train and validation curves are drawn side by side.
        """
        super().__init__(**kwargs)
        self.curves_of = curves or []

    def curves(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        drawn = [m for name in self.curves_of for m in plan.members if m.name == name]
        figure = curves_figure([m for m in drawn if m.folder.exists()])
        caption = (f"Train (solid) and validation (dashed) loss by epoch of "
                   f"{', '.join(m.name for m in drawn)}: weight decay narrows the gap")
        return [report.Figure("curves", caption, figure)] if figure else []

    def takeaway(self, plan: Plan, results: list[dict]) -> str:
        done = {r["member"]: r["metrics"] for r in results if "val/loss" in r["metrics"]}
        lambdas = {m.config.model.init_args.weight_decay: m.name
                   for m in sweep(plan, "model.weight_decay") if m.name in done}
        if 0 not in lambdas or len(lambdas) < 2:
            return ""
        best = min(lambdas, key=lambda lam: done[lambdas[lam]]["val/loss"])
        plain, chosen = done[lambdas[0]], done[lambdas[best]]
        return (f"On the 200-input regression, the λ with the lowest validation loss is "
                f"{best:g}: val loss {chosen['val/loss']:.3g} against {plain['val/loss']:.3g} "
                f"without decay, ‖w‖ {chosen['w_norm']:.3g} against {plain['w_norm']:.3g}.")

    def notes(self, plan: Plan, results: list[dict]) -> str:
        done = {r["member"]: r["metrics"] for r in results if r["status"] == "completed"}
        if not all(member in done for member in WAYS.values()):
            return ""
        numbers = "; ".join(f"{way} ({member}): {shown(done[member])}"
                            for way, member in WAYS.items())
        return (
            "**Three ways to apply weight decay** at the same λ. *penalty* adds "
            "λ/2·‖w‖² to the loss SGD minimizes (the book's from-scratch way), so each step "
            "also subtracts lr·λ·w. *sgd* hands λ to torch.optim.SGD as `weight_decay` on "
            "the weight alone, which adds λ·w to the gradient: for plain SGD the very same "
            "update, so the two agree to float precision. *adamw* decouples the decay from "
            "the gradient (Loshchilov & Hutter, 2019): Adam divides each coordinate of the "
            "gradient by its running RMS, which would also shrink an L2 penalty's pull on "
            "weights with large gradients; AdamW instead multiplies w by (1 − lr·λ) at each "
            "step, apart from the Adam update: the same relative shrink for every weight. "
            "Its numbers differ because Adam's steps are about lr per coordinate whatever "
            f"the gradient. ({numbers}.)"
        )

    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        done = {r["member"]: r for r in results if r["status"] == "completed"}
        figures = []
        lambdas = {m.config.model.init_args.weight_decay: done[m.name]["metrics"]
                   for m in sweep(plan, "model.weight_decay")
                   if "val/loss" in done.get(m.name, {}).get("metrics", {})}
        if len(lambdas) >= 2:
            caption = ("Final train and validation loss (left) and ‖w‖ (right) against the "
                       "weight decay λ; λ = 0 dotted")
            figures.append(report.Figure("lambda", caption, lambda_figure(lambdas)))
        return figures


def lambda_figure(sweep: dict[float, dict]) -> Figure:
    lambdas = sorted(lam for lam in sweep if lam > 0)
    figure = Figure(figsize=(10, 3.8), layout="constrained")
    loss_ax, norm_ax = figure.subplots(1, 2)
    for stage, color in (("train", "C0"), ("val", "C1")):
        loss_ax.plot(lambdas, [sweep[lam][f"{stage}/loss"] for lam in lambdas], "o-",
                     color=color, label=stage)
        if 0 in sweep:
            loss_ax.axhline(sweep[0][f"{stage}/loss"], color=color, linestyle=":")
    norm_ax.plot(lambdas, [sweep[lam]["w_norm"] for lam in lambdas], "o-", color="C2")
    if 0 in sweep:
        norm_ax.axhline(sweep[0]["w_norm"], color="C2", linestyle=":")
    for ax, label in ((loss_ax, "final loss"), (norm_ax, "‖w‖")):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("weight decay λ")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    loss_ax.legend(fontsize=8)
    return figure
