"""Seeds merged into one result per member: mean, standard error, Wilson interval."""

import math

import numpy as np
import pytest

from experiments.engine.aggregate import (
    apart,
    beyond_noise,
    difference,
    mean_se,
    merge_seeds,
    paired,
    paired_apart,
    paired_difference,
    wilson,
)
from experiments.engine.plan import seed_of


def run(name: str, **metrics) -> dict:
    return {"member": name, "status": "completed", "epochs": 3, "seconds": 1.0,
            "metrics": metrics}


def test_mean_and_standard_error_match_a_hand_computation():
    # mean 2; sample variance ((−1)² + 0² + 1²) / 2 = 1; se = 1 / √3
    assert mean_se([1.0, 2.0, 3.0]) == pytest.approx((2.0, 1 / math.sqrt(3)))
    mean, se = mean_se([0.5])
    assert mean == 0.5 and math.isnan(se)


def test_wilson_interval_matches_a_hand_computation():
    # 80 of 100: centre (0.8 + z²/200) / (1 + z²/100),
    # half-width z / (1 + z²/100) · √(0.8·0.2/100 + z²/40000)
    z = 1.959964
    centre = (0.8 + z * z / 200) / (1 + z * z / 100)
    half = z / (1 + z * z / 100) * math.sqrt(0.8 * 0.2 / 100 + z * z / 40000)
    assert wilson(0.8, 100) == pytest.approx((centre - half, centre + half))
    assert wilson(0.8, 100) == pytest.approx((0.7112, 0.8666), abs=1e-4)  # tables' value
    low, high = wilson(1.0, 50)  # never past 1, unlike the normal approximation
    assert high == pytest.approx(1.0) and low < 1.0


def test_seeds_merge_into_one_row_per_member_with_mean_se_and_count():
    runs = [run("wd=3,seed=0", **{"val/loss": 1.0, "test/acc": 0.8, "test/examples": 100}),
            run("wd=3,seed=1", **{"val/loss": 3.0, "test/acc": 0.9, "test/examples": 100}),
            run("wd=0", **{"val/loss": 5.0})]
    merged, single = merge_seeds(runs)
    assert merged["member"] == "wd=3" and merged["seeds"] == 2
    assert merged["metrics"]["val/loss"] == 2.0
    assert merged["metrics"]["val/loss_se"] == pytest.approx(1.0)  # std √2 / √2
    assert merged["metrics"]["test/examples"] == 100
    assert (merged["metrics"]["test/acc_lo"], merged["metrics"]["test/acc_hi"]) == \
        pytest.approx(wilson(0.85, 100))
    assert single["seeds"] == 1 and "val/loss_se" not in single["metrics"]


def test_a_diverged_seed_is_reported_but_not_averaged():
    broken = {**run("a,seed=1", **{"val/loss": float("nan")}), "status": "diverged"}
    (merged,) = merge_seeds([run("a,seed=0", **{"val/loss": 1.0}), broken])
    assert merged["status"] == "completed ×1, diverged ×1"
    assert merged["metrics"]["val/loss"] == 1.0


def test_seeds_never_collide_and_seed_zero_is_the_run_seed_itself():
    seeds = {seed_of(base, k) for base in range(50) for k in range(1, 20)}
    assert len(seeds) == 50 * 19
    assert seed_of(7, 0) == 7


def test_apart_is_beyond_two_standard_errors_of_the_difference():
    # se of the difference √(0.3² + 0.4²) = 0.5: a gap of 1.01 is apart, 0.99 is not.
    assert apart(2.01, 0.3, 1.0, 0.4) and apart(1.0, 0.4, 2.01, 0.3)
    assert not apart(1.99, 0.3, 1.0, 0.4)
    # The example: AdamW 0.0801 ± 0.0061 against the penalty's 0.0904 ± 0.014.
    assert not apart(0.0801, 0.0061, 0.0904, 0.014)
    assert not apart(5.0, math.nan, 1.0, 0.1)  # one seed: no error bar, nothing is apart


def test_paired_seeds_are_apart_where_their_differences_are():
    # Each seed a different level shared by both members: unpaired they overlap, paired
    # the differences 1.0, 1.1, 0.9 (mean 1, se 0.1/√3) are far beyond noise.
    a = {"0": 11.0, "1": 21.1, "2": 30.9}
    b = {"0": 10.0, "1": 20.0, "2": 30.0}
    assert paired_difference(a, b) == pytest.approx((1.0, 0.1 / math.sqrt(3)))
    assert paired_apart(a, b)
    assert not apart(*mean_se(list(a.values())), *mean_se(list(b.values())))
    assert not paired_apart({"0": 1.0, "1": 2.0}, {"0": 1.5, "1": 1.5})  # ±0.5: mean 0
    assert paired_difference({"0": 1.0, "3": 4.0}, {"3": 1.0, "7": 0.0})[0] == 3.0  # shared seeds


