"""`weight_decay` (chapter 12, d2l 3.7): what the book's λ = 0 / λ = 3 gap is made of, a
setup where weight decay helps, and weight decay on an MLP.

The book's regression has 20 examples of 200 inputs, so SGD moves w only within the 20
directions the training inputs span: the other 180 keep their N(0, 1) initial values,
shrunk by (1 − lr·λ) at each step of the penalty and by nothing else. Its members are
drawn beside the same training from w = 0 and the exact ridge path (closed form); a
second, larger setup has an interior optimum of λ, chosen on validation and tested.
"""

import dataclasses
import inspect
import math
from dataclasses import dataclass, field

import lightning as L
import torch

from experiments.engine import aggregate, report
from experiments.engine.aggregate import Result
from experiments.engine.figures import curves_figure
from experiments.engine.headline import Headline, beside_the_book
from experiments.engine.plan import Member, Plan
from experiments.engine.report import pm, shown
from experiments.studies.regression import RegressionStudy, truth_errors
from experiments.studies.weight_decay_figures import book_figure, mlp_figure, optimum_figure


@dataclass
class Sweep:
    """Members `PREFIX` + `wd=λ` that differ from `overrides` in model.weight_decay alone;
    `role` says what the study draws or says of it (one of WeightDecay.sweep_roles)."""

    prefix: str
    lambdas: list[float]
    overrides: dict = field(default_factory=dict)
    final: list[float] | None = None  # the λs scored on the test split (None: all)
    choose: bool = False  # validation chooses λ, and that fit is tested as `final,NAME`
    role: str = ""

    def name(self, lam: float) -> str:
        return f"{self.prefix}wd={lam:g}"

    def members(self) -> dict[str, dict]:
        return {self.name(lam): {**self.overrides, "model.weight_decay": lam}
                for lam in self.lambdas}

    def is_final(self, lam: float) -> bool:
        return self.final is None or lam in self.final

    def done(self, results: list[Result]) -> dict[float, dict]:
        """λ -> the merged result of its member, where it has a validation loss."""
        by_name = {r["member"]: r for r in results}
        return {lam: by_name[self.name(lam)] for lam in self.lambdas
                if "val/loss" in by_name.get(self.name(lam), {}).get("metrics", {})}

    def chosen(self, results: list[Result]) -> float | None:
        """The λ with the lowest mean validation loss, once every λ has one."""
        done = self.done(results)
        if len(done) < len(self.lambdas):
            return None
        return min(done, key=lambda lam: done[lam]["metrics"]["val/loss"])


def initial_weights(model: L.LightningModule) -> torch.Tensor:
    """The model's w as it was built: the same class and settings under the same seed
    (Plan.instantiate seeds, then builds; nothing draws random numbers in between)."""
    accepted = inspect.signature(type(model)).parameters
    settings = {k: v for k, v in model.hparams.items() if k in accepted}
    with torch.random.fork_rng():
        torch.manual_seed(model.seed)
        return type(model)(**settings).weights()[0]


