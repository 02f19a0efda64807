"""A study's seeds as one result per member: the mean over seeds, its standard error, and
a Wilson interval for test accuracy.

A merged result has the shape of one run's metrics.json, named by the member (`degree=3`),
with the mean of every scalar metric `M` under `M`, its standard error over seeds under
`M_se` (with two or more seeds), `seeds` (how many) and `runs` (the seeds' own results).
"""

import math
import statistics

from experiments.engine.plan import SEED_SEPARATOR

Z95 = 1.959964  # the standard normal's 97.5th percentile: two-sided 95%


def mean_se(values: list[float]) -> tuple[float, float]:
    """The mean and its standard error (sample std / √n; NaN for one value)."""
    mean = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return mean, se


def wilson(accuracy: float, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a proportion `accuracy` observed on `n` examples."""
    centre = (accuracy + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(accuracy * (1 - accuracy) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def merge_seeds(results: list[dict]) -> list[dict]:
    """One merged result per member, in the order members first appear."""
    groups: dict[str, list[dict]] = {}
    for result in results:
        groups.setdefault(result["member"].split(SEED_SEPARATOR)[0], []).append(result)
    return [merged(name, runs) for name, runs in groups.items()]


def merged(name: str, runs: list[dict]) -> dict:
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
    result = {"member": name, "status": status, "epochs": max(r["epochs"] for r in runs),
              "seconds": sum(r.get("seconds", 0) for r in runs), "metrics": metrics,
              "seeds": len(runs), "runs": runs}
    messages = [r["message"] if r["member"] == name else f"{r['member']}: {r['message']}"
                for r in runs if r.get("message")]
    if messages:
        result["message"] = "; ".join(messages)
    return result


def difference(a: dict, b: dict, key: str) -> tuple[float, float]:
    """a − b in metric `key` of two merged results, with its standard error over seeds:
    paired by seed index where both ran the same seeds (each pair shares its batch order,
    so the pairs' spread is the noise of the difference), else the difference of the means
    with their standard errors combined. The standard error is NaN with one seed."""
    def by_seed(result: dict) -> dict[str, float]:
        return {r["member"].rpartition(SEED_SEPARATOR)[2]: r["metrics"][key]
                for r in result.get("runs", [result]) if r["status"] == "completed"
                and isinstance(r["metrics"].get(key), (int, float))}

    seeds_a, seeds_b = by_seed(a), by_seed(b)
    if len(seeds_a) > 1 and seeds_a.keys() == seeds_b.keys():
        return mean_se([seeds_a[s] - seeds_b[s] for s in seeds_a])
    se = math.hypot(*(r["metrics"].get(f"{key}_se", math.nan) for r in (a, b)))
    return a["metrics"][key] - b["metrics"][key], se


def apart(difference: float, se: float) -> bool:
    """Whether a difference is beyond its noise: more than two standard errors. Never with
    one seed (no standard error): such a difference is inconclusive."""
    return abs(difference) > 2 * se  # False when se is NaN
