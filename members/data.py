"""K members' data served together: each step, one batch per member, stacked.

Member k's training order is its own datamodule's (its EpochBatches, its seed), gathered
from its own split: a fold, a subset, noisy labels. Members whose splits hold the same
tensors (seeds of one dataset) share one copy, and when their orders agree too the batch
is gathered once and marked shared with a member dim of 1. Evaluation goes in order,
as InMemoryDataModule's does, in its big batches. Every member sampler shards by rank
itself, so build the Trainer with `use_distributed_sampler=False`, as for one member.
"""

import math

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

from datamodules.batching import (
    EVAL_BATCH_SIZE,
    EpochBatches,
    InMemoryDataModule,
    TensorSplit,
    identity_collate,
)

# Lightning's loop costs more a batch than a tiny model's step, so a training batch carries
# several steps, up to this many examples in all (one step if that is more already).
EXAMPLES_PER_BATCH = 4096


def same_tensors(a: TensorSplit, b: TensorSplit) -> bool:
    """Whether two splits hold equal tensors (compared once, at setup)."""
    return len(a.tensors) == len(b.tensors) and all(
        x is y or (x.shape == y.shape and x.dtype == y.dtype and torch.equal(x, y))
        for x, y in zip(a.tensors, b.tensors, strict=True))


class StackedSplit(Dataset):
    """One split of K members: each tensor (K, N, ...), or (1, N, ...) when all members
    hold the very same TensorSplit.

    An index (K, B) takes row k's indices from member k's tensors; (1, B) the same indices
    from every member's.
    """

    def __init__(self, splits: list[TensorSplit]):
        if len({len(s) for s in splits}) != 1:
            raise ValueError(f"members' splits differ in size: {[len(s) for s in splits]}")
        self.num_members = len(splits)
        self.shared = all(s is splits[0] for s in splits)
        if self.shared:  # a view: no copy of the one split
            self.tensors = tuple(t.unsqueeze(0) for t in splits[0].tensors)
        else:
            self.tensors = tuple(torch.stack(ts) for ts in zip(*(s.tensors for s in splits),
                                                                strict=True))

    def __len__(self) -> int:
        return self.tensors[0].shape[1]

    def to(self, device: torch.device | str) -> "StackedSplit":
        self.tensors = tuple(t.to(device) for t in self.tensors)
        return self

    def __getitems__(self, idx: Tensor) -> tuple[Tensor, ...]:
        """idx (..., K or 1, B) -> each tensor (..., K or 1, B, ...)."""
        idx = idx.to(self.tensors[0].device)
        if self.shared:  # rows of the one copy
            return tuple(t[0].index_select(0, idx.flatten()).view(*idx.shape, *t.shape[2:])
                         for t in self.tensors)
        # Member k's rows k·N + idx[k] of its tensor flattened to (K·N, ...): one gather.
        idx = idx.expand(*idx.shape[:-2], self.num_members, idx.shape[-1])
        offsets = torch.arange(self.num_members, device=idx.device).unsqueeze(1) * len(self)
        flat = (idx + offsets).flatten()
        return tuple(t.flatten(0, 1).index_select(0, flat).view(*idx.shape, *t.shape[2:])
                     for t in self.tensors)


class StackedBatches(Sampler[Tensor]):
    """Index tensors (S, K, B): S steps, and in each member k's next batch of the epoch,
    drawn by its own EpochBatches; (S, 1, B) when every member drew the same order. A
    last, smaller batch comes alone: (1, K or 1, b)."""

    def __init__(self, members: list[EpochBatches], steps: int = 1):
        if len({(len(m), m.batch_size) for m in members}) != 1:
            raise ValueError("members differ in their number of batches or batch size")
        self.members, self.batch_size, self.steps = members, members[0].batch_size, steps

    @property
    def sampler(self) -> "StackedBatches":
        return self  # where Lightning calls set_epoch (see EpochBatches.sampler)

    def set_epoch(self, epoch: int) -> None:
        for member in self.members:
            member.set_epoch(epoch)

    def __iter__(self):
        orders = torch.stack([member.order() for member in self.members])  # (K, n)
        if (orders == orders[0]).all():  # one sync per epoch
            orders = orders[:1]
        full = orders.shape[1] // self.batch_size * self.batch_size
        if full:  # (splitting no steps would still give one, empty, batch)
            steps = orders[:, :full].unflatten(1, (-1, self.batch_size)).transpose(0, 1)
            yield from steps.split(self.steps)  # (S, K or 1, B) each
        if full < orders.shape[1]:
            yield orders[:, full:].unsqueeze(0)

    def __len__(self) -> int:
        member = self.members[0]
        # A shuffled EpochBatches deals every rank ceil(n / world) samples (padded).
        full, rest = divmod(math.ceil(member.num_samples / member.world_size), self.batch_size)
        return math.ceil(full / self.steps) + (rest > 0)