def unseen_part(w: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """The part of w orthogonal to every row of X (n, d): what no gradient of a loss on X
    can move, since each is a combination of those rows."""
    Q, _ = torch.linalg.qr(X.double().T)  # (d, n): an orthonormal basis of the rows
    w = w.double()
    return w - Q @ (Q.T @ w)


def steps(member: Member) -> int:
    """SGD steps of the member's run: epochs × batches per epoch."""
    data = member.config.data.init_args
    return member.config.trainer.max_epochs * math.ceil(data.num_train / data.batch_size)


def settings(plan: Plan, name: str):
    """The member's resolved settings: its model's and data's init_args, its trainer's."""
    member = next(m for m in plan.members if m.name == name)
    return member, member.config.model.init_args, member.config.data.init_args


class WeightDecay(RegressionStudy):
    # The members the takeaway and the headline speak of, each a pair (λ = 0, λ = 3 in the
    # book's YAML): the book's gap, the same trained from w = 0, the same fitted in closed
    # form, and the two ways of applying decay at one λ (penalty, adamw).
    needed_roles = {"book_gap": 2, "from_zero": 2, "closed_form": 2, "ways": 2}
    # What a sweep can be: the book's λ sweep, the same from w = 0, the exact ridge path,
    # the MLP on Fashion-MNIST (one sweep each; where one is left out, so is its figure).
    sweep_roles = ("book", "from_zero", "ridge", "mlp")

    def __init__(self, sweeps: list[dict] | None = None, curves: list[str] | None = None,
                 **kwargs):
        """
        Args:
            sweeps: λ sweeps, each {prefix, lambdas, overrides, final, choose} (see Sweep).
            curves: members whose train and validation curves are drawn side by side.
        """
        super().__init__(**kwargs)
        self.sweeps = [Sweep(**sweep) for sweep in sweeps or []]
        roles = [s.role for s in self.sweeps if s.role]
        if unknown := [r for r in roles if r not in self.sweep_roles] or (
                [r for r in roles if roles.count(r) > 1]):
            raise ValueError(f"--study.sweeps: role {unknown[0]!r} is unknown or repeated; a "
                             f"sweep's role is one of {', '.join(self.sweep_roles)}, once each")
        self.curves_of = curves or []

    def named_members(self) -> dict[str, list[str]]:
        return {**super().named_members(), "curves": self.curves_of}

    def sweep(self, role: str) -> Sweep | None:
        """The sweep the YAML gives `role`, if any."""
        return next((s for s in self.sweeps if s.role == role), None)

    def all_members(self) -> dict[str, dict]:
        members = super().all_members() if self.members or self.grid else {}
        for sweep in self.sweeps:
            members.update(sweep.members())
        return members or {"default": {}}

    def is_final(self, name: str) -> bool:
        for sweep in self.sweeps:
            for lam in sweep.lambdas:
                if name == sweep.name(lam):
                    return sweep.is_final(lam)
        return super().is_final(name)

    def member_metrics(self, model: L.LightningModule, data: L.LightningDataModule) -> dict:
        """Besides w_err and b_err: for SGD members the initial ‖w₀‖ and the norm of its
        part that the training inputs cannot see (which only the decay shrinks)."""
        metrics = truth_errors(model, data)
        if hasattr(data, "true_w"):  # the constant predictor: the training labels' mean
            y_train, y_val = data.splits["train"].tensors[1], data.splits["val"].tensors[1]
            metrics["mean_val_loss"] = ((y_val - y_train.mean()) ** 2).mean().item() / 2
        if hasattr(model, "weights") and getattr(model.hparams, "sigma", None) is not None:
            w0 = initial_weights(model)
            X = data.splits["train"].tensors[0]
            metrics |= {"w0_norm": w0.norm().item(),
                        "w0_unseen_norm": unseen_part(w0, X).norm().item()}
        return metrics

    def later_members(self, plan: Plan, results: list[Result]) -> list[Member]:
        """The λ that validation chose, tested: the same fit as its grid point (a closed
        form is solved again on the same data), now a final member."""
        later = []
        for sweep in (s for s in self.sweeps if s.choose):
            lam = sweep.chosen(results)
            if lam is None or sweep.is_final(lam):
                continue
            point = next(m for m in plan.members if m.name == sweep.name(lam))
            name = f"final,{point.name}"
            later.append(dataclasses.replace(point, name=name, folder=plan.folder / name,
                                             final=True))
        return later

    # -- what summary.md says -------------------------------------------------------------

    def headline(self, plan: Plan, results: list[Result]) -> Headline:
        """The book's w_norm beside d2l's (the YAML's `book`), with the val/loss gap and
        what it is made of in a line."""
        ours, book = beside_the_book(plan.experiment.book, results)
        by = {r["member"]: r["metrics"] for r in results if "val/loss" in r["metrics"]}
        (free, decayed), (zero, zero_decayed) = self.role("book_gap"), self.role("from_zero")
        if {free, decayed, zero, zero_decayed} <= by.keys():
            low, high = (settings(plan, name)[1].weight_decay for name in (free, decayed))
            ours += (f"; val/loss {shown(by[free], 'val/loss')} at λ = {low:g} against "
                     f"{shown(by[decayed], 'val/loss')} at λ = {high:g}, from w = 0 "
                     f"{shown(by[zero], 'val/loss')} against "
                     f"{shown(by[zero_decayed], 'val/loss')}")
        return Headline(ours, book, takeaway=(
            "the book's λ = 0 / λ = 3 gap is the initial weights that 20 examples cannot "
            "move, which decay shrinks; where decay helps, validation chooses λ and test "
            "confirms it"))

    def takeaway(self, plan: Plan, results: list[Result]) -> str:
        return " ".join(s for s in (self.gap_sentence(plan, results),
                                    self.optimum_sentence(plan, results)) if s)

    def gap_sentence(self, plan: Plan, results: list[Result]) -> str:
        """What the book's λ = 0 / λ = 3 gap is made of, with its numbers."""
        merged = {r["member"]: r for r in results if "val/loss" in r["metrics"]}
        by = {name: result["metrics"] for name, result in merged.items()}
        (free_name, decayed_name), zero, ridge = (
            self.role(role) for role in ("book_gap", "from_zero", "closed_form"))
        if not {free_name, decayed_name, *zero, *ridge} <= by.keys():
            return ""
        free, decayed = by[free_name], by[decayed_name]
        member, model, data = settings(plan, decayed_name)
        low, lam, lr, T = settings(plan, free_name)[1].weight_decay, model.weight_decay, \
            model.lr, steps(member)
        shrunk = decayed["w0_unseen_norm"] * (1 - lr * lam) ** T
        difference, error = aggregate.difference(merged[zero[0]], merged[zero[1]], "val/loss")
        zero_gap = (f"λ = {low:g} − λ = {lam:g} {pm(difference, error, '+.2g', '.1g')} paired, "
                    + ("beyond noise" if aggregate.beyond_noise(difference, error)
                       else "within noise"))
        return (
            f"The book's gap (val/loss {shown(free, 'val/loss')} at λ = {low:g} against "
            f"{shown(decayed, 'val/loss')} at λ = {lam:g}) is the initialisation, not "
            f"generalisation: with {data.num_train} examples of {data.num_inputs} inputs SGD "
            f"moves w in only {data.num_train} directions, so at λ = {low:g} "
            f"‖w‖ = {shown(free, 'w_norm')} is the initial weights' unseen part "
            f"({free['w0_unseen_norm']:.3g} of ‖w₀‖ = {free['w0_norm']:.3g}), and "
            f"λ = {lam:g} shrinks it by (1 − lr·λ)^{T} to {shrunk:.3g} "
            f"(‖w‖ = {shown(decayed, 'w_norm')}); from w = 0 the same training reaches "
            f"{shown(by[zero[0]], 'val/loss')} (λ = {low:g}) and "
            f"{shown(by[zero[1]], 'val/loss')} (λ = {lam:g}; {zero_gap}), and the closed-form "
            f"fits {shown(by[ridge[0]], 'val/loss')} (min-norm least squares), "
            f"{shown(by[ridge[1]], 'val/loss')} (ridge λ = {lam:g}) and "
            f"{shown(free, 'mean_val_loss')} (predicting the training mean)."
        )

    def optimum(self, results: list[Result]) -> tuple[Sweep, float, dict[float, dict]] | None:
        """The sweep validation chooses from, its chosen λ, and the test results of the
        chosen fit and of the smallest and largest λ, once all three are tested."""
        sweep = next((s for s in self.sweeps if s.choose), None)
        lam = sweep.chosen(results) if sweep else None
        if lam is None:
            return None
        tested = {r["member"]: r for r in results if "test/loss" in r["metrics"]}
        names = {sweep.lambdas[0]: sweep.name(sweep.lambdas[0]),
                 sweep.lambdas[-1]: sweep.name(sweep.lambdas[-1])}
        names[lam] = sweep.name(lam) if sweep.is_final(lam) else f"final,{sweep.name(lam)}"
        if not all(name in tested for name in names.values()):
            return None
        return sweep, lam, {e: tested[name] for e, name in names.items()}

    def optimum_sentence(self, plan: Plan, results: list[Result]) -> str:
        """Where decay helps: the chosen λ against λ = 0 and the largest λ, on test."""
        if (found := self.optimum(results)) is None:
            return ""
        sweep, lam, tested = found
        ends = (sweep.lambdas[0], sweep.lambdas[-1])
        gaps = [aggregate.difference(tested[e], tested[lam], "test/loss") for e in ends]
        member = next(m for m in plan.members if m.name == sweep.name(lam))
        data = member.config.data.init_args
        against = " and ".join(below(f"λ = {end:g}'s", *gap) for end, gap in zip(ends, gaps,
                                                                                 strict=True))
        return (
            f"Where weight decay does help ({data.num_train} examples of {data.num_inputs} "
            f"inputs, noise {data.noise:g}, closed-form ridge, {tested[lam]['seeds']} draws), "
            f"validation chooses λ = {lam:g} of {len(sweep.lambdas)} values from {ends[0]:g} to "
            f"{ends[1]:g}, and on test its loss {shown(tested[lam]['metrics'], 'test/loss')} is "
            f"{against} (paired by draw)."
        )

    def notes(self, plan: Plan, results: list[Result]) -> str:
        penalty = self.role("ways")[0]
        lam = settings(plan, penalty)[1].weight_decay if any(
            m.name == penalty for m in plan.members) else None
        return "\n\n".join(s for s in (self.ways_note(results, lam), self.optimum_note(results),
                                        self.mlp_note(plan, results)) if s)

    def ways_note(self, results: list[Result], lam: float) -> str:
        """The penalty against AdamW at one λ (the `ways` role's two members)."""
        merged = {r["member"]: r for r in results if "w_norm" in r["metrics"]}
        penalty_name, adamw_name = self.role("ways")
        if not {penalty_name, adamw_name} <= set(merged):
            return ""
        penalty, adamw = merged[penalty_name]["metrics"], merged[adamw_name]["metrics"]
        numbers = (f"penalty ‖w‖ {shown(penalty, 'w_norm')}, val/loss "
                   f"{shown(penalty, 'val/loss')}; adamw ‖w‖ {shown(adamw, 'w_norm')}, val/loss "
                   f"{shown(adamw, 'val/loss')}")
        differences = {key: aggregate.difference(merged[adamw_name], merged[penalty_name], key)
                       for key in ("w_norm", "val/loss")}
        said = ", ".join(f"{key} {pm(d, e, '+.3g')}" for key, (d, e) in differences.items())
        if any(aggregate.beyond_noise(*d) for d in differences.values()):
            outcome = (f"Their numbers differ (adamw − penalty, paired by draw: {said}), as "
                       "Adam's steps are about lr per coordinate whatever the gradient: "
                       f"{numbers}.")
        else:
            outcome = (f"At this λ and budget the two end within noise of each other "
                       f"(adamw − penalty, paired by draw: {said}): {numbers}.")
        return (
            f"**Ways to apply weight decay** at the same λ = {lam:g}. *penalty* ({penalty_name}, "
            "the book's "
            "from-scratch way) adds λ/2·‖w‖² to the loss SGD minimizes, so each step also "
            "subtracts lr·λ·w; torch.optim.SGD's `weight_decay` adds λ·w to the gradient, "
            "the very same update for plain SGD (tests/test_weight_decay.py checks a step), "
            "so it is not run again. *adamw* decouples the decay from the gradient "
            "(Loshchilov & Hutter, 2019): Adam divides each coordinate of the gradient by "
            "its running RMS, which would also shrink an L2 penalty's pull on weights with "
            "large gradients; AdamW instead multiplies w by (1 − lr·λ) at each step, apart "
            f"from the Adam update. {outcome}"
        )

    def optimum_note(self, results: list[Result]) -> str:
        if (found := self.optimum(results)) is None:
            return ""
        sweep, lam, _ = found
        return (
            f"**Choosing λ.** The {sweep.prefix.rstrip(',')} members are scored on "
            f"validation only, except λ = {sweep.lambdas[0]:g} and λ = {sweep.lambdas[-1]:g}, "
            "the ends the choice is compared with; the λ with the lowest mean validation "
            f"loss ({lam:g}) is then fitted again as a final member and tested. A closed "
            "form on the same data gives the same fit, so its val/loss repeats the grid "
            "point's: what is new is the test score, which chose nothing."
        )

    def mlp_note(self, plan: Plan, results: list[Result]) -> str:
        sweep = self.sweep("mlp")
        done = sweep.done(results) if sweep else {}
        if len(done) < 2 or not all("test/acc" in r["metrics"] for r in done.values()):
            return ""
        best = min(done, key=lambda lam: done[lam]["metrics"]["val/loss"])
        smallest = min(done)
        change, error = aggregate.difference(done[best], done[smallest], "test/acc")
        verdict = ("better" if change > 0 else "worse") if aggregate.beyond_noise(
            change, error) else "a difference within noise: inconclusive"
        rows = [{"λ": f"{lam:g}", "train/loss": shown(r["metrics"], "train/loss"),
                 "val/loss": shown(r["metrics"], "val/loss"),
                 "test/acc [95% Wilson]": f"{r['metrics']['test/acc']:.4f} "
                                          f"[{r['metrics']['test/acc_lo']:.4f}, "
                                          f"{r['metrics']['test/acc_hi']:.4f}]"}
                for lam, r in sorted(done.items())]
        return "\n".join([
            f"**The MLP** on {images(plan, sweep.name(best))} over {done[best]['seeds']} "
            f"seeds: the lowest mean validation loss is at λ = {best:g}; its test accuracy against "
            f"λ = {smallest:g}'s changes by {pm(change, error, '+.4f')} (paired by seed): "
            f"{verdict}. Every λ is tested here (nothing is chosen from it).", "",
            *report.table(rows)])

    # -- figures --------------------------------------------------------------------------

    def curves(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        drawn = [m for name in self.curves_of for m in plan.members if m.name == name]
        figure = curves_figure([m for m in drawn if m.folder.exists()])
        caption = (f"Train (solid) and validation (dashed) loss by epoch of "
                   f"{', '.join(m.name for m in drawn)} (seed 0)")
        return [report.Figure("curves", caption, figure)] if figure else []

    def figures(self, plan: Plan, results: list[Result]) -> list[report.Figure]:
        figures = []
        book, ridge, zero = self.sweep("book"), self.sweep("ridge"), self.sweep("from_zero")
        if book and ridge and len(book.done(results)) >= 2 and ridge.done(results):
            member = next(m for m in plan.members if m.name == book.name(book.lambdas[0]))
            lr, T = member.config.model.init_args.lr, steps(member)
            caption = ("The book's data: final validation loss (left) and ‖w‖ (right) "
                       "against λ, mean ± se; SGD from N(0, 1) and from 0, the exact ridge "
                       f"path, and the unseen part of w₀ shrunk by (1 − lr·λ)^{T} "
                       f"≈ exp(−lr·λ·{T})")
            figure = book_figure(book.done(results), ridge.done(results),
                                 zero.done(results) if zero else {}, lr, T)
            figures.append(report.Figure("lambda", caption, figure))
        if (found := self.optimum(results)) is not None:
            sweep, lam, tested = found
            caption = (f"Where decay helps ({sweep.prefix.rstrip(',')}): validation loss "
                       "against λ (mean ± se), the chosen λ, and the test loss (± se) of the "
                       "tested fits")
            figures.append(report.Figure("optimum", caption,
                                         optimum_figure(sweep.done(results), lam, tested)))
        mlp = self.sweep("mlp")
        if mlp and len(done := mlp.done(results)) >= 2:
            caption = (f"The MLP on {images(plan, mlp.name(min(done)))}: loss (left, mean ± "
                       "se) and accuracy (right; test with its 95% Wilson interval) against λ")
            figures.append(report.Figure("mlp", caption, mlp_figure(done)))
        return figures


def images(plan: Plan, name: str) -> str:
    """`1000 Fashion-MNIST images`: what member `name` trains on, from its settings."""
    _, _, data = settings(plan, name)
    return f"{data.train_size} Fashion-MNIST images"


def below(what: str, difference: float, error: float) -> str:
    """`below λ = 0's by 0.011 ± 0.0015` where difference (theirs − ours) is beyond two
    standard errors, else `within noise of λ = 0's (+0.001 ± 0.002)`."""
    if aggregate.beyond_noise(difference, error):
        word = "below" if difference > 0 else "above"
        return f"{word} {what} by {pm(abs(difference), error)}"
    return f"within noise of {what} ({pm(difference, error, '+.3g')})"
