"""`capacity` (chapter 11, d2l 3.6) on Fashion-MNIST: train against validation as an MLP
widens (model capacity, on training labels partly wrong) and as its training set grows
(the learning curve), with a verdict per member."""

from matplotlib.figure import Figure

from experiments.engine import aggregate, report
from experiments.engine.plan import Member, Plan
from experiments.engine.study import Study, sweep
from experiments.studies import fitting

# The settings each curve varies.
WIDTH = ("model.num_hiddens",)
SIZE = ("data.train_size",)
# Settings the two curves differ in that summary.md's table leaves to the notes: it has
# room for a dozen columns, and train/* beside val/* matters more.
UNSHOWN = ("data.batch_size", "trainer.check_val_every_n_epoch", "trainer.max_epochs")


def width(member: Member) -> int:
    return sum(member.config.model.init_args.num_hiddens)  # hidden units, over all layers


def train_size(member: Member) -> int:
    return member.config.data.init_args.train_size


def pixels(member: Member) -> str:
    """`7×7 pixels, 20% of their labels wrong` or `7×7 pixels, true labels`."""
    data = member.config.data.init_args
    side, noise = data.get("resize", 28), data.get("label_noise", 0.0)
    return f"{side}×{side} pixels, " + (f"{noise:.0%} of their labels wrong" if noise
                                         else "true labels")


def images(member: Member) -> str:
    """`500 training images (7×7 pixels, 20% of their labels wrong)`."""
    return f"{train_size(member)} training images ({pixels(member)})"


def per_seed(result: dict, value) -> dict[str, float]:
    """seed -> value(metrics) of a merged result's completed seeds."""
    return {run["member"].partition(",seed=")[2]: value(run["metrics"])
            for run in result.get("runs", [result]) if run["status"] == "completed"}


def paired(a: dict[str, float], b: dict[str, float]) -> tuple[float, float]:
    """Mean and standard error of a − b over the seeds both have: paired, as a seed is the
    same training draw and validation split in every member."""
    return aggregate.mean_se([a[k] - b[k] for k in a if k in b])


def val_loss(metrics: dict) -> float:
    return metrics["val/loss"]


def gap(metrics: dict) -> float:
    return metrics["train/acc"] - metrics["val/acc"]


