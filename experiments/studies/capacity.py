"""`capacity` (chapter 11, d2l 3.6) on Fashion-MNIST: train against validation as an MLP
widens (model capacity, on training labels partly wrong) and as its training set grows
(the learning curve), with a verdict per member."""

import math

from datamodules import FashionMNISTDataModule
from experiments.engine import aggregate, report
from experiments.engine.aggregate import Result, RunResult, completed
from experiments.engine.figures import against, curves_figure
from experiments.engine.headline import Headline, count_verdicts
from experiments.engine.plan import SEED_SEPARATOR, Member, Plan
from experiments.engine.report import pm
from experiments.engine.study import Study, sweep
from experiments.studies import fitting

# The settings each curve varies.
WIDTH = ("model.num_hiddens",)
# The sizes train for the same steps: fewer epochs of a larger set.
SIZE = ("data.train_size", "trainer.max_epochs", "trainer.check_val_every_n_epoch")
# Settings the two curves differ in that summary.md's table leaves to the notes: it has
# room for a dozen columns, and train/* beside val/* matters more.
UNSHOWN = ("data.batch_size", "trainer.check_val_every_n_epoch", "trainer.max_epochs",
           "train_running/loss", "train_running/acc")
# summary.json's headline columns on the widest width's row (the takeaway says them).
HEADLINE = ("best width", "val/loss above best", "val/loss above best_se",
            "val/acc above best", "val/acc above best_se")
# A seed whose train/acc is within this many binomial standard errors of chance learned
# nothing: an optimisation failure (e.g. both hidden units dead), not the width's capacity.
FAILED_WITHIN_SE = 3


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


def chance_bound(member: Member) -> float:
    """The train/acc at or below which a seed counts as failed to train: chance (one class
    in ten) plus FAILED_WITHIN_SE binomial standard errors on its training images."""
    chance = 1 / FashionMNISTDataModule.num_classes
    return chance + FAILED_WITHIN_SE * math.sqrt(chance * (1 - chance) / train_size(member))


def failed_to_train(run: RunResult, member: Member) -> bool:
    accuracy = run["metrics"].get("train/acc")
    return (run["status"] == "completed" and accuracy is not None
            and accuracy <= chance_bound(member))


def split_failed(plan: Plan, results: list[RunResult]
                 ) -> tuple[list[RunResult], dict[str, list[tuple[str, float, float]]]]:
    """The seeds' results without those that failed to train, and the failed ones as
    member -> [(seed, train/acc, the chance bound it fell under)]."""
    members = {m.name: m for m in plan.members}
    failed = [r for r in results if r["member"] in members
              and failed_to_train(r, members[r["member"]])]
    failures: dict[str, list[tuple[str, float, float]]] = {}
    for run in failed:
        base, _, seed = run["member"].partition(SEED_SEPARATOR)
        failures.setdefault(base, []).append(
            (seed, run["metrics"]["train/acc"], chance_bound(members[run["member"]])))
    return [r for r in results if r not in failed], failures


def steps(member: Member, epochs: int | None = None) -> int:
    """SGD steps of `epochs` (default: the configured maximum) at the member's batch."""
    data = member.config.data.init_args
    epochs = member.config.trainer.max_epochs if epochs is None else epochs
    return epochs * math.ceil(train_size(member) / data.batch_size)



def val_loss(metrics: dict) -> float:
    return metrics["val/loss"]


def val_acc(metrics: dict) -> float:
    return metrics["val/acc"]


def gap(metrics: dict) -> float:
    return metrics["train/acc"] - metrics["val/acc"]


def direction(change: float, se: float, above: str, below: str, same: str) -> str:
    """One of three words for a paired change, by the shared within-noise rule; with one
    seed (no error bar) its sign, and the caller says `(1 seed)`."""
    if se == se and not aggregate.beyond_noise(change, se):
        return same
    return above if change > 0 else below


def one_seed(se: float) -> str:
    return " (1 seed)" if se != se else ""


