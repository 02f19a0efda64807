"""Chapter 11's verdicts: train against val scored alike, judged against the noise."""

from experiments.studies import fitting


def member(name: str, *seeds: tuple[float, float], status: str = "completed") -> dict:
    """A merged result with one (train, val) pair per seed."""
    runs = [{"member": f"{name},seed={k}" if len(seeds) > 1 else name, "status": status,
             "metrics": {"train/loss": train, "val/loss": val}}
            for k, (train, val) in enumerate(seeds)]
    return {"member": name, "status": status, "runs": runs}


def test_verdicts_read_each_member_beside_the_best_over_seeds():
    results = [
        member("best", (0.35, 0.40), (0.36, 0.41), (0.34, 0.39)),
        member("small", (0.90, 0.95), (0.92, 0.96), (0.88, 0.94)),  # train above best val
        member("big", (0.05, 0.70), (0.06, 0.72), (0.04, 0.69)),  # val far above own train
        member("close", (0.37, 0.43), (0.38, 0.44), (0.36, 0.42)),  # within 20%
        member("broken", (0.1, 0.1), status="diverged"),
    ]
    assert fitting.verdicts(results) == {
        "best": "good fit", "small": "underfitting", "big": "overfitting", "close": "good fit"}


def test_a_gap_within_two_standard_errors_is_inconclusive():
    # Mean gap 0.3 (above 20% of 0.4) but the seeds disagree: 0.9, −0.2, 0.2.
    results = [member("best", (0.35, 0.40), (0.35, 0.40), (0.35, 0.40)),
               member("noisy", (0.1, 1.0), (0.6, 0.4), (0.2, 0.4))]
    assert fitting.verdicts(results)["noisy"] == "inconclusive"


def test_differences_at_the_noise_floor_are_a_good_fit():
    # Losses of 0.0055 against a best of 0.005 are 10% apart, but with a floor of ½σ² = 0.005
    # that is within tolerance: no degree-19 "underfitting" at the noise floor.
    results = [member("degree=3", (0.0048, 0.0050), (0.0049, 0.0051)),
               member("degree=19", (0.0056, 0.0058), (0.0055, 0.0057))]
    assert fitting.verdicts(results, floor=0.005) == {
        "degree=3": "good fit", "degree=19": "good fit"}


def test_one_seed_says_so():
    results = [member("a", (0.35, 0.4)), member("b", (0.05, 0.9))]
    assert fitting.verdicts(results) == {"a": "good fit (1 seed)", "b": "overfitting (1 seed)"}


def test_ratios_see_an_overfit_whose_losses_spread_over_decades():
    # Val 6× to 1500× train over 5 seeds: the mean difference is one draw's (within its
    # noise), the log ratios agree (t = 5.3 against t₄'s 2.8).
    results = [member("degree=3", (0.0048, 0.0050), (0.0047, 0.0052), (0.0049, 0.0051),
                      (0.0050, 0.0049), (0.0048, 0.0050)),
               member("degree=19", (0.0035, 0.02), (0.0033, 5.0), (0.0036, 0.3),
                      (0.0034, 1.0), (0.0035, 0.5))]
    assert fitting.verdicts(results, floor=0.005)["degree=19"] == "inconclusive"
    assert fitting.verdicts(results, floor=0.005, ratios=True) == {
        "degree=3": "good fit", "degree=19": "overfitting"}
    assert "ratios" in fitting.verdict_rule(0.005, ratios=True)


def test_rise_calls_overfitting_only_above_the_best_val_loss():
    # Every member fits train better than val; only "widest" is also worse than the best.
    results = [
        member("narrow", (1.80, 1.70), (1.75, 1.65), (1.85, 1.75)),  # train above best val
        member("best", (0.90, 1.25), (0.95, 1.30), (1.00, 1.28)),
        member("widest", (0.03, 1.85), (0.04, 1.80), (0.03, 1.95)),
        member("wide", (0.05, 1.20), (0.04, 1.30), (0.05, 1.25)),  # memorises, at the best
        member("noisy", (0.05, 2.60), (0.04, 1.10), (0.05, 1.30)),  # +0.40 mean, within noise
    ]
    # The gap alone; noisy's gaps 2.55, 1.06, 1.25 (t = 3.5 over 3 seeds, below t₂'s 4.3)
    # are no verdict.
    assert fitting.verdicts(results) == {
        "narrow": "underfitting", "best": "overfitting", "widest": "overfitting",
        "wide": "overfitting", "noisy": "inconclusive"}
    assert fitting.verdicts(results, rise=True) == {
        "narrow": "underfitting", "best": "good fit", "widest": "overfitting",
        "wide": "good fit", "noisy": "inconclusive"}
    assert "best member's val/loss" in fitting.verdict_rule(rise=True)
