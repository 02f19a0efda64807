"""StackedData and StackedBatches (members/data.py): each member's own batch order, dealt
out to the ranks as its one-by-one run deals it."""

import pytest
import torch

from datamodules.batching import EpochBatches
from members.data import StackedBatches


@pytest.mark.parametrize("num_samples", [25, 5])  # 5: each rank has less than one batch
def test_stacked_batches_shard_each_members_order_by_rank(num_samples):
    def orders(rank: int) -> list:
        members = [EpochBatches(num_samples, 4, shuffle=True, seed=s, rank=rank, world_size=2)
                   for s in (0, 1, 2)]
        return members, list(StackedBatches(members, steps=2))

    for rank in (0, 1):
        members, batches = orders(rank)
        assert len(batches) == len(StackedBatches(members, steps=2))
        # Row k of the (S, K, B) batches, in order, is member k's own EpochBatches order.
        for k, member in enumerate(members):
            got = torch.cat([b[:, k].flatten() for b in batches])
            assert torch.equal(got, torch.cat(list(member)))
    covered = torch.cat([torch.cat([b[:, 0].flatten() for b in orders(r)[1]]) for r in (0, 1)])
    assert set(covered.tolist()) == set(range(num_samples))  # every one, padded by wrapping


@pytest.mark.slow  # a subprocess run (or two processes): tens of seconds
def test_under_ddp_a_group_trains_like_one_process_with_the_same_samples_per_step(tmp_path):
    """2 processes with batch 5 each see, step by step, the 10 samples one process with
    batch 10 sees (every member's EpochBatches deals its permutation out to the ranks)."""
    import subprocess
    import sys
    from pathlib import Path

    from stacked_ddp_run import main

    main(1, str(tmp_path / "1.pt"))
    script = Path(__file__).with_name("stacked_ddp_run.py")
    done = subprocess.run([sys.executable, str(script), "2", str(tmp_path / "2.pt")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    results = {n: torch.load(tmp_path / f"{n}.pt", weights_only=True) for n in (1, 2)}
    one, two = results[1], results[2]
    torch.testing.assert_close(two["all"], one["all"], rtol=1e-5, atol=1e-6)
    for tag in ("val/loss", "train/loss"):  # every sample counted once across the ranks
        torch.testing.assert_close(two[tag], one[tag], rtol=1e-5, atol=0)
