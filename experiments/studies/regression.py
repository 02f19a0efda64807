"""Regressions whose data knows the truth: each member also reports how far its learned
w and b are from it (`w_err`, `b_err` in metrics.json)."""

import lightning as L

from experiments.engine.plan import Plan
from experiments.engine.study import Study


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

    def takeaway(self, plan: Plan, results: list[dict]) -> str:
        """How close each member came to the true w and b, where the data knows them."""
        known = [r for r in results if "w_err" in r["metrics"]]
        if not known:
            return ""
        errors = "; ".join(
            f"{r['member']} w_err {r['metrics']['w_err']:.2g}"
            + (f", b_err {r['metrics']['b_err']:.2g}" if "b_err" in r["metrics"] else "")
            for r in known)
        return f"Largest error of the learned w and b against the truth: {errors}."
