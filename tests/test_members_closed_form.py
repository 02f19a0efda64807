"""ClosedFormGroup (members/closed_form.py): closed-form fits solved under one Trainer."""

import lightning as L
import pytest
from member_runs import TRAINER, build

from datamodules import PolynomialData
from members.closed_form import ClosedFormGroup
from members.data import StackedData
from modules import LeastSquares


def test_a_closed_form_group_refuses_a_training_split_of_several_batches():
    # 200 examples in batches of 100: alone, each member refuses; stacked, the two steps
    # would come in one batch, and solving on the first alone would be wrong.
    members = [build(seed, LeastSquares, dict(num_inputs=4),
                     PolynomialData, dict(degree=3, batch_size=100, num_train=200))
               for seed in range(2)]
    group = ClosedFormGroup([model for model, _ in members])
    with pytest.raises(ValueError, match="whole training split at once"):
        L.Trainer(**TRAINER, max_epochs=1).fit(
            group, datamodule=StackedData([data for _, data in members]))
