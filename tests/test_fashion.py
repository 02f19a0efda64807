"""The Fashion-MNIST studies' comparisons (experiments/studies/fashion.py)."""

from experiments.engine.aggregate import merge_seeds
from experiments.studies.fashion import comparisons


def seeds(name: str, accs: list[float]) -> list[dict]:
    return [{"member": f"{name},seed={i}", "status": "completed", "epochs": 10, "seconds": 1.0,
             "metrics": {"test/acc": acc, "test/examples": 10000}} for i, acc in enumerate(accs)]


def test_a_difference_of_a_few_test_images_is_alike_however_steady():
    # Paired gaps of 3, 2 and 3 images in 10000: far beyond their tiny standard error, yet
    # below the √(p(1 − p)/n) ≈ 0.0038 that 10000 test images resolve.
    results = merge_seeds(seeds("scratch", [0.8263, 0.8302, 0.8213])
                          + seeds("concise", [0.8260, 0.8300, 0.8210]))
    assert "scratch and concise differ by +0.00027, less than the 0.0038" in comparisons(
        results, ["scratch", "concise"])


def test_a_difference_beyond_both_noises_is_called():
    results = merge_seeds(seeds("relu", [0.85, 0.86, 0.84]) + seeds("sigmoid", [0.80, 0.81, 0.79]))
    assert comparisons(results, ["relu", "sigmoid"]).startswith("In test/acc: relu beats sigmoid")
