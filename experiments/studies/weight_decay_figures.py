"""weight_decay's figures: losses and ‖w‖ against λ on a log axis (λ = 0 drawn a decade
left of the smallest positive λ), each a mean over seeds with its ± se band."""

from matplotlib.figure import Figure

from experiments.engine.figures import band


def zero_at(*sweeps: dict) -> float:
    """Where λ = 0 goes on a figure's log axis: a decade left of its smallest positive λ."""
    return min((lam for sweep in sweeps for lam in sweep if lam > 0), default=1.0) / 10


def positions(lambdas, zero: float) -> list[float]:
    return [lam if lam > 0 else zero for lam in lambdas]


def lambda_axis(ax, lambdas, zero: float) -> None:
    ax.set_xscale("log")
    ax.set_xticks(positions(lambdas, zero), [f"{lam:g}" for lam in lambdas], fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("weight decay λ (0 drawn a decade left)")
    ax.grid(alpha=0.3)


def lambda_band(ax, done: dict[float, dict], key: str, style: str, color: str, label: str,
                zero: float) -> None:
    """key against λ (figures.band): the mean over seeds, with a ± se band where there
    are seeds."""
    lambdas = sorted(done)
    band(ax, positions(lambdas, zero), [done[lam]["metrics"][key] for lam in lambdas],
                 [done[lam]["metrics"].get(f"{key}_se") for lam in lambdas], style, color,
                 label, log=True)


def book_figure(sgd: dict, ridge: dict, from_zero: dict, lr: float, T: int) -> Figure:
    figure = Figure(figsize=(11, 4), layout="constrained")
    loss_ax, norm_ax = figure.subplots(1, 2)
    lambdas, zero = sorted({*sgd, *ridge}), zero_at(sgd, ridge)
    lambda_band(loss_ax, sgd, "val/loss", "o-", "C0", "SGD from N(0, 1)", zero)
    lambda_band(loss_ax, ridge, "val/loss", "s-", "C2", "ridge (closed form)", zero)
    if from_zero:
        lambda_band(loss_ax, from_zero, "val/loss", "D", "C1", "SGD from 0", zero)
    mean = next(iter(sgd.values()))["metrics"]["mean_val_loss"]
    loss_ax.axhline(mean, color="grey", linestyle=":", label="predicting the training mean")
    loss_ax.set_ylabel("final val/loss (½·MSE)")
    lambda_band(norm_ax, sgd, "w_norm", "o-", "C0", "SGD from N(0, 1)", zero)
    lambda_band(norm_ax, ridge, "w_norm", "s-", "C2", "ridge (closed form)", zero)
    if from_zero:
        lambda_band(norm_ax, from_zero, "w_norm", "D", "C1", "SGD from 0", zero)
    unseen = [sgd[lam]["metrics"]["w0_unseen_norm"] * (1 - lr * lam) ** T for lam in sorted(sgd)]
    norm_ax.plot(positions(sorted(sgd), zero), unseen, "k--", linewidth=1,
                 label=f"unseen part of w₀ × (1 − lr·λ)^{T}")
    norm_ax.set_ylabel("‖w‖")
    for ax in (loss_ax, norm_ax):
        ax.set_yscale("log")
        lambda_axis(ax, lambdas, zero)
        ax.legend(fontsize=7)
    return figure


def optimum_figure(done: dict, chosen: float, tested: dict) -> Figure:
    figure = Figure(figsize=(6.5, 4), layout="constrained")
    ax = figure.subplots()
    zero = zero_at(done)
    # No train curve: at λ = 0 the fit interpolates (train/loss ~1e-31), which would flatten
    # the validation curve's optimum on a log axis; summary.json has it.
    lambda_band(ax, done, "val/loss", "o-", "C1", "validation (chooses λ)", zero)
    x = positions(sorted(tested), zero)
    ax.errorbar(x, [tested[lam]["metrics"]["test/loss"] for lam in sorted(tested)],
                yerr=[tested[lam]["metrics"].get("test/loss_se", 0) for lam in sorted(tested)],
                fmt="k^", capsize=3, label="test (tested fits)")
    ax.axvline(positions([chosen], zero)[0], color="grey",
               linestyle=":", label=f"chosen λ = {chosen:g}")
    ax.set_ylabel("final loss (½·MSE)")
    lambda_axis(ax, sorted(done), zero)
    ax.legend(fontsize=7)
    return figure


def mlp_figure(done: dict) -> Figure:
    figure = Figure(figsize=(11, 4), layout="constrained")
    loss_ax, acc_ax = figure.subplots(1, 2)
    zero = zero_at(done)
    for ax, metric in ((loss_ax, "loss"), (acc_ax, "acc")):
        lambda_band(ax, done, f"train/{metric}", "o-", "C0", "train", zero)
        lambda_band(ax, done, f"val/{metric}", "o-", "C1", "validation", zero)
        lambda_axis(ax, sorted(done), zero)
    lambdas = sorted(done)
    acc = [done[lam]["metrics"]["test/acc"] for lam in lambdas]
    low = [a - done[lam]["metrics"]["test/acc_lo"] for a, lam in zip(acc, lambdas, strict=True)]
    high = [done[lam]["metrics"]["test/acc_hi"] - a for a, lam in zip(acc, lambdas, strict=True)]
    acc_ax.errorbar(positions(lambdas, zero), acc, yerr=[low, high], fmt="k^", capsize=3,
                    label="test (95% Wilson)")
    loss_ax.set_yscale("log")
    loss_ax.set_ylabel("final cross-entropy")
    acc_ax.set_ylabel("final accuracy")
    for ax in (loss_ax, acc_ax):
        ax.legend(fontsize=7)
    return figure
