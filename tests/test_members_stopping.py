"""MemberEarlyStopping (members/stopping.py) pinned to Lightning's EarlyStopping: each
group member stops at the epoch its one-by-one run with the callback stops, and a group
takes only the callback settings it decides as Lightning does."""

import lightning as L
import pytest
from lightning.pytorch.callbacks import EarlyStopping
from member_runs import TRAINER, assert_same, polynomial_members, stacked

from members.stopping import follows


@pytest.mark.parametrize("every", [1, 2])  # validation every epoch, every second epoch
def test_early_stopping_stops_each_member_where_its_one_by_one_run_stops(every):
    # Improvements below min_delta do not count: the seeds' own data and starts run out of
    # patience at different epochs.
    variants = [{"seed": s, "data": {"seed": s}} for s in range(3)]
    args = dict(max_epochs=40, check_val_every_n_epoch=every)
    settings = dict(monitor="val/loss", patience=2, min_delta=0.1 / every)
    group = stacked(polynomial_members(variants), early_stopping=settings, **args)
    references = []
    for model, data in polynomial_members(variants):
        alone = L.Trainer(**TRAINER, **args, callbacks=[EarlyStopping(**settings)])
        alone.fit(model, datamodule=data)
        references.append({"metrics": dict(alone.callback_metrics), "model": model,
                           "data": data, "epochs": alone.current_epoch})
    epochs = [group.member_epochs(k) for k in range(len(variants))]
    assert epochs == [ref["epochs"] for ref in references]
    assert len(set(epochs)) > 1 and max(epochs) < 40  # they stop, and not together
    assert group.divergence(0) is None
    assert_same(group, references)


def test_only_settings_decided_as_lightning_decides_them_train_as_a_group():
    assert follows(EarlyStopping, {"monitor": "val/loss", "check_on_train_epoch_end": None})
    assert follows(EarlyStopping, {"monitor": "val/loss", "check_on_train_epoch_end": False})
    # Checked after every training epoch, it would count epochs without a validation too.
    assert not follows(EarlyStopping, {"monitor": "val/loss",
                                       "check_on_train_epoch_end": True})
    assert not follows(EarlyStopping, {"monitor": "val/loss", "stopping_threshold": 0.1})
    assert not follows(EarlyStopping, {"monitor": "val/loss", "divergence_threshold": 9.0})
    assert not follows(type("MyStopping", (EarlyStopping,), {}), {"monitor": "val/loss"})
