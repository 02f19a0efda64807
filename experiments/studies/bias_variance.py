"""`bias_variance` (chapter 11, d2l 3.6): the expected test error of the polynomial fits,
split into bias², variance and noise.

Each member fits one degree to R fresh training sets at once (modules.LeastSquares with
`redraws`), so for every test input x the R predictions ŷᵣ(x) estimate the distribution
of the fit over training sets. With f the noise-free cubic, ȳ(x) = meanᵣ ŷᵣ(x) and y the
noisy test target, all in ½·MSE (the book's squared loss, fitlab's l2):

    test/loss = ½·mean (ŷᵣ − y)²  ≈  ½·mean (ȳ − f)²  +  ½·mean (ŷᵣ − ȳ)²  +  ½·mean (y − f)²
                                       bias2              variance             noise

The cross terms vanish: (ŷᵣ − ȳ) sums to zero over r exactly, and the test noise is
independent of the fits, so theirs is zero up to sampling (of 10000 test inputs).
"""

import lightning as L
import torch
from matplotlib.figure import Figure

from datamodules import PolynomialRedraws
from experiments.engine import report
from experiments.engine.plan import Plan
from experiments.engine.study import Study, sweep
from experiments.studies import fitting

TERMS = ("bias2", "variance", "noise")


def decomposition(model: L.LightningModule, data: PolynomialRedraws) -> dict:
    """bias², variance and noise of the member's R fits on the test split (½·MSE); how the
    test loss spreads over the R fits (median, worst, standard error of the mean); and
    the largest condition number of the R training design matrices."""
    X, y = data.splits["test"].tensors
    f = data.truth["test"]  # (m, 1)
    with torch.no_grad():
        y_hat = model(X.to(model.device)).cpu()  # (m, R, 1): every fit at every test input
    y, mean = y.cpu(), y_hat.mean(1)  # (m, 1): the average fit ȳ
    per_redraw = ((y_hat - y.unsqueeze(1)) ** 2 / 2).mean((0, 2))  # (R,): each fit's loss
    X_train = data.splits["train"].tensors[0].cpu().transpose(0, 1)  # (R, n, d)
    return {
        "bias2": ((mean - f) ** 2 / 2).mean().item(),
        "variance": ((y_hat - mean.unsqueeze(1)) ** 2 / 2).mean().item(),
        "noise": ((y - f) ** 2 / 2).mean().item(),
        "redraw_median": per_redraw.median().item(),
        "redraw_worst": per_redraw.max().item(),
        "redraw_se": (per_redraw.std() / len(per_redraw) ** 0.5).item(),
        "cond": torch.linalg.cond(X_train).max().item(),
    }


def degree(row: dict) -> int:
    return row["data.degree"]