class Capacity(Study):
    """The width curve has the members that differ in model.num_hiddens alone (a fixed
    number of epochs), the learning curve those that differ in data.train_size and the
    epochs that give each the same number of SGD steps. A seed that failed to train
    (train/acc at chance) is left out of its member's means and verdict, counted apart."""

    # member -> [(seed, train/acc, chance bound)] of its seeds that failed to train
    failures: dict[str, list[tuple[str, float, float]]] = {}

    def summarize(self, plan: Plan, results: list[RunResult], notes: str = "") -> None:
        trained, self.failures = split_failed(plan, results)
        super().summarize(plan, trained, notes)

    def columns(self, plan: Plan, results: list[Result]) -> dict[str, dict]:
        # Each curve is its own group: a width is judged beside the best width on the same
        # images, a training-set size beside the best size at the same width.
        # Past memorisation every width fits train better than val, so a width overfits
        # only where its val/loss also rises above the best width's (rise=True); a size is
        # judged by its own gap, d2l's reading of the learning curve.
        columns: dict[str, dict] = {}
        for keys, label, rise in ((WIDTH, "width", True), (SIZE, "size", False)):
            names = {m.name for m in sweep(plan, *keys)}
            group = [r for r in results if r["member"] in names]
            for member, verdict in fitting.verdicts(group, rise=rise).items():
                columns.setdefault(member, {})[f"verdict by {label}"] = verdict
        merged = {r["member"]: r for r in results if "val/loss" in r["metrics"]}
        widths = sorted((m for m in sweep(plan, *WIDTH) if m.name in merged), key=width)
        if len(widths) >= 2:
            best = min(widths, key=lambda m: merged[m.name]["metrics"]["val/loss"])
            for member in widths:
                if member is not best and "verdict by width" in columns.get(member.name, {}):
                    change, se = aggregate.paired(merged[member.name], merged[best.name], val_acc)
                    columns[member.name]["verdict by width"] += "; val/acc " + direction(
                        change, se, "above", "below", "within noise of") + " the best width's" \
                        + one_seed(se)
            columns.setdefault(widths[-1].name, {}).update(
                self.width_result(best, widths[-1], merged))
        if self.failures:
            for result in results:
                columns.setdefault(result["member"], {})["failed seeds"] = len(
                    self.failures.get(result["member"], []))
        return columns

    @staticmethod
    def width_result(best: Member, widest: Member, merged: dict) -> dict:
        """The width curve's result for summary.json: the width where val/loss is lowest,
        and how far above it the widest's val/loss and val/acc are (paired by seed)."""
        rise, rise_se = aggregate.paired(merged[widest.name], merged[best.name], val_loss)
        acc, acc_se = aggregate.paired(merged[widest.name], merged[best.name], val_acc)
        return dict(zip(HEADLINE, (width(best), rise, rise_se, acc, acc_se), strict=True))

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        """The width curve's result: where val/loss is lowest, and the widest's rise above
        it in val/loss and val/acc (paired by seed), beside how many seeds failed."""
        widest = next((c for c in self.columns(plan, results).values() if HEADLINE[0] in c),
                      None)
        if widest is None:
            return Headline("–")
        best, rise, rise_se, acc, acc_se = (widest[key] for key in HEADLINE)
        failed = sum(len(seeds) for seeds in self.failures.values())
        ours = (f"val/loss lowest at width {best}" + (
            f"; the widest {pm(rise, rise_se, '+.3g')} above it, its val/acc "
            f"{pm(acc, acc_se, '+.3f')} (paired by seed)" if rise or rise_se else ", the widest")
            + (f"; {failed} seed{'s' * (failed > 1)} failed to train, left out"
               if failed else ""))
        loss_rises = aggregate.beyond_noise(rise, rise_se) and rise > 0
        return Headline(ours, takeaway=(
            "wide nets memorise the wrong labels: val loss rises past the minimum"
            if loss_rises else "val loss does not rise beyond noise past its minimum")
            + (", while val accuracy " + direction(acc, acc_se, "rises", "falls",
                                                    "stays within noise")),
            verdicts=count_verdicts(self.columns(plan, results)))

    def table(self, plan: Plan, results: list[Result]) -> list[dict]:
        hidden = (*UNSHOWN, *HEADLINE)
        return [{k: v for k, v in row.items() if k not in hidden}
                for row in report.rows(plan, results, self.columns(plan, results))]

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        merged = {r["member"]: r for r in results if "val/loss" in r["metrics"]}
        done = {name: r["metrics"] for name, r in merged.items()}
        parts = []
        widths = sorted((m for m in sweep(plan, *WIDTH) if m.name in done), key=width)
        if len(widths) >= 2:
            parts.append(self.width_sentence(widths, merged, done))
        sizes = sorted((m for m in sweep(plan, *SIZE) if m.name in done), key=train_size)
        if len(sizes) >= 2:
            gaps = {m.name: aggregate.per_seed(merged[m.name], gap) for m in sizes}
            shown_gaps = ", ".join(
                f"{pm(*aggregate.mean_se(list(gaps[m.name].values())), '.3f', '.3f')} "
                f"({train_size(m)})"
                for m in sizes)
            shrink, shrink_se = aggregate.paired_difference(gaps[sizes[0].name],
                                                            gaps[sizes[-1].name])
            if shrink_se != shrink_se:  # one seed
                trend = "shrinks (1 seed)" if shrink > 0 else "does not shrink (1 seed)"
            else:
                trend = direction(shrink, shrink_se, "shrinks", "grows",
                                  "does not change beyond noise")
            parts.append(
                f"On true labels, {budget(sizes, merged)}, width {width(sizes[0])}'s "
                f"train−val accuracy gap {trend} from {train_size(sizes[0])} to "
                f"{train_size(sizes[-1])} training images: {shown_gaps}.")
        return " ".join(parts)

    def width_sentence(self, widths: list[Member], merged: dict, done: dict) -> str:
        """The width curve in one sentence: where val/loss is lowest, how far above that
        minimum the widest is (paired by seed), how well it fits its labels, and what its
        val/acc does."""
        best, narrowest, widest = (min(widths, key=lambda m: done[m.name]["val/loss"]),
                                   widths[0], widths[-1])
        start = f"On {images(narrowest)}, validation loss "
        if best is widest:
            return (start + f"is lowest at the widest, {width(widest)} hidden units "
                    f"({report.shown(done[best.name], 'val/loss')}): no rise past a minimum"
                    f"{self.accuracy_clause(narrowest, best, merged, done)}.")
        if best is not narrowest:
            start += (f"is {report.shown(done[narrowest.name], 'val/loss')} at width "
                      f"{width(narrowest)} and lowest at {width(best)} "
                      f"({report.shown(done[best.name], 'val/loss')})")
        else:
            start += (f"is lowest at the narrowest, {width(best)} hidden units "
                      f"({report.shown(done[best.name], 'val/loss')})")
        rise, rise_se = aggregate.paired(merged[widest.name], merged[best.name], val_loss)
        above = f"{rise / done[best.name]['val/loss']:+.0%} against the minimum"
        if rise_se != rise_se:  # one seed: no error bar to judge the rise by
            above += " (1 seed)"
            start += ", then rises" if rise > 0 else ""
        elif aggregate.beyond_noise(rise, rise_se):
            above += f" (paired over seeds {pm(rise, rise_se, '+.3g')})"
            start += ", then rises" if rise > 0 else ""
        else:
            above += f", within noise (paired over seeds {pm(rise, rise_se, '+.3g')})"
        noise = widest.config.data.init_args.get("label_noise", 0.0)
        wrong_too = ", the wrong ones too" if noise and done[widest.name]["train/acc"] >= 0.98 \
            else ""
        return (f"{start}: the widest, {width(widest)}, fits its training labels{wrong_too} "
                f"(train/acc {report.shown(done[widest.name], 'train/acc')}) and its val/loss is "
                f"{report.shown(done[widest.name], 'val/loss')}, {above}"
                f"{self.accuracy_clause(widest, best, merged, done)}.")

    def accuracy_clause(self, widest: Member, best: Member, merged: dict, done: dict
                        ) -> str:
        """What the widest's val/acc does against the loss-optimal width's: cross-entropy
        also counts how sure a wrong answer is, so the two can part."""
        change, se = aggregate.paired(merged[widest.name], merged[best.name], val_acc)
        both = (f"{report.shown(done[widest.name], 'val/acc')} at {width(widest)} against "
                f"{report.shown(done[best.name], 'val/acc')} at {width(best)}; paired "
                f"{pm(change, se, '+.3f')}")
        if se != se:
            return f"; its val/acc is {both} (1 seed)"
        if not aggregate.beyond_noise(change, se):
            return f"; its val/acc is within noise of the minimum's ({both})"
        if change < 0:
            return f", and its val/acc is lower too ({both})"
        return (f", while its val/acc is higher ({both}): by accuracy it is the better "
                "net, and the loss rises because its mistakes are confident, not because "
                "there are more of them")

    def notes(self, plan: Plan, results: list[Result]) -> str:
        setup = []
        if widths := sweep(plan, *WIDTH):
            config = widths[0].config
            setup.append(
                f"**Widths**: {images(widths[0])}, batch {config.data.init_args.batch_size}, "
                f"{config.trainer.max_epochs} epochs each, validated every "
                f"{config.trainer.check_val_every_n_epoch} epochs: train/* is scored on the "
                "labels they trained on, val/* on held-out images with their true labels.")
        if sizes := sorted(sweep(plan, *SIZE), key=train_size):
            config = sizes[0].config
            epochs = ", ".join(f"{m.config.trainer.max_epochs} ({train_size(m)})" for m in sizes)
            setup.append(
                f"**Sizes**: {pixels(sizes[0])}, width {width(sizes[0])}, batch "
                f"{config.data.init_args.batch_size}, each trained for the same number of SGD "
                f"steps, {steps(sizes[-1])} (a matched budget: the largest set may stop "
                f"short of convergence), epochs {epochs}. "
                "(Stopping each early on validation instead let the largest set train for "
                "more steps than the smallest, confounding size with training length.)")
        return " ".join([
            *setup, *self.failure_note(), *self.peak(plan, results),
            f"Verdicts by width: {fitting.verdict_rule(rise=True)} Each says beside it what "
            "val/acc does against the best width's (paired by seed; within two standard "
            "errors is *within noise*). Verdicts by size read the "
            "gap alone, as d2l does: a size *overfits* when its val/loss exceeds its own "
            "train/loss by that much (against the best size's val/loss). The groups are the "
            "two curves: the widths on the same images, the training-set sizes at the same "
            "width."])

    def failure_note(self) -> list[str]:
        """The seeds left out as optimisation failures, with their train/acc."""
        if not self.failures:
            return []
        listed = "; ".join(
            f"{name} seed {seed} (train/acc {accuracy:.3f}; at most {bound:.3f} counts as "
            "chance)" for name, seeds in self.failures.items() for seed, accuracy, bound in seeds)
        count = sum(len(seeds) for seeds in self.failures.values())
        return [f"**Failed to train** ({count} seed{'s' * (count > 1)}): {listed}. A seed whose "
                f"train/acc is within {FAILED_WITHIN_SE} binomial standard errors of chance "
                "(1/10) on its training images learned nothing: an optimisation failure, not "
                "the width's capacity. It is left out of its member's means and verdict "
                "(`failed seeds` counts them, `seeds` the ones averaged); its run folder stays."]

    def peak(self, plan: Plan, results: list[Result]) -> list[str]:
        """Where val/loss peaks between the minimum and the widest, if it does, and whether
        the widest is below that peak beyond noise. Five widths at one training budget
        cannot show a second descent (double_descent sweeps through its threshold)."""
        merged = {r["member"]: r for r in results if "val/loss" in r["metrics"]}
        widths = sorted((m for m in sweep(plan, *WIDTH) if m.name in merged), key=width)
        if len(widths) < 3:
            return []
        losses = [merged[m.name]["metrics"]["val/loss"] for m in widths]
        top, low = losses.index(max(losses)), losses.index(min(losses))
        if not low < top < len(widths) - 1:
            return []
        peak, widest = widths[top], widths[-1]
        fall, se = aggregate.paired(merged[peak.name], merged[widest.name], val_loss)
        where = (f"val/loss is highest at {width(peak)} hidden units "
                 f"({report.shown(merged[peak.name]['metrics'], 'val/loss')})")
        if aggregate.beyond_noise(fall, se):
            return [f"Past the minimum, {where} and lower at the widest by {pm(fall, se)} "
                    f"(paired over seeds). That is {len(widths)} widths at one "
                    "training budget, not a second descent: `double_descent` shows that, "
                    "sweeping the model size through its interpolation threshold."]
        return [f"Past the minimum, {where}; the widest is within noise of it "
                f"({pm(fall, se, '+.3g')}, paired)."]

    def curves(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        """Seed 0's curves of the width members, one setup: the sizes train for different
        numbers of epochs (the same steps), which an epoch axis would not line up."""
        widths = [m for m in sorted(sweep(plan, *WIDTH), key=width) if m.folder.exists()]
        figure = curves_figure(widths)
        if figure is None:
            return []
        caption = (f"Train (solid) and validation (dashed) curves by epoch of the widths "
                   f"(seed 0), on {images(widths[0])}: train/* on the labels they trained on, "
                   "val/* on true labels")
        return [report.Figure("curves", caption, figure)]

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        merged = {r["member"]: r for r in results
                  if completed(r) and "val/loss" in r["metrics"]}
        done = {name: r["metrics"] for name, r in merged.items()}
        seeds = ", ".join(sorted({str(r.get("seeds", 1)) for r in merged.values()}))
        figures = []
        widths = sorted((m for m in sweep(plan, *WIDTH) if m.name in done), key=width)
        if len(widths) >= 2:
            best = min(widths, key=lambda m: done[m.name]["val/loss"])
            change, se = aggregate.paired(merged[widths[-1].name], merged[best.name], val_acc)
            accuracy = direction(change, se, "higher than", "lower than", "within noise of")
            caption = (f"Model capacity: final train and validation loss (log; val/loss alone "
                       "on a linear scale in the middle, its minimum starred) and accuracy "
                       f"against the hidden units, on {images(widths[0])}, "
                       f"{widths[0].config.trainer.max_epochs} epochs each; mean ± se over "
                       f"{seeds} seeds (failed seeds left out). val/loss is lowest at "
                       f"{width(best)}; the widest's val/acc is {accuracy} that width's "
                       f"(paired {pm(change, se, '+.3f')}){one_seed(se)}")
            figure = against(widths, width, "hidden units (log scale)", done, val_alone=True)
            figures.append(report.Figure("width", caption, figure))
        sizes = sorted((m for m in sweep(plan, *SIZE) if m.name in done), key=train_size)
        if len(sizes) >= 2:
            caption = (f"Learning curve: final train and validation loss and accuracy against "
                       f"the training images ({pixels(sizes[0])}), "
                       f"{width(sizes[0])} hidden units, {budget(sizes, merged)}; "
                       f"mean ± se over {seeds} seeds")
            figure = against(sizes, train_size, "training images (log scale)", done)
            figures.append(report.Figure("learning_curve", caption, figure))
        return figures


def budget(sizes: list[Member], merged: dict) -> str:
    """`each trained for 800 SGD steps`, from the epochs the seeds ran (or each one's
    steps where they differ)."""
    ran = {m.name: [steps(m, run["epochs"]) for run in merged[m.name].get("runs", [])]
           for m in sizes}
    counts = {n for values in ran.values() for n in values}
    if len(counts) == 1:
        return f"each trained for {counts.pop()} SGD steps"
    listed = ", ".join(f"{min(ran[m.name])}–{max(ran[m.name])} ({train_size(m)})" for m in sizes)
    return f"trained for unequal numbers of SGD steps: {listed}"
