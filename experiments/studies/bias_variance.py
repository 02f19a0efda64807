"""`bias_variance` (chapter 11, d2l 3.6): the expected test error of the polynomial fits,
split into bias², variance and noise.

Each member fits one degree to R fresh training sets at once (modules.LeastSquares with
`redraws`), so for every test input x the R predictions ŷᵣ(x) estimate the distribution
of the fit over training sets. With f the noise-free cubic, ȳ(x) = meanᵣ ŷᵣ(x) and y the
noisy test target, all in ½·MSE (the book's squared loss, fitlab's l2):

    test/loss = ½·mean (ŷᵣ − y)²  ≈  bias2  +  variance  +  noise

    variance = ½·mean s²(x),  s²(x) = Σᵣ (ŷᵣ − ȳ)² / (R − 1)   (unbiased for Var ŷ(x))
    bias2    = ½·mean [(ȳ − f)² − s²(x)/R]                    (unbiased for (E ŷ − f)²)
    noise    = ½·mean (y − f)²

The plug-in ½·mean (ȳ − f)² is inflated: E(ȳ − f)² = (E ŷ − f)² + Var ŷ / R, so a model
that contains the cubic would show a bias² of variance/R that grows with the degree. The
two corrections cancel in the sum, which is the plug-in one: bias2 + variance =
½·mean (ȳ − f)² + ½·mean (ŷᵣ − ȳ)². The cross terms vanish: (ŷᵣ − ȳ) sums to zero over
r exactly, and the test noise is independent of the fits, so theirs is zero up to
sampling (of 10000 test inputs).

Standard errors: bias2's and variance's by the jackknife over the R training sets (each
left out in turn), test/loss's over the R fits' own test losses; the noise does not depend
on the training sets, so its standard error is over the test inputs.
"""

import lightning as L
import torch
from matplotlib.figure import Figure

from datamodules import PolynomialRedraws
from experiments.engine import report
from experiments.engine.aggregate import Result, completed
from experiments.engine.headline import Headline
from experiments.engine.plan import Plan
from experiments.engine.report import shown
from experiments.engine.study import Study, sweep
from experiments.studies import fitting

TERMS = ("bias2", "variance", "noise")


def jackknife_se(left_out: torch.Tensor) -> float:
    """The jackknife standard error of a statistic from its R leave-one-out values (R,)."""
    R = len(left_out)
    return ((R - 1) / R * ((left_out - left_out.mean()) ** 2).sum()).sqrt().item()


def bias_variance(y_hat: torch.Tensor, f: torch.Tensor) -> dict[str, float]:
    """Unbiased bias² and variance (½·MSE, averaged over the m test inputs) of R fits
    y_hat (m, R) of the truth f (m,), each with its jackknife standard error over the fits."""
    R = y_hat.shape[1]  # at least 3 (PolynomialRedraws): one left out of two or more
    mean = y_hat.mean(1)  # (m,): ȳ
    d = y_hat - mean.unsqueeze(1)  # (m, R): each fit from the mean fit
    D = (d**2).sum(1)  # (m,)
    s2 = D / (R - 1)  # (m,): unbiased variance of the fit at each test input
    error = mean - f  # (m,): ȳ − f
    # Without fit r: ȳ moves by −dᵣ/(R−1) and Σ (ŷ − ȳ)² loses dᵣ²·R/(R−1), all (m, R).
    s2_out = (D.unsqueeze(1) - d**2 * R / (R - 1)) / (R - 2)
    bias2_out = (error.unsqueeze(1) - d / (R - 1)) ** 2 - s2_out / (R - 1)
    return {
        "bias2": ((error**2 - s2 / R) / 2).mean().item(),
        "bias2_se": jackknife_se((bias2_out / 2).mean(0)),
        "variance": (s2 / 2).mean().item(),
        "variance_se": jackknife_se((s2_out / 2).mean(0)),
    }


def decomposition(model: L.LightningModule, data: PolynomialRedraws) -> dict:
    """bias², variance and noise of the member's R fits on the test split (½·MSE), each
    with its standard error, and their sum; how the test loss spreads over the R fits
    (median, worst, standard error of the mean); and the largest condition number of the
    R training design matrices."""
    X, y = data.splits["test"].tensors
    f = data.truth["test"].cpu()  # (m, 1)
    with torch.no_grad():
        y_hat = model(X.to(model.device)).cpu()  # (m, R, 1): every fit at every test input
    y = y.cpu()
    per_redraw = ((y_hat - y.unsqueeze(1)) ** 2 / 2).mean((0, 2))  # (R,): each fit's loss
    noise = (y - f) ** 2 / 2  # (m, 1)
    terms = {**bias_variance(y_hat[..., 0], f[:, 0]), "noise": noise.mean().item(),
             "noise_se": (noise.std() / len(noise) ** 0.5).item()}
    # bias2 + variance is the plug-in sum, the mean over the fits of ½·mean (ŷᵣ − f)²: its
    # standard error is that of a mean over the R fits (the noise is the same for all).
    per_redraw_error = ((y_hat - f.unsqueeze(1)) ** 2 / 2).mean((0, 2))  # (R,)
    X_train = data.splits["train"].tensors[0].cpu().transpose(0, 1)  # (R, n, d)
    return {
        **terms,
        "terms_sum": sum(terms[t] for t in TERMS),
        "terms_sum_se": (per_redraw_error.std() / len(per_redraw) ** 0.5).item(),
        "test/loss_se": (per_redraw.std() / len(per_redraw) ** 0.5).item(),
        "redraw_median": per_redraw.median().item(),
        "redraw_worst": per_redraw.max().item(),
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

    def curve(self, plan: Plan, results: list[Result]) -> list[dict]:
        """The completed degrees' rows, by degree: degree, test/loss and the three terms."""
        done = {r["member"]: r["metrics"] for r in results if completed(r)}
        rows = [{"data.degree": m.config.data.init_args.degree, **done[m.name]}
                for m in sweep(plan, "data.degree", "model.num_inputs") if m.name in done]
        return sorted(rows, key=degree)

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        rows = {degree(r): r for r in self.curve(plan, results)}
        top = max(rows, default=0)
        if not {1, 3} <= rows.keys() or top <= 3:
            return ""
        best = min(rows.values(), key=lambda r: r["test/loss"])
        gap = max(abs(r["terms_sum"] / r["test/loss"] - 1) for r in rows.values())
        specified = [d for d in rows if d >= 3]
        zero = [d for d in specified if abs(rows[d]["bias2"]) <= 2 * rows[d]["bias2_se"]]
        low = max(d for d in rows if d < 3)  # the closest misspecified degree
        shape = {0: "constant", 1: "line", 2: "parabola"}[low]
        data = plan.members[0].config.data.init_args
        return (
            f"Over {data.redraws} training sets of {data.num_train} examples, bias² falls "
            f"from {shown(rows[1], 'bias2')} at degree 1 to {shown(rows[3], 'bias2')} at "
            f"degree 3; it is zero within two standard errors at {len(zero)} of the "
            f"{len(specified)} degrees ≥ 3, which contain the cubic. The variance rises from "
            f"{shown(rows[3], 'variance')} at degree 3 to {shown(rows[top], 'variance')} "
            f"at degree {top}; the expected test error is lowest at degree {degree(best)} "
            f"({shown(best, 'test/loss')}, the noise floor ½σ² = {data.noise ** 2 / 2:.3g}). "
            f"bias² + variance + noise matches the measured test/loss within {100 * gap:.2g} % "
            f"at every degree. The too-simple fits vary too: at degree {low} the variance is "
            f"{shown(rows[low], 'variance')}, "
            f"{rows[low]['variance'] / rows[3]['variance']:.0f}× degree 3's, though the noise "
            f"is the same: the part of the cubic that a {shape} cannot follow looks different "
            f"through each training set's x, so each set's best {shape} tilts its own way, and "
            "the misfit varies like noise far larger than σ. The high degrees' variance is "
            f"carried by a few unlucky training sets: at degree {top} the worst of "
            f"{data.redraws} fits has test loss {rows[top]['redraw_worst']:.3g}, the median "
            f"one {rows[top]['redraw_median']:.3g} (degree 3: {rows[3]['redraw_median']:.3g})."
        )

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        rows = {degree(r): r for r in self.curve(plan, results)}
        if not {2, 3} <= rows.keys():
            return Headline("–")
        specified = [d for d in rows if d >= 3]
        zero = [d for d in specified if abs(rows[d]["bias2"]) <= 2 * rows[d]["bias2_se"]]
        gap = max(abs(r["terms_sum"] / r["test/loss"] - 1) for r in rows.values())
        top = max(rows)
        return Headline(
            f"bias² {shown(rows[2], 'bias2')} at degree 2, zero within 2 se at {len(zero)} "
            f"of {len(specified)} degrees ≥ 3; variance {shown(rows[3], 'variance')} at "
            f"degree 3, {shown(rows[top], 'variance')} at {top}; bias² + variance + noise "
            f"= test/loss within {100 * gap:.2g} %",
            takeaway="too simple a degree is biased, too high a one varies: the expected "
                     "test error is their sum plus the noise")

    def table(self, plan: Plan, results: list[Result]) -> list[dict] | None:
        """One row per degree: the decomposition with its standard errors, beside the
        measured test loss, and how that spreads over the fits."""
        keys = [*TERMS, "terms_sum", "test/loss", "redraw_median", "redraw_worst", "cond"]
        return [{"member": f"degree={degree(row)}", "status": "completed",
                 "data.degree": degree(row),
                 **{k: row[k] for k in keys},
                 **{f"{k}_se": row[f"{k}_se"] for k in keys if f"{k}_se" in row}}
                for row in self.curve(plan, results)] or None

    def notes(self, plan: Plan, results: list[Result]) -> str:
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
            f"squares (float64) to R = {data.redraws} fresh training sets of {data.num_train} "
            f"examples and is scored on one test set of {data.num_test} inputs from {where}. "
            "With f the true cubic, ŷ a fit and ȳ the average of the R fits, over the test "
            "inputs: variance = ½·mean s², s² the unbiased variance of the R fits (divisor "
            "R − 1); bias2 = ½·mean (ȳ − f)² − variance/R, the plug-in minus its "
            "inflation: the average of R fits is itself noisy, E(ȳ − f)² = (E ŷ − f)² + "
            "Var ŷ/R, so the plug-in would show a bias² of variance/R at every degree ≥ 3 and "
            "make the bias seem to grow with the degree. The corrected estimate is unbiased, "
            "and where the true bias² is zero it comes out slightly negative about half the "
            "time. noise = ½·mean (y − f)²; terms_sum = bias2 + variance + noise (the two "
            "corrections cancel in it). ± is a standard error over the training sets: the "
            "jackknife (each set left out in turn) for bias2 and variance, the spread of the "
            "R fits' own test losses for test/loss and terms_sum; the noise does not depend "
            "on the training sets, and its ± is over the test inputs. redraw_median, "
            "redraw_worst: the test loss of the median and the worst of the fits (a heavy "
            "tail makes the standard errors of the high degrees large). cond is the largest "
            "condition number of the training design matrices. train/loss (summary.json) is "
            "over the training sets' own inputs, all of N(0, 1), so for the low degrees it "
            "exceeds the test loss. Every member is a point on the curve, so every one is "
            "scored on the test split."
            + numerics)) if text)

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        rows = self.curve(plan, results)
        if len(rows) < 2:
            return []
        caption = ("The expected test error (½·MSE) of least-squares polynomial fits against "
                   "the degree, split into bias², variance and noise, each ± one standard "
                   "error over the training sets; a bias² within two standard errors of zero "
                   "is drawn as its upper bound (▽); the measured test loss (×) over their "
                   "sum, the median training set's test loss dashed")
        return [report.Figure("decomposition", caption, decomposition_figure(rows))]


def error_bars(values: list[float], errors: list[float]) -> list[list[float]]:
    """± errors as matplotlib's (lower, upper), the lower end kept above zero on a log axis
    (at 1 % of the value where the error would cross zero)."""
    return [[min(e, 0.99 * v) for v, e in zip(values, errors, strict=True)], errors]


def decomposition_figure(rows: list[dict]) -> Figure:
    degrees = [degree(r) for r in rows]
    figure = Figure(figsize=(9.5, 4.5), layout="constrained")
    ax = figure.subplots()
    bias = [r for r in rows if r["bias2"] > 2 * r["bias2_se"]]
    zero = [r for r in rows if r["bias2"] <= 2 * r["bias2_se"]]
    ax.errorbar([degree(r) for r in bias], [r["bias2"] for r in bias],
                yerr=error_bars([r["bias2"] for r in bias], [r["bias2_se"] for r in bias]),
                fmt="o-", color="C0", ms=4, capsize=2, label="bias² ± se")
    ax.plot([degree(r) for r in zero], [r["bias2"] + 2 * r["bias2_se"] for r in zero], "v",
            color="C0", mfc="none", ms=6, label="bias² ≈ 0 (within 2 se):\nbelow estimate + 2 se")
    for term, color in (("variance", "C1"), ("noise", "C2")):
        values = [r[term] for r in rows]
        ax.errorbar(degrees, values, yerr=error_bars(values, [r[f"{term}_se"] for r in rows]),
                    fmt="o-", color=color, ms=4, capsize=2, label=f"{term} ± se")
    total = [r["terms_sum"] for r in rows]
    ax.errorbar(degrees, total, yerr=error_bars(total, [r["terms_sum_se"] for r in rows]),
                fmt="k-", lw=1, capsize=2, label="bias² + variance + noise ± se")
    ax.plot(degrees, [r["test/loss"] for r in rows], "kx", ms=7, label="test/loss (measured)")
    ax.plot(degrees, [r["redraw_median"] for r in rows], "--", color="grey",
            label="test loss of the median fit")
    ax.set_yscale("log")
    ax.set_xticks(degrees)
    ax.set_xlabel("degree d of the polynomial (features x⁰ … xᵈ)")
    ax.set_ylabel("expected test error (½·MSE, units of y²)")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    # bias² (its estimates and its bounds) first, then as drawn.
    order = sorted(range(len(labels)), key=lambda i: labels[i].split()[:2] not in (
        ["bias²", "±"], ["bias²", "≈"]))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8,
              loc="upper left", bbox_to_anchor=(1.01, 1))
    return figure
