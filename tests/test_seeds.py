"""A study's seeds: each seeds everything random in its run, and they never collide."""

import torch

from datamodules import EpochBatches
from experiments.engine import config, registry
from experiments.engine.plan import construct


def first_batches_and_weights(*options: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    _, plan = config.plan(registry.load("linear_regression"), [
        "--study.member", "concise", *options])
    out = []
    for member in plan.members:
        model, data, _ = plan.instantiate(member)
        data.setup()
        X, _ = next(iter(data.train_dataloader()))
        out.append((X, model.net.weight.detach().clone()))
    return out


def test_two_seeds_differ_in_initialisation_and_batch_order_but_not_in_data():
    (X0, w0), (X1, w1) = first_batches_and_weights("--study.seeds", "2")
    assert not torch.equal(w0, w1)
    assert not torch.equal(X0, X1)  # another order of the same examples
    (D0, _), (D1, _) = first_batches_and_weights("--study.seeds", "2",
                                                 "--study.seed_data", "true")
    assert not torch.equal(D0, D1)


def test_a_one_seed_run_is_seed_zero_of_a_many_seed_run():
    (X, w), = first_batches_and_weights()
    (X0, w0), _ = first_batches_and_weights("--study.seeds", "2")
    assert torch.equal(X, X0) and torch.equal(w, w0)


def test_an_epochs_order_depends_on_seed_and_epoch_apart():
    def order(seed: int, epoch: int) -> list[int]:
        batches = EpochBatches(100, 100, shuffle=True, seed=seed)
        batches.set_epoch(epoch)
        return next(iter(batches)).tolist()

    # With seed + epoch, seed 1's epoch 0 would replay seed 0's epoch 1.
    assert order(1, 0) != order(0, 1)
    assert order(0, 1) == order(0, 1)


def test_the_run_seed_is_handed_over_not_read_from_the_process():
    _, plan = config.plan(registry.load("linear_regression"), [
        "--study.member", "concise", "--seed", "7"])
    model, data, _ = plan.instantiate(plan.members[0])
    torch.manual_seed(12345)  # whatever the process did since: the run's seed stays
    assert (model.seed, data.order_seed) == (7, 7)
    # Built directly, under a process seed of its own: the documented default, not 12345.
    direct = construct(plan.members[0].config.model), construct(plan.members[0].config.data)
    assert (direct[0].seed, direct[1].order_seed) == (0, 0)