class BiasVariance(Study):
    """One member per degree (the grid over data.degree); model.num_inputs follows it."""

    def is_final(self, name: str) -> bool:
        return True  # every member is a point on the curve; none is chosen by another

    def all_members(self) -> dict[str, dict]:
        return {name: fitting.with_num_inputs(o) for name, o in super().all_members().items()}

    def member_metrics(self, model: L.LightningModule, data: L.LightningDataModule) -> dict:
        return decomposition(model, data)

    def curve(self, plan: Plan, results: list[dict]) -> list[dict]:
        """The completed degrees' rows, by degree: degree, test/loss and the three terms."""
        done = {r["member"]: r["metrics"] for r in results if r["status"] == "completed"}
        rows = [{"data.degree": m.config.data.init_args.degree, **done[m.name]}
                for m in sweep(plan, "data.degree", "model.num_inputs") if m.name in done]
        return sorted(rows, key=degree)

    def takeaway(self, plan: Plan, results: list[dict]) -> str:
        rows = {degree(r): r for r in self.curve(plan, results)}
        top = max(rows, default=0)
        if not {1, 3} <= rows.keys() or top <= 3:
            return ""
        best = min(rows.values(), key=lambda r: r["test/loss"])
        gap = max(abs(sum(r[t] for t in TERMS) / r["test/loss"] - 1) for r in rows.values())
        data = plan.members[0].config.data.init_args
        return (
            f"Over {data.redraws} training sets of {data.num_train} examples, bias² falls "
            f"from {rows[1]['bias2']:.3g} at degree 1 to {rows[3]['bias2']:.2g} at degree 3 "
            f"while the variance rises from {rows[3]['variance']:.2g} at degree 3 to "
            f"{rows[top]['variance']:.3g} at degree {top}; the expected test error is "
            f"lowest at degree {degree(best)} ({best['test/loss']:.4g}, the noise floor "
            f"½σ² = {data.noise ** 2 / 2:.3g}). bias² + variance + noise matches the measured "
            f"test/loss within {100 * gap:.2g} % at every degree. The high degrees' variance "
            f"is carried by a few unlucky training sets: at degree {top} the worst of "
            f"{data.redraws} fits has test loss {rows[top]['redraw_worst']:.3g}, the median "
            f"one {rows[top]['redraw_median']:.3g} (degree 3: "
            f"{rows[3]['redraw_median']:.3g}), and the mean's standard error over the "
            f"training sets is {rows[top]['redraw_se']:.3g}."
        )

    def notes(self, plan: Plan, results: list[dict]) -> str:
        rows = self.curve(plan, results)
        if not rows:
            return ""
        data = plan.members[0].config.data.init_args
        limit = [degree(r) for r in rows if r["cond"] > 1e15]
        numerics = (f" Degrees {limit[0]}–{limit[-1]} reach float64's limit (the training "
                    "design matrix's condition number exceeds 10¹⁵): least squares drops the "
                    "directions below float precision (the minimum-norm solution), so they "
                    "fit like a slightly lower degree." if limit else "")
        where = ("all of N(0, 1)" if data.test_range is None else
                 f"N(0, 1) restricted to |x| ≤ {data.test_range:g}, the range the training "
                 "sets cover: beyond a training set's largest |x| a high-degree polynomial "
                 "extrapolates wildly, and a few such test inputs would make the variance "
                 "theirs (try --data.test_range null)")
        return "\n\n".join(text for text in (self.takeaway(plan, results), (
            f"Units: ½·MSE, as test/loss. Each member fits its degree by closed-form least "
            f"squares (float64) to {data.redraws} fresh training sets of {data.num_train} "
            f"examples and is scored on one test set of {data.num_test} inputs from {where}. "
            "bias2 = ½·mean (ȳ − f)², variance = ½·mean (ŷ − ȳ)², noise = ½·mean (y − f)² "
            "over the test inputs (and fits), with f the true cubic and ȳ the average fit; "
            "redraw_median, redraw_worst: the test loss of the median and the worst of the "
            "fits; redraw_se: the standard error of test/loss over the training sets (a "
            "heavy tail makes it large). cond is the largest condition number of the "
            "training design matrices. "
            "train/loss is over the training sets' own inputs, all of N(0, 1), so for the "
            "low degrees it exceeds the test loss. Every member is a point on the curve, so "
            "every one is scored on the test split."
            + numerics)) if text)

    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        rows = self.curve(plan, results)
        if len(rows) < 2:
            return []
        caption = ("The expected test error (½·MSE) of least-squares polynomial fits against "
                   "the degree, split into bias², variance and noise; the measured test "
                   "loss is drawn over their sum, the median training set's test loss "
                   "dashed")
        return [report.Figure("decomposition", caption, decomposition_figure(rows))]


def decomposition_figure(rows: list[dict]) -> Figure:
    degrees = [degree(r) for r in rows]
    figure = Figure(figsize=(6.5, 4), layout="constrained")
    ax = figure.subplots()
    for term, color in zip(TERMS, ("C0", "C1", "C2"), strict=True):
        ax.plot(degrees, [r[term] for r in rows], "o-", color=color, ms=4, label=term)
    ax.plot(degrees, [sum(r[t] for t in TERMS) for r in rows], "k-", lw=1,
            label="bias² + variance + noise")
    ax.plot(degrees, [r["test/loss"] for r in rows], "kx", ms=7, label="test/loss (measured)")
    ax.plot(degrees, [r["redraw_median"] for r in rows], "--", color="grey",
            label="test loss of the median fit")
    ax.set_yscale("log")
    ax.set_xticks(degrees)
    ax.set_xlabel("degree of the polynomial (features x⁰ … xᵈ)")
    ax.set_ylabel("expected test error (½·MSE)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure
