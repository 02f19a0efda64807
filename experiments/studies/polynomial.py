"""`polynomial` (chapter 11, d2l 3.6): the book's cubic fitted with too few, enough and
too many powers of x, and the capacity curve of a sweep over the degree, drawn beside the
closed-form least-squares fit of each degree."""

import torch
from matplotlib.figure import Figure

from datamodules.polynomial import MAX_DEGREE, PolynomialData, features
from experiments.engine import report
from experiments.engine.plan import Member, Plan
from experiments.engine.study import sweep
from experiments.studies import fitting
from experiments.studies.regression import RegressionStudy
from modules import losses


def all_features(member: Member) -> PolynomialData:
    """The member's data with every feature up to x¹⁹ (and no folds), set up: for drawing
    and for the closed-form fits."""
    args = member.config.data.init_args.as_dict()
    data = PolynomialData(**{**args, "degree": MAX_DEGREE, "fold": None})
    data.setup()
    return data


def noise_floor(plan: Plan) -> float:
    """½σ²: the l2 loss (½·MSE) of the true cubic itself, which no fit beats on average."""
    return plan.members[0].config.data.init_args.noise ** 2 / 2


def degree(member: Member) -> int:
    return member.config.data.init_args.degree


class Polynomial(RegressionStudy):
    """Members declared by name are drawn as fits over the data; the capacity curve has
    the members that differ in the degree alone (the grid's and, e.g., underfit and
    normal). model.num_inputs follows data.degree."""

    def all_members(self) -> dict[str, dict]:
        return {name: fitting.with_num_inputs(o) for name, o in super().all_members().items()}

    def takeaway(self, plan: Plan, results: list[dict]) -> str:
        judged = fitting.verdicts(results)
        done = {r["member"]: r["metrics"] for r in results if r["member"] in judged}
        if not done:
            return ""
        best = min(done, key=lambda name: done[name]["val/loss"])
        named = ", ".join(f"{name} {judged[name]}" for name in self.members if name in judged)
        return (f"The lowest validation loss is {best}'s ({done[best]['val/loss']:.3g}); "
                f"the book's members: {named}.")

    def columns(self, plan: Plan, results: list[dict]) -> dict[str, dict]:
        # One group: every member fits the same examples, whatever its degree or epochs.
        return {m: {"verdict": v}
                for m, v in fitting.verdicts(results, noise_floor(plan)).items()}

    def notes(self, plan: Plan, results: list[dict]) -> str:
        return (f"{fitting.verdict_rule(noise_floor(plan))} The group is the whole study: "
                "all fit the same examples.")

    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        done = {r["member"]: r for r in results if r["status"] == "completed"}
        members = [m for m in plan.members if m.name in done]
        if not members:
            return []
        data = all_features(members[0])
        figures = []
        if fits := [m for m in members if m.name in self.members]:
            caption = ("The training data, the true cubic (dashed), the polynomial each "
                       f"named member learned by SGD ({', '.join(m.name for m in fits)}) and "
                       "the least-squares fit of its degree (dotted): at degree 19 that one "
                       "chases the noise, while SGD barely moves the weights of high powers")
            figures.append(report.Figure("fits", caption, fits_figure(data, fits, done)))
        degrees = [m for m in sweep(plan, "data.degree", "model.num_inputs")
                   if "val/loss" in done.get(m.name, {}).get("metrics", {})]
        if len(degrees) >= 2:
            epochs = degrees[0].config.trainer.max_epochs
            caption = (f"Capacity: final train and validation loss against the degree after "
                       f"{epochs} epochs of SGD (solid) and of the closed-form least-squares "
                       "fit of each degree (dashed)")
            figure = capacity_figure(data, degrees, done, degrees[0].config.model.init_args.loss)
            figures.append(report.Figure("capacity", caption, figure))
        return figures


def fits_figure(data: PolynomialData, fits: list[Member], done: dict[str, dict]) -> Figure:
    X, y = data.splits["train"].tensors
    x = X[:, 1]  # the feature x¹/1!
    grid = torch.linspace(x.min().item() - 0.2, x.max().item() + 0.2, 200).reshape(-1, 1)
    truth = features(grid, len(data.poly_w) - 1) @ data.poly_w
    figure = Figure(figsize=(4 * len(fits), 3.6), layout="constrained")
    for ax, member in zip(figure.subplots(1, len(fits), squeeze=False)[0], fits, strict=True):
        result = done[member.name]
        w = torch.tensor(result["metrics"]["weights"])
        ax.scatter(x, y[:, 0], s=8, color="grey", alpha=0.6, label="training data")
        ax.plot(grid, truth, "k--", label="true cubic")
        ax.plot(grid, features(grid, len(w) - 1) @ w, color="C3", label="learned (SGD)")
        closed = features(grid.double(), len(w) - 1) @ least_squares(data, len(w) - 1)
        ax.plot(grid, closed, ":", color="C0", label="least squares, same degree")
        ax.set_ylim(y.min().item() - 2, y.max().item() + 2)  # a wild fit may leave the data
        losses = ", ".join(f"{stage} {result['metrics'][f'{stage}/loss']:.3g}"
                           for stage in ("train", "val") if f"{stage}/loss" in result["metrics"])
        ax.set_title(f"{member.name}: degree {degree(member)}, {result['epochs']} epochs\n"
                     f"{losses}", fontsize=9)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    figure.axes[0].set_ylabel("y")
    figure.axes[0].legend(fontsize=8)
    return figure


def capacity_figure(data: PolynomialData, members: list[Member], done: dict[str, dict],
                    loss_name: losses.LossName) -> Figure:
    members = sorted(members, key=degree)
    degrees = [degree(m) for m in members]
    every_degree = list(range(MAX_DEGREE + 1))
    figure = Figure(figsize=(6.5, 4), layout="constrained")
    ax = figure.subplots()
    for stage, color in (("train", "C0"), ("val", "C1")):
        loss = [done[m.name]["metrics"][f"{stage}/loss"] for m in members]
        ax.plot(degrees, loss, "o-", color=color, label=f"{stage} (SGD)")
        closed = closed_form_losses(data, every_degree, stage, loss_name)
        ax.plot(every_degree, closed, "--", color=color, alpha=0.8,
                label=f"{stage} (least squares)")
    ax.set_yscale("log")
    ax.set_xticks(every_degree)
    ax.set_xlabel("degree of the polynomial (features x⁰ … xᵈ)")
    ax.set_ylabel("final loss")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure


def closed_form_losses(data: PolynomialData, degrees: list[int], stage: str,
                       loss_name: losses.LossName) -> list[float]:
    """The loss on `stage` of the least-squares fit to the training data, per degree."""
    X_eval, y_eval = (t.double() for t in data.splits[stage].tensors)
    out = []
    for d in degrees:
        w = least_squares(data, d)
        out.append(losses.SCRATCH[loss_name](X_eval[:, : d + 1] @ w, y_eval).item())
    return out


def least_squares(data: PolynomialData, degree: int) -> torch.Tensor:
    """The closed-form least-squares weights (degree + 1, 1) on the training data, float64."""
    X, y = (t.double() for t in data.splits["train"].tensors)
    return torch.linalg.lstsq(X[:, : degree + 1], y, driver="gelsd").solution