class StackedData(L.LightningDataModule):
    """The datamodules of K members (InMemoryDataModules with equal split sizes) as one.

    `same_data[k]` is the first member whose data settings equal member k's (k itself if
    none, the default for all): only those are set up, and the others take their splits,
    each still drawing its own training order (seeds of one dataset).
    `val_dataloader` gives the validation split and the training split in order
    (dataloader 1): StackedMembers scores it in eval mode as `train/*`.
    """

    def __init__(self, members: list[InMemoryDataModule], same_data: list[int] | None = None):
        super().__init__()
        self.members = members
        self.same_data = same_data or list(range(len(members)))
        self.has_test = members[0].has_test
        self.splits: dict[str, StackedSplit] = {}

    def prepare_data(self) -> None:
        for member in {id(m): m for m in self.members}.values():
            member.prepare_data()

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:
            self.splits = self.load_splits(stage)
        device = self.trainer.strategy.root_device if self.trainer is not None else None
        if device is not None and device.type == "cuda":
            self.splits = {name: split.to(device) for name, split in self.splits.items()}

    def load_splits(self, stage: str | None) -> dict[str, StackedSplit]:
        """Sets up the members with data of their own (see same_data), and keeps one copy
        of the splits members share, so at most two copies of a split are ever in memory.
        Each member's training order is its own datamodule's: whatever it draws, we draw."""
        loaded: list[dict[str, TensorSplit]] = []
        self.orders: list[EpochBatches] = []
        for k, member in enumerate(self.members):
            if self.same_data[k] < k:
                splits = loaded[self.same_data[k]]
            else:
                member.setup(stage)
                splits, member.splits = member.splits, {}  # the stacked copy is kept
                if loaded:
                    splits = {name: loaded[0][name] if same_tensors(loaded[0][name], split)
                              else split for name, split in splits.items()}
            loaded.append(splits)
            self.orders.append(member.train_batches(len(splits["train"])))
        return {name: StackedSplit([s[name] for s in loaded]) for name in loaded[0]}

    def train_dataloader(self) -> DataLoader:
        member = self.orders[0]
        steps = max(1, EXAMPLES_PER_BATCH // (len(self.members) * member.batch_size))
        if member.world_size > 1:
            steps = 1  # DDP expects one backward per forward
        if self.trainer is not None and self.trainer.limit_train_batches != 1.0:
            steps = 1  # a limit (--fast) counts the steps of one member's run
        return DataLoader(self.splits["train"], batch_sampler=StackedBatches(self.orders, steps),
                          collate_fn=identity_collate)

    def val_dataloader(self) -> list[DataLoader]:
        # "train_eval": the training examples each member scores train/* on (batching.py).
        return [self.in_order(name) for name in ("val", "train_eval")]

    def test_dataloader(self) -> DataLoader:
        return self.in_order("test")

    def in_order(self, name: str) -> DataLoader:
        split = self.splits[name]
        batch_size = max(self.members[0].batch_size, EVAL_BATCH_SIZE)  # as InMemoryDataModule
        batches = EpochBatches(len(split), batch_size, shuffle=False)
        # Every member scores the same rows in order: one (1, B) index per batch.
        return DataLoader(split, batch_sampler=OneRow(batches), collate_fn=identity_collate)


class OneRow(Sampler[Tensor]):
    """An index sampler's (B,) tensors as (1, B): the same rows for every member."""

    def __init__(self, batches: EpochBatches):
        self.batches = batches

    def __iter__(self):
        return (idx.unsqueeze(0) for idx in self.batches)

    def __len__(self) -> int:
        return len(self.batches)