class Capacity(Study):
    """The width curve has the members that differ in model.num_hiddens alone (a fixed
    number of epochs), the learning curve those that differ in data.train_size alone
    (each stopped early on validation)."""

    def columns(self, plan: Plan, results: list[dict]) -> dict[str, dict]:
        # Each curve is its own group: a width is judged beside the best width on the same
        # images, a training-set size beside the best size at the same width.
        # Past memorisation every width fits train better than val, so a width overfits
        # only where its val/loss also rises above the best width's (rise=True); a size is
        # judged by its own gap, d2l's reading of the learning curve.
        columns = {}
        for keys, label, rise in ((WIDTH, "width", True), (SIZE, "size", False)):
            names = {m.name for m in sweep(plan, *keys)}
            group = [r for r in results if r["member"] in names]
            for member, verdict in fitting.verdicts(group, rise=rise).items():
                columns.setdefault(member, {})[f"verdict by {label}"] = verdict
        return columns

    def table(self, plan: Plan, results: list[dict]) -> list[dict]:
        return [{k: v for k, v in row.items() if k not in UNSHOWN}
                for row in report.rows(plan, results, self.columns(plan, results))]

    def takeaway(self, plan: Plan, results: list[dict]) -> str:
        merged = {r["member"]: r for r in results if "val/loss" in r["metrics"]}
        done = {name: r["metrics"] for name, r in merged.items()}
        parts = []
        widths = sorted((m for m in sweep(plan, *WIDTH) if m.name in done), key=width)
        if len(widths) >= 2:
            parts.append(self.width_sentence(widths, merged, done))
        sizes = sorted((m for m in sweep(plan, *SIZE) if m.name in done), key=train_size)
        if len(sizes) >= 2:
            gaps = {m.name: per_seed(merged[m.name], gap) for m in sizes}
            shown_gaps = ", ".join(
                f"{pm(*aggregate.mean_se(list(gaps[m.name].values())))} ({train_size(m)})"
                for m in sizes)
            shrink, shrink_se = paired(gaps[sizes[0].name], gaps[sizes[-1].name])
            if shrink_se != shrink_se:  # one seed
                trend = "shrinks (1 seed)" if shrink > 0 else "does not shrink (1 seed)"
            else:
                trend = "shrinks" if shrink > 2 * shrink_se else "does not clearly shrink"
            limit = sizes[0].config.trainer.max_epochs
            stopped = ("each stopped early on validation" if all(
                run["epochs"] < limit for m in sizes for run in merged[m.name].get("runs", [])
            ) else f"stopped early on validation or at {limit} epochs")
            parts.append(
                f"On true labels, {stopped}, width {width(sizes[0])}'s "
                f"train−val accuracy gap {trend} from {train_size(sizes[0])} to "
                f"{train_size(sizes[-1])} training images: {shown_gaps}.")
        return " ".join(parts)

    def width_sentence(self, widths: list[Member], merged: dict, done: dict) -> str:
        """The width curve in one sentence: where val/loss is lowest, how far above that
        minimum the widest is (paired by seed), how well it fits its labels, and whether
        its val/acc falls too."""
        best, narrowest, widest = (min(widths, key=lambda m: done[m.name]["val/loss"]),
                                   widths[0], widths[-1])
        start = f"On {images(narrowest)}, validation loss "
        if best is widest:
            return (start + f"falls with width to {shown(done[best.name], 'val/loss')} at "
                    f"the widest, {width(widest)}: no rise past a minimum.")
        if best is not narrowest:
            start += (f"falls from {shown(done[narrowest.name], 'val/loss')} at width "
                      f"{width(narrowest)} to {shown(done[best.name], 'val/loss')} at "
                      f"{width(best)}")
        else:
            start += (f"is lowest at the narrowest, {width(best)} hidden units "
                      f"({shown(done[best.name], 'val/loss')})")
        rise, rise_se = paired(per_seed(merged[widest.name], val_loss),
                               per_seed(merged[best.name], val_loss))
        above = f"{rise / done[best.name]['val/loss']:+.0%} against the minimum"
        if rise_se != rise_se:  # one seed: no error bar to judge the rise by
            above += " (1 seed)"
            start += ", then rises" if rise > 0 else ""
        elif rise > 2 * rise_se:
            above += f" (paired over seeds {rise:+.3g} ± {rise_se:.2g})"
            start += ", then rises"
        else:
            above += f", within noise (paired over seeds {rise:+.3g} ± {rise_se:.2g})"
        noise = widest.config.data.init_args.get("label_noise", 0.0)
        wrong_too = ", the wrong ones too" if noise and done[widest.name]["train/acc"] >= 0.98 \
            else ""
        return (f"{start}: the widest, {width(widest)}, fits its training labels{wrong_too} "
                f"(train/acc {shown(done[widest.name], 'train/acc')}) and its val/loss is "
                f"{shown(done[widest.name], 'val/loss')}, {above}"
                f"{self.accuracy_clause(widest, best, merged, done)}.")

    def accuracy_clause(self, widest: Member, best: Member, merged: dict, done: dict
                        ) -> str:
        """Whether the widest's val/acc falls too, or only its loss rises: cross-entropy
        also counts how sure a wrong answer is."""
        def val_acc(metrics: dict) -> float:
            return metrics["val/acc"]
        change, se = paired(per_seed(merged[widest.name], val_acc),
                            per_seed(merged[best.name], val_acc))
        both = (f"{shown(done[widest.name], 'val/acc')} against "
                f"{shown(done[best.name], 'val/acc')}")
        if se != se:
            return f"; its val/acc is {both} (1 seed)"
        if change < -2 * se:
            return f", and its val/acc falls too ({both})"
        if change > 2 * se:
            return (f", while its val/acc does not fall ({both}): the loss rises because its "
                    "mistakes are confident, not because there are more of them")
        return f"; its val/acc is within noise of the minimum's ({both})"

    def notes(self, plan: Plan, results: list[dict]) -> str:
        setup = []
        if widths := sweep(plan, *WIDTH):
            config = widths[0].config
            setup.append(
                f"**Widths**: {images(widths[0])}, batch {config.data.init_args.batch_size}, "
                f"{config.trainer.max_epochs} epochs each, validated every "
                f"{config.trainer.check_val_every_n_epoch} epochs: train/* is scored on the "
                "labels they trained on, val/* on held-out images with their true labels.")
        if sizes := sweep(plan, *SIZE):
            config = sizes[0].config
            names = {m.name for m in sizes}
            epochs = [run["epochs"] for r in results if r["member"] in names
                      for run in r.get("runs", [r]) if run["status"] == "completed"]
            stopped = (f": they stopped after {min(epochs)}–{max(epochs)} epochs"
                       if epochs else "")
            early = [c.init_args for c in config.trainer.get("callbacks") or []
                     if c.class_path.endswith("EarlyStopping")]
            how = (f"stopped by EarlyStopping on {early[0].monitor} after {early[0].patience} "
                   "validations without improvement, at most" if early else "trained for")
            setup.append(
                f"**Sizes**: {pixels(sizes[0])}, width {width(sizes[0])}, batch "
                f"{config.data.init_args.batch_size}, validated every "
                f"{config.trainer.check_val_every_n_epoch} epochs and {how} "
                f"{config.trainer.max_epochs} epochs{stopped}.")
        return " ".join([
            *setup, *self.peak(plan, results),
            f"Verdicts by width: {fitting.verdict_rule(rise=True)} Verdicts by size read the "
            "gap alone, as d2l does: a size *overfits* when its val/loss exceeds its own "
            "train/loss by that much (against the best size's val/loss). The groups are the "
            "two curves: the widths on the same images, the training-set sizes at the same "
            "width."])

    def peak(self, plan: Plan, results: list[dict]) -> list[str]:
        """Where val/loss peaks between the minimum and the widest, if it does: past the
        width that just memorises, wider nets interpolate more smoothly (double descent)."""
        merged = {r["member"]: r for r in results if "val/loss" in r["metrics"]}
        widths = sorted((m for m in sweep(plan, *WIDTH) if m.name in merged), key=width)
        if len(widths) < 3:
            return []
        losses = [merged[m.name]["metrics"]["val/loss"] for m in widths]
        top, low = losses.index(max(losses)), losses.index(min(losses))
        if not low < top < len(widths) - 1:
            return []
        peak, widest = widths[top], widths[-1]
        fall, se = paired(per_seed(merged[peak.name], val_loss),
                          per_seed(merged[widest.name], val_loss))
        where = (f"val/loss peaks at {width(peak)} hidden units "
                 f"({shown(merged[peak.name]['metrics'], 'val/loss')})")
        if se == se and fall > 2 * se:
            return [f"Past the minimum, {where} and is lower at the widest by {fall:.3g} ± "
                    f"{se:.2g} (paired over seeds), like the second descent that "
                    "`double_descent` shows past its interpolation threshold."]
        return [f"Past the minimum, {where}; the widest is within noise of it."]

    def figures(self, plan: Plan, results: list[dict]) -> list[report.Figure]:
        done = {r["member"]: r["metrics"] for r in results
                if r["status"] == "completed" and "val/loss" in r["metrics"]}
        seeds = max((r.get("seeds", 1) for r in results), default=1)
        figures = []
        widths = [m for m in sweep(plan, *WIDTH) if m.name in done]
        if len(widths) >= 2:
            caption = (f"Model capacity: final train and validation loss (log; val/loss alone "
                       "on a linear scale in the middle, its minimum starred) and accuracy "
                       f"against the hidden units, on {images(widths[0])}, "
                       f"{widths[0].config.trainer.max_epochs} epochs each; mean ± se over "
                       f"{seeds} seeds")
            figure = against(sorted(widths, key=width), width, "hidden units", done,
                             val_alone=True)
            figures.append(report.Figure("width", caption, figure))
        sizes = [m for m in sweep(plan, *SIZE) if m.name in done]
        if len(sizes) >= 2:
            caption = (f"Learning curve: final train and validation loss and accuracy against "
                       f"the training images ({pixels(sizes[0])}), "
                       f"{width(sizes[0])} hidden units, each stopped "
                       f"early on validation loss; mean ± se over {seeds} seeds")
            figure = against(sorted(sizes, key=train_size), train_size, "training images", done)
            figures.append(report.Figure("learning_curve", caption, figure))
        return figures


