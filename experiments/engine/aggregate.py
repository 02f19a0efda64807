"""A study's seeds as one result per member: the mean over seeds, its standard error, and
a Wilson interval for test accuracy.

A merged result has the shape of one run's metrics.json, named by the member (`degree=3`),
with the mean of every scalar metric `M` under `M`, its standard error over seeds under
`M_se` (with two or more seeds), `seeds` (how many) and `runs` (the seeds' own results).

Before a sentence says that one member differs from another (and why), it asks `apart`,
`paired_apart` or `beyond_noise`: the one rule every study uses, a difference beyond two
standard errors of the difference, and beyond Student's t 95 % threshold where the
standard error is over few seeds (4.3 standard errors over 3 seeds, 2.8 over 5): a
two-sided t-test at 5 %. Within it, the words are *within noise*, never an explanation.
"""

import math
import statistics
from collections.abc import Callable
from typing import Any, NotRequired, TypedDict

from experiments.engine.plan import SEED_SEPARATOR


class RunResult(TypedDict):
    """One run's result: what its metrics.json holds (runner.member_result)."""

    member: str  # the run's name, `degree=3,seed=2` (plan.SEED_SEPARATOR)
    status: str  # completed, diverged, failed, ...
    epochs: float  # epochs trained (a merged result: their mean where seeds differ)
    seconds: float
    metrics: dict[str, Any]  # metric -> its final value (a list for weights)
    experiment: NotRequired[str]
    code: NotRequired[str]  # the code version that ran it
    message: NotRequired[str]  # why it failed or diverged, where it did
    flag: NotRequired[str]  # "did not learn": diverged with finite numbers (learning.py)


class Result(RunResult):
    """One member's seeds as one result (merge_seeds): named by the member (`degree=3`),
    `metrics` the means over its completed seeds, each `M` with its standard error `M_se`
    (two or more seeds) and a test accuracy with its Wilson interval `test/acc_lo`/`_hi`;
    what every study's takeaways, tables and figures read."""

    seeds: int  # how many seeds it ran
    runs: list[RunResult]  # the seeds' own results, in seed order
    epochs_se: NotRequired[float]  # where seeds stopped early at different epochs


Z95 = 1.959964  # the standard normal's 97.5th percentile: two-sided 95%


# Student's t two-sided 95 % quantiles by degrees of freedom; between two entries the one
# for fewer degrees (the stricter), and 2 beyond the last (t₃₀ = 2.04, z = 1.96).
T95 = {1: 12.71, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306,
       9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042}


class StandardError(float):
    """A standard error that knows how many values it is over: the rule's threshold for a
    difference depends on it (arithmetic on it gives a plain float, judged by 2)."""

    def __new__(cls, value: float, count: int):
        se = super().__new__(cls, value)
        se.count = count
        return se

    def __reduce__(self):  # pickled and copied with its count
        return StandardError, (float(self), self.count)


def threshold(se: float) -> float:
    """How many standard errors a difference must exceed to be called: t at 95 % with
    count − 1 degrees of freedom where `se` knows its count, else 2."""
    count = getattr(se, "count", None)
    if count is None or count - 1 > max(T95):
        return 2.0
    return T95[max(df for df in T95 if df <= count - 1)]


def mean_se(values: list[float]) -> tuple[float, float]:
    """The mean and its standard error (sample std / √n, a StandardError over n values;
    NaN for one value)."""
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return mean, StandardError(se, len(values))


def apart(a: float, a_se: float, b: float, b_se: float) -> bool:
    """Whether means a and b of independent seeds differ by more than two standard errors
    of their difference, √(a_se² + b_se²). Without an error bar (one seed: NaN) nothing is
    apart."""
    return beyond_noise(a - b, math.hypot(a_se, b_se))


def per_seed(result: Result | RunResult, value: Callable[[dict], float]) -> dict[str, float]:
    """seed -> value(its metrics), over a merged result's completed seeds: what pairs."""
    return {run["member"].partition(SEED_SEPARATOR)[2]: value(run["metrics"])
            for run in result.get("runs", [result]) if run["status"] == "completed"}


def paired_difference(a: dict[str, float], b: dict[str, float]) -> tuple[float, float]:
    """Mean and standard error of a − b over the seeds both have (seed -> value): where a
    seed is the same data draw in both members, pairing removes what they share."""
    return mean_se([a[seed] - b[seed] for seed in a if seed in b])


