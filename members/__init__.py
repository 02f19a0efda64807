"""Same-shaped members trained as one: K members of one shape (seeds, folds, λ grids,
dropout rates) under one Trainer, each ending as its one-by-one run would.

For a tiny model a step is bookkeeping, not arithmetic, so K members stacked on a leading
member dim cost about one step each (stacked.py, with layers.py's batched forward and
sgd.py's step); closed-form fits solve each its own under one Trainer (closed_form.py);
group.py is what both share (each member's metrics, divergence, early stopping through
stopping.py); data.py stacks each member's batches. What may differ between members is
declared by their classes (`VARY_WITHIN_GROUP` of modules.FitModule and of the
datamodules). This package imports modules and datamodules; only the engine
(experiments/engine/groups.py) imports it, through the two functions below.
"""

from members.closed_form import ClosedFormGroup
from members.data import StackedData
from members.group import MemberGroup
from members.stacked import StackedMembers

KINDS = (StackedMembers, ClosedFormGroup)


def stackable(model, callbacks: list[tuple[type, dict]]) -> bool:
    """Whether members built like `model`, with these Trainer callbacks of their own (each
    its class and settings, as a config names them), can train as one group (SGD steps or
    a closed form; no callback but one EarlyStopping)."""
    return any(kind.stackable(model) for kind in KINDS) and MemberGroup.stackable_callbacks(
        callbacks)


def stack(models: list, datas: list, same_data: list[int], callbacks: list[tuple[type, dict]]
          ) -> tuple[MemberGroup, StackedData] | None:
    """The members as one group module and its data, set up; None when they cannot train
    as one after all (settings beyond what their classes let vary, splits of unequal
    sizes): they then train one by one. `same_data[k]`: the first member whose data
    settings member k shares (those splits are loaded once)."""
    kind = next(kind for kind in KINDS if kind.stackable(models[0]))
    try:
        group = kind(models, early_stopping=callbacks[0][1] if callbacks else None)
        data = StackedData(datas, same_data=same_data)
    except ValueError:
        return None
    try:
        data.prepare_data()
        data.setup()  # splits of unequal sizes (folds of 100 in 3) cannot stack
    except Exception:  # noqa: BLE001
        # Unequal splits, or data that cannot load (missing, corrupt): one by one, each
        # member's run reports what is wrong with its data as a run that failed.
        return None
    return group, data
