"""Chapter 11's shared pieces: polynomial members' settings, and the judgement of a
member as underfitting, overfitting or a good fit."""

import math
import statistics

from experiments.engine import aggregate
from experiments.engine.aggregate import Result
from experiments.engine.plan import SEED_SEPARATOR, Member, class_of

TOLERANCE = 0.2  # a difference counts when it exceeds 20% of the reference loss
DEGREE_AXIS = "degree of the polynomial (features x⁰ … xᵈ)"  # an x axis's words


def verdict_rule(floor: float = 0.0, ratios: bool = False, rise: bool = False) -> str:
    """How `verdicts` decides, in the words summary.md prints beside them."""
    if rise:
        return (
            "**Verdict**: train and val are scored alike (final weights, eval mode). A member "
            "*underfits* when its train/loss exceeds the best member's val/loss; it *overfits* "
            "when its val/loss exceeds both its own train/loss and the best member's val/loss "
            "(it fits its training set better than new data, and is worse for it than the best "
            f"member): each by more than {TOLERANCE:.0%} of the best val/loss and beyond "
            "a t-test's threshold over seeds (paired by seed: 4.3 standard errors over 3 seeds, "
            "2.8 over 5, about 2 over many). Above that size but within it is *inconclusive*; "
            "otherwise a *good fit*. With one seed there is "
            "no error bar, and the verdict says so."
        )
    if ratios:
        return (
            "**Verdict**: train and val are scored alike (final weights, eval mode) and "
            "compared as ratios, paired by seed. A member *underfits* when its train/loss "
            "exceeds the best member's val/loss, and *overfits* when its val/loss exceeds its "
            f"own train/loss, by a factor above {1 + TOLERANCE:g} (geometric mean over seeds) "
            "and beyond a t-test's threshold for the log ratio (2.8 standard errors over 5 "
            "seeds); a loss below the noise "
            f"floor ½σ² = {floor:.3g} counts as the floor (no fit beats it on average). A "
            "factor above that size but within that threshold is *inconclusive*; "
            "otherwise a *good fit*. Ratios, because these losses spread over orders of "
            "magnitude from one training set to the next: their arithmetic mean is one "
            "draw's, with a standard error as large as itself."
        )
    reference = ("the larger of the best member's val/loss and the noise floor "
                 f"½σ² = {floor:.3g}" if floor else "the best member's val/loss")
    return (
        "**Verdict**: train and val are scored alike (final weights, eval mode). A member "
        "*underfits* when its train/loss exceeds the best member's val/loss, and *overfits* "
        "when its val/loss exceeds its own train/loss, by more than "
        f"{TOLERANCE:.0%} of the reference ({reference}) and by more than two standard "
        "errors over seeds (paired by seed); a difference above that size but within two "
        "standard errors is *inconclusive*; otherwise a *good fit*. With one seed there is "
        "no error bar, and the verdict says so."
    )


def seed_losses(result: Result) -> dict[str, tuple[float, float]]:
    """seed run name's seed part -> (train/loss, val/loss), of the completed seeds."""
    return {run["member"].partition(SEED_SEPARATOR)[2]: (run["metrics"]["train/loss"],
                                                   run["metrics"]["val/loss"])
            for run in result.get("runs", [result])
            if run["status"] == "completed" and "val/loss" in run["metrics"]
            and "train/loss" in run["metrics"]}


def verdicts(results: list[Result], floor: float = 0.0, ratios: bool = False,
             rise: bool = False) -> dict[str, str]:
    """member -> underfitting | overfitting | inconclusive | good fit, as verdict_rule
    says, for merged results (one per member, its seeds under `runs`). `ratios` compares
    log losses (needs floor > 0), for losses that spread over orders of magnitude. `rise`
    calls a member overfitting only if its val/loss also rises above the best member's:
    where every member fits its training set better than new data (a capacity sweep past
    memorisation), the gap alone would call the best one overfitting too."""
    if ratios and floor <= 0:
        raise ValueError(f"comparing ratios needs a noise floor > 0, got {floor}")
    losses = {r["member"]: seeds for r in results if (seeds := seed_losses(r))}
    if not losses:
        return {}
    mean_val = {m: statistics.fmean(v for _, v in s.values()) for m, s in losses.items()}
    best = losses[min(mean_val, key=mean_val.get)]
    if ratios:
        def excess(loss: float, reference: float) -> float:
            return math.log(max(loss, floor)) - math.log(max(reference, floor))
        margin = math.log(1 + TOLERANCE)
    else:
        def excess(loss: float, reference: float) -> float:
            return loss - reference
        margin = TOLERANCE * max(min(mean_val.values()), floor)
    out = {}
    for member, seeds in losses.items():
        paired = [k for k in seeds if k in best]
        underfit = [excess(seeds[k][0], best[k][1]) for k in paired]
        overfit = [[excess(val, train) for train, val in seeds.values()]]
        if rise:
            overfit.append([excess(seeds[k][1], best[k][1]) for k in paired])
        out[member] = judge(underfit, overfit, margin)
    return out


def judge(underfit: list[float], overfit: list[list[float]], margin: float) -> str:
    """The first kind whose every list of differences (paired by seed) averages above the
    margin: that kind if each mean is also beyond its noise (aggregate.beyond_noise), else
    inconclusive."""
    one_seed = " (1 seed)" if len(overfit[0]) == 1 else ""
    for kind, tests in (("underfitting", [underfit]), ("overfitting", overfit)):
        if not all(tests):
            continue
        stats = [aggregate.mean_se(differences) for differences in tests]
        if all(mean > margin for mean, _ in stats):
            significant = all(aggregate.beyond_noise(mean, se) for mean, se in stats)
            return kind + one_seed if one_seed or significant else "inconclusive"
    return "good fit" + one_seed


def with_num_inputs(overrides: dict) -> dict:
    """A member that sets data.degree gets a model over its degree + 1 features x⁰ … xᵈ."""
    if "data.degree" not in overrides:
        return overrides
    return {"model.num_inputs": overrides["data.degree"] + 1, **overrides}


def degree(member: Member) -> int:
    return member.config.data.init_args.degree


def num_train(member: Member) -> int:
    return member.config.data.init_args.num_train


def trained_by_sgd(member: Member) -> bool:
    """Whether the member's model is stepped by SGD, not solved in closed form."""
    return not class_of(member.config.model).solved


def seed_values(result: Result, key: str) -> list[float]:
    return [run["metrics"][key] for run in result["runs"]
            if run["status"] == "completed" and key in run["metrics"]]