def paired(a: Result, b: Result, value: Callable[[dict], float]) -> tuple[float, float]:
    """Mean and standard error of value(a) − value(b) over the seeds two merged results
    both have, paired by seed (the one pairing rule: by the seed's name, never by position)."""
    return paired_difference(per_seed(a, value), per_seed(b, value))


def paired_apart(a: dict[str, float], b: dict[str, float]) -> bool:
    """`apart` for seeds that pair: the mean difference beyond two of its standard errors."""
    return beyond_noise(*paired_difference(a, b))


def beyond_noise(difference: float, se: float) -> bool:
    """|difference| > threshold(se)·se: two standard errors, Student's t's threshold where
    the standard error is over few seeds; false where se is NaN (no error bar)."""
    return se == se and abs(difference) > threshold(se) * se


def wilson(accuracy: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion `accuracy` observed on `n` examples."""
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def completed(result: Result | RunResult) -> bool:
    """Whether a run, or any seed of a merged result, completed: a merged result's metrics
    are its completed seeds' means (its status then reads e.g. `completed ×4, diverged ×1`)."""
    return "completed" in result["status"]


def merge_seeds(results: list[RunResult]) -> list[Result]:
    """One merged result per member, in the order members first appear."""
    groups: dict[str, list[dict]] = {}
    for result in results:
        groups.setdefault(result["member"].split(SEED_SEPARATOR)[0], []).append(result)
    return [merged(name, runs) for name, runs in groups.items()]


def merged(name: str, runs: list[RunResult]) -> Result:
    statuses = [r["status"] for r in runs]
    status = statuses[0] if len(set(statuses)) == 1 else ", ".join(
        f"{s} ×{statuses.count(s)}" for s in dict.fromkeys(statuses))
    # Scores of completed seeds only: a diverged seed's loss is no number to average.
    done = [r for r in runs if r["status"] == "completed"] or runs
    metrics: dict = {}
    scalars = [k for k, v in done[0]["metrics"].items() if isinstance(v, (int, float))]
    for key in scalars:
        values = [r["metrics"][key] for r in done if r["metrics"].get(key) is not None]
        if not values:
            continue
        if key.endswith("/examples"):  # a count, the same for every seed
            metrics[key] = values[0]
            continue
        metrics[key], se = mean_se(values)
        if len(values) > 1:
            metrics[f"{key}_se"] = se
    for key, value in done[0]["metrics"].items():  # lists (weights) of the first seed
        metrics.setdefault(key, value)
    if "test/acc" in metrics and metrics.get("test/examples"):
        metrics["test/acc_lo"], metrics["test/acc_hi"] = wilson(
            metrics["test/acc"], int(metrics["test/examples"]))
    result = {"member": name, "status": status, **epochs(done),
              "seconds": sum(r.get("seconds", 0) for r in runs), "metrics": metrics,
              "seeds": len(runs), "runs": runs}
    messages = [r["message"] if r["member"] == name else f"{r['member']}: {r['message']}"
                for r in runs if r.get("message")]
    if messages:
        result["message"] = "; ".join(messages)
    return result


def epochs(runs: list[RunResult]) -> dict:
    """{"epochs": N} where every seed trained N epochs; else their mean under `epochs` and
    its standard error under `epochs_se` (seeds stopped early, each at its own epoch), like
    every other column."""
    counts = [r["epochs"] for r in runs]
    if len(set(counts)) == 1:
        return {"epochs": counts[0]}
    mean, se = mean_se(counts)
    return {"epochs": mean, "epochs_se": se}


def difference(a: Result, b: Result, key: str) -> tuple[float, float]:
    """a − b in metric `key` of two merged results, with its standard error over seeds:
    paired by seed where both ran the same seeds (each pair shares its data draw and
    batch order, so the pairs' spread is the noise of the difference), else the difference
    of the means with their standard errors combined. NaN with one seed."""
    seeds_a, seeds_b = (per_seed(r, lambda metrics: metrics.get(key, math.nan)) for r in (a, b))
    if len(seeds_a) > 1 and seeds_a.keys() == seeds_b.keys():
        return paired_difference(seeds_a, seeds_b)
    se = math.hypot(*(r["metrics"].get(f"{key}_se", math.nan) for r in (a, b)))
    return a["metrics"][key] - b["metrics"][key], se