def pm(mean: float, se: float) -> str:
    return f"{mean:.3f}" + (f" ± {se:.3f}" if se == se else "")


def shown(metrics: dict, key: str) -> str:
    """`0.412 ± 0.008`: a merged metric with its standard error over seeds, if it has one."""
    error = metrics.get(f"{key}_se")
    return f"{metrics[key]:.3g}" + (f" ± {error:.2g}" if error is not None else "")


def against(members: list[Member], x_of, label: str, done: dict[str, dict],
            val_alone: bool = False) -> Figure:
    """Loss (left, log) and accuracy (right) of train and val against x_of(member): the
    mean over seeds with a ± se band. `val_alone` adds val/loss on a linear scale between
    them, its minimum marked: beside train's fall over decades the log scale flattens it."""
    x = [x_of(m) for m in members]
    panels = ("loss", "val", "acc") if val_alone else ("loss", "acc")
    figure = Figure(figsize=(4.6 * len(panels), 3.8), layout="constrained")
    for ax, panel in zip(figure.subplots(1, len(panels)), panels, strict=True):
        metric = "loss" if panel == "val" else panel
        stages = (("val", "C1"),) if panel == "val" else (("train", "C0"), ("val", "C1"))
        for stage, color in stages:
            key = f"{stage}/{metric}"
            mean = [done[m.name][key] for m in members]
            error = [done[m.name].get(f"{key}_se", 0.0) for m in members]
            ax.plot(x, mean, "o-", color=color, label=stage)
            ax.fill_between(x, [max(v - e, v / 10) for v, e in zip(mean, error, strict=True)],
                            [v + e for v, e in zip(mean, error, strict=True)],
                            color=color, alpha=0.25)
        if panel == "val":
            lowest = min(range(len(x)), key=lambda i: done[members[i].name]["val/loss"])
            minimum = done[members[lowest].name]["val/loss"]
            ax.axhline(minimum, color="grey", ls=":", lw=1)
            ax.plot([x[lowest]], [minimum], "*", color="k", ms=12,
                    label=f"minimum {minimum:.3g}")
        ax.set_xscale("log")
        ax.set_xticks(x, [str(v) for v in x], minor=False)
        ax.minorticks_off()
        ax.set_xlabel(label)
        ax.set_ylabel({"loss": "final loss", "val": "final val/loss (linear)",
                       "acc": "final accuracy"}[panel])
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.axes[0].set_yscale("log")
    return figure
