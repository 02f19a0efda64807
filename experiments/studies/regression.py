"""Regressions whose data knows the truth: each member also reports how far its learned
w and b are from it (`w_err`, `b_err` in metrics.json)."""

import lightning as L
from matplotlib.figure import Figure

from experiments.engine import report
from experiments.engine.aggregate import Result
from experiments.engine.headline import Headline, metric
from experiments.engine.plan import Plan
from experiments.engine.study import Study

MAX_DRAWN_INPUTS = 4  # a scatter per input reads for a few inputs, not for 200


def truth_errors(model: L.LightningModule, data: L.LightningDataModule) -> dict:
    """Largest absolute error of the learned w and b, where the data knows the truth."""
    if not (hasattr(data, "true_w") and hasattr(model, "weights")):
        return {}
    w, b = model.weights()
    errors = {"w_err": (w.cpu() - data.true_w).abs().max().item()}
    if b is not None:
        errors["b_err"] = abs(b.item() - data.true_b)
    return errors


class RegressionStudy(Study):
    """A study of regressions on synthetic data: w_err and b_err join each member's metrics."""

    def member_metrics(self, model: L.LightningModule, data: L.LightningDataModule) -> dict:
        return truth_errors(model, data)

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        """How close each member came to the true w and b, where the data knows them."""
        known = [r for r in results if "w_err" in r["metrics"]]
        if not known:
            return ""
        errors = "; ".join(
            f"{r['member']} w_err {r['metrics']['w_err']:.2g}"
            + (f", b_err {r['metrics']['b_err']:.2g}" if "b_err" in r["metrics"] else "")
            for r in known)
        return f"Largest error of the learned w and b against the truth: {errors}."

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        """Each member's val/loss beside the noise floor ½σ² (the loss of the truth itself,
        which no fit beats on average) and its errors in w and b."""
        noise = plan.members[0].config.data.init_args.get("noise")
        known = [r for r in results if "w_err" in r["metrics"]
                 and isinstance(r["metrics"].get("val/loss"), float)]  # not a diverged run
        if noise is None or not known:
            return super().headline(plan, results)
        floor = noise**2 / 2
        ours = "; ".join(
            f"{r['member']} val/loss {metric(r, 'val/loss')}, w_err {r['metrics']['w_err']:.2g}"
            + (f", b_err {r['metrics']['b_err']:.2g}" if "b_err" in r["metrics"] else "")
            for r in known)
        ratios = [r["metrics"]["val/loss"] / floor for r in known]
        span = f"{min(ratios):.3g}" + (f"–{max(ratios):.3g}" if f"{min(ratios):.3g}" !=
                                        f"{max(ratios):.3g}" else "")
        reached = f"the fits' val/loss is {span}× the noise floor: "
        return Headline(f"{ours}; noise floor ½σ² = {floor:.3g}", takeaway=reached + (
            "they recover w and b, and what is left is the noise" if max(ratios) < 2 else
            "they have not converged to the truth"))

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        """The synthetic data as d2l 3.3 shows it: the labels against each input."""
        _, data, _ = plan.instantiate(plan.members[0])
        if not hasattr(data, "true_w") or len(data.true_w) > MAX_DRAWN_INPUTS:
            return []
        data.setup()
        X, y = data.splits["train"].tensors
        caption = (f"The synthetic training data as d2l 3.3 draws it: the label y against "
                   f"each input, {len(X)} examples of y = Xw + b + noise (σ = {data.noise:g}), "
                   "seed 0")
        return [report.Figure("data", caption, data_figure(X, y[:, 0], data))]


def data_figure(X, y, data) -> Figure:
    """One scatter per input xⱼ: y against xⱼ, the other inputs' part left in (the
    spread around the slope wⱼ)."""
    inputs = X.shape[1]
    figure = Figure(figsize=(4.8 * inputs, 3.8), layout="constrained")
    for j, ax in enumerate(figure.subplots(1, inputs, squeeze=False)[0]):
        ax.scatter(X[:, j], y, s=3, alpha=0.6)
        ax.set_xlabel(f"input x{'₁₂₃₄'[j]}")
        ax.set_ylabel("label y")
        ax.set_title(f"true w{'₁₂₃₄'[j]} = {data.true_w[j].item():g}, b = {data.true_b:g}",
                     fontsize=10)
        ax.grid(alpha=0.3)
    return figure
