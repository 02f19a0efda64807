"""Chapter 11's shared pieces: polynomial members' settings, and the judgement of a
member as underfitting, overfitting or a good fit."""

# How `verdicts` decides, as summary.md states it beside them.
VERDICT_RULE = (
    "**Verdict**: each member beside the best of its group (the lowest val/loss). "
    "*underfitting*: its val/loss is more than 20% above the best's and so is its "
    "train/loss: it fits even its training data worse (too little capacity, or training). "
    "*overfitting*: its val/loss is more than 20% above the best's although its train/loss "
    "is not, or its val/loss is more than 1.5 × its own train/loss: it fits its training "
    "data far better than unseen data. *good fit*: neither."
)


def verdicts(results: list[dict], tolerance: float = 1.2, gap: float = 1.5) -> dict[str, str]:
    """member -> underfitting | overfitting | good fit, as VERDICT_RULE says, against the
    best of `results` (the completed ones)."""
    final = {r["member"]: (r["metrics"]["train/loss"], r["metrics"]["val/loss"])
             for r in results if r["status"] == "completed" and "val/loss" in r["metrics"]}
    if not final:
        return {}
    best_train, best_val = min(final.values(), key=lambda losses: losses[1])
    out = {}
    for member, (train, val) in final.items():
        if val > tolerance * best_val:
            out[member] = "underfitting" if train > tolerance * best_train else "overfitting"
        else:
            out[member] = "overfitting" if val > gap * train else "good fit"
    return out


def with_num_inputs(overrides: dict) -> dict:
    """A member that sets data.degree gets a model over its degree + 1 features x⁰ … xᵈ."""
    if "data.degree" not in overrides:
        return overrides
    return {"model.num_inputs": overrides["data.degree"] + 1, **overrides}