def test_epochs_of_seeds_stopped_at_different_epochs_are_a_mean_with_its_error():
    runs = [{**run("m,seed=0"), "epochs": 10}, {**run("m,seed=1"), "epochs": 20},
            {**run("m,seed=2"), "epochs": 30}]
    merged = merge_seeds(runs)[0]
    assert merged["epochs"] == 20 and merged["epochs_se"] == pytest.approx(10 / math.sqrt(3))
    same = merge_seeds([run("n,seed=0"), run("n,seed=1")])[0]
    assert same["epochs"] == 3 and isinstance(same["epochs"], int) and "epochs_se" not in same


def seeded(name: str, values: list[float]) -> dict:
    return merge_seeds([run(f"{name},seed={i}", **{"val/acc": v}) for i, v in enumerate(values)])[0]


def test_a_difference_pairs_seeds_and_its_standard_error_is_the_pairs_spread():
    # Paired differences 0.1, 0.2, 0.3: mean 0.2, se = stdev / √3 = 0.1 / √3 ≈ 0.058.
    a, b = seeded("a", [1.1, 2.2, 3.3]), seeded("b", [1.0, 2.0, 3.0])
    assert difference(a, b, "val/acc") == pytest.approx((0.2, 0.1 / math.sqrt(3)))
    # t = 3.5: beyond two standard errors, not beyond t₂'s 4.30 (a t-test over 3 seeds).
    assert not beyond_noise(*difference(a, b, "val/acc"))
    # Differences 0.1, 0.2, 0.3, 0.2, 0.2 over 5 seeds: t = 6.3 beyond t₄'s 2.78.
    five = seeded("a", [1.1, 2.2, 3.3, 4.2, 5.2]), seeded("b", [1.0, 2.0, 3.0, 4.0, 5.0])
    assert beyond_noise(*difference(*five, "val/acc"))
    # Other seeds do not pair: the means' difference, their standard errors combined.
    c = seeded("c", [1.0, 2.0])
    d, se = difference(a, c, "val/acc")
    assert d == pytest.approx(2.2 - 1.5)
    assert se == pytest.approx(math.hypot(a["metrics"]["val/acc_se"], c["metrics"]["val/acc_se"]))
    assert not beyond_noise(d, se)


def test_one_seed_is_never_beyond_noise():
    one, other = seeded("a", [0.9]), seeded("b", [0.1])
    assert not beyond_noise(*difference(one, other, "val/acc"))


def test_the_rule_calls_about_one_in_twenty_differences_that_are_not_there():
    # Two members with the same true mean and a noise shared per seed (the batch order): the
    # rule's false alarms are P(|t₂₉| > 2.045) = 0.05, and the shared part cancels in pairs.
    rng = np.random.default_rng(0)
    alarms = 0
    for _ in range(2000):
        shared = rng.normal(0, 1.0, 30)
        a = seeded("a", list(shared + rng.normal(0, 0.01, 30)))
        b = seeded("b", list(shared + rng.normal(0, 0.01, 30)))
        alarms += beyond_noise(*difference(a, b, "val/acc"))
    assert 0.035 < alarms / 2000 < 0.07
    # A true difference of 0.02 (two noise units of each seed) is found every time.
    a = seeded("a", list(shared + 0.02 + rng.normal(0, 0.01, 30)))
    assert beyond_noise(*difference(a, b, "val/acc"))


def test_the_rule_is_a_t_test_at_five_percent_over_few_seeds():
    # Over 3 seeds the t₂ threshold: of 20000 pairs with no true difference, about 5 % are
    # called (2 standard errors would call 18 %, P(|t₂| > 2)).
    rng = np.random.default_rng(1)
    called = sum(beyond_noise(*mean_se(list(rng.normal(0, 1, 3)))) for _ in range(20000))
    assert 0.04 < called / 20000 < 0.06


def test_seeds_pair_by_their_name_not_their_position():
    # b's seeds listed in another order: pairing by name gives each pair's own difference.
    def result(member, values, order):
        runs = [{"member": f"{member},seed={k}", "status": "completed",
                 "metrics": {"loss": values[k]}} for k in order]
        return {"member": member, "runs": runs, "metrics": {}}

    a = result("a", [1.0, 2.0, 4.0], [0, 1, 2])
    b = result("b", [0.5, 1.5, 3.5], [2, 0, 1])
    difference, se = paired(a, b, lambda metrics: metrics["loss"])
    assert difference == pytest.approx(0.5) and se == pytest.approx(0.0)
