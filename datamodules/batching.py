"""Batching in-memory tensors by index: the fast path every datamodule shares.

Fashion-MNIST is 47 MB of bytes, so each split is held as one tensor, converted once,
and a batch is one gather per tensor, `X.index_select(0, idx)`. Per-sample `__getitem__` calls plus
`default_collate` would spend most of an epoch on loading, not learning.
"""

import math

import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler

EVAL_BATCH_SIZE = 2048
ORDER_STREAM = 1  # the random stream of an epoch's batch order (a model's dropout uses 0)


def check_arg(name: str, value: int | float, low: int | float, high: int | float | None = None,
              note: str = "") -> None:
    """Raise a ValueError naming the argument and its allowed range."""
    if value >= low and (high is None or value <= high):
        return
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
    raise ValueError(f"{name} must be {allowed}{note}, got {value}")


class TensorSplit(Dataset):
    """One split (e.g. train) as tensors that share their first dimension, e.g. X and y."""

    def __init__(self, *tensors: Tensor):
        if len({len(t) for t in tensors}) != 1:
            raise ValueError(f"tensors differ in length: {[len(t) for t in tensors]}")
        self.tensors = tensors

    @property
    def device(self) -> torch.device:
        return self.tensors[0].device

    def to(self, device: torch.device | str) -> "TensorSplit":
        return TensorSplit(*(t.to(device) for t in self.tensors))

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, i: int) -> tuple[Tensor, ...]:
        return tuple(t[i] for t in self.tensors)

    def __getitems__(self, indices: list[int] | Tensor) -> tuple[Tensor, ...]:
        # The DataLoader hands over a whole batch of indices: gather it in one op per tensor
        # (index_select is ~4x faster than X[idx] on CPU). EpochBatches already yields them on
        # our device, so as_tensor copies only when given a plain list.
        idx = torch.as_tensor(indices, device=self.device)
        return tuple(t.index_select(0, idx) for t in self.tensors)


def identity_collate(batch: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    """`TensorSplit.__getitems__` returns a finished batch; a module-level function pickles
    for worker processes, a lambda would not."""
    return batch


def _distributed_rank_and_world_size() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class EpochBatches(Sampler[Tensor]):
    """A batch sampler that yields index tensors: slices of one index tensor per epoch.

    shuffle=True (training): a new permutation each epoch from a generator seeded with
    (seed, epoch) mixed by numpy's SeedSequence, so a resumed run sees the same order as an
    uninterrupted one and no two seeds share an epoch's order. Under DDP
    it is padded by wrapping around (like DistributedSampler), so every rank gets the same
    number of samples and therefore takes the same number of steps.

    shuffle=False (evaluation): indices in order, and every sample goes to exactly one rank.
    Ranks may then differ by one batch, which is harmless since metrics sync at epoch end.

    It shards by rank itself (rank and world size default to torch.distributed's, read when
    used: a sampler made before DDP starts its processes still shards), so build the Trainer
    with `use_distributed_sampler=False`; under DDP Lightning otherwise stops with a
    TypeError, as it cannot inject its DistributedSampler into this one.
    The permutation is drawn on the CPU, so CPU and GPU runs with one seed see one order.
    """

    def __init__(self, num_samples: int, batch_size: int, shuffle: bool, seed: int = 0,
                 device: torch.device | str = "cpu", rank: int | None = None,
                 world_size: int | None = None):
        check_arg("num_samples", num_samples, 0)
        check_arg("batch_size", batch_size, 1)
        if world_size is not None:
            check_arg("world_size", world_size, 1)
        if rank is not None:
            world = _distributed_rank_and_world_size()[1] if world_size is None else world_size
            check_arg("rank", rank, 0, world - 1)
        self._rank, self._world_size = rank, world_size
        self.num_samples, self.batch_size, self.shuffle = num_samples, batch_size, shuffle
        self.seed, self.device = seed, torch.device(device)
        self.epoch = 0

    @property
    def rank(self) -> int:
        return _distributed_rank_and_world_size()[0] if self._rank is None else self._rank

    @property
    def world_size(self) -> int:
        if self._world_size is None:
            return _distributed_rank_and_world_size()[1]
        return self._world_size

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def sampler(self) -> "EpochBatches":
        # Lightning calls set_epoch on dataloader.sampler and dataloader.batch_sampler.sampler,
        # never on the batch sampler itself (lightning.fabric.utilities.data._set_sampler_epoch);
        # this is how it reaches ours.
        return self

    def order(self) -> Tensor:
        """This rank's indices for the epoch, in order: what the batches are slices of."""
        n, world = self.num_samples, self.world_size
        if self.shuffle:
            mixed = np.random.SeedSequence([self.seed, self.epoch, ORDER_STREAM])
            generator = torch.Generator().manual_seed(int(mixed.generate_state(1)[0]))
            indices = torch.randperm(n, generator=generator)
            if n % world:  # wrap around so ranks get equal shares
                indices = indices[torch.arange(math.ceil(n / world) * world) % n]
        else:
            indices = torch.arange(n)
        return indices[self.rank :: world].to(self.device)

    def __iter__(self):
        # A generator, so the order is drawn at the first batch, not at iter(): Lightning
        # creates a resumed run's first iterator before it calls set_epoch, which would
        # replay epoch 0's order (Lightning issue #21938; with worker processes it still does).
        indices = self.order()
        # An empty tensor would still split into one (empty) batch.
        yield from indices.split(self.batch_size) if len(indices) else ()

    def __len__(self) -> int:
        if self.shuffle:
            rank_samples = math.ceil(self.num_samples / self.world_size)
        else:
            rank_samples = len(range(self.rank, self.num_samples, self.world_size))
        return math.ceil(rank_samples / self.batch_size)


class InMemoryDataModule(L.LightningDataModule):
    """A datamodule whose splits are tensors in memory, batched by EpochBatches.

    `VARY_WITHIN_GROUP`: settings in which the data of members trained together as one group
    may differ (each member's own splits, of one shape: members/data.py).

    Subclasses implement `load_splits()` (returning "train", "val" and optionally "test"
    TensorSplits) and set `has_test`, which the runner reads before calling `trainer.test`.
    `setup()` loads the splits once; on a GPU it moves them to the device once, so no batch
    is copied from the host. Build the Trainer with `use_distributed_sampler=False`.

    `seed` draws the data or the split; the batch order comes from `order_seed`, the run's
    seed (--seed: a study's seeds differ in it), which Plan.instantiate hands over; 0 for a
    module built directly.
    Validation has two dataloaders: val, then the training split scored the same way
    (a fixed subset of it as large as val when it is larger).
    """

    VARY_WITHIN_GROUP: tuple[str, ...] = ("seed",)

    has_test: bool = False

    def __init__(self, batch_size: int, seed: int, num_workers: int = 0):
        """
        Args:
            batch_size: examples per training step (per process under DDP).
            seed: draws the data or the split (the batch order follows the run's --seed).
            num_workers: DataLoader worker processes; 0 suits data held in memory.
        """
        super().__init__()
        check_arg("batch_size", batch_size, 1)
        check_arg("num_workers", num_workers, 0)
        self.batch_size, self.seed, self.num_workers = batch_size, seed, num_workers
        self.order_seed = 0  # the run's seed, set by Plan.instantiate (not an init setting)
        self.splits: dict[str, TensorSplit] = {}

    def load_splits(self) -> dict[str, TensorSplit]:
        raise NotImplementedError

    def setup(self, stage: str | None = None) -> None:
        if not self.splits:  # Lightning calls setup again for test: load only once
            self.splits = self.load_splits()
            self.splits["train_eval"] = self.train_eval_split()
        device = self.trainer.strategy.root_device if self.trainer is not None else None
        if device is not None and device.type == "cuda":
            self.splits = {name: split.to(device) for name, split in self.splits.items()}

    def train_dataloader(self) -> DataLoader:
        return self._dataloader("train", shuffle=True)

    def train_batches(self, num_samples: int, device: torch.device | str = "cpu"
                      ) -> EpochBatches:
        """This module's training order over `num_samples` examples: batches of
        batch_size, a new permutation each epoch from its order seed."""
        return EpochBatches(num_samples, self.batch_size, shuffle=True, seed=self.order_seed,
                            device=device)

    def train_eval_split(self) -> TensorSplit:
        """The training examples that `train/*` is scored on: all of them, or a subset of
        the size of val, drawn once from `seed`."""
        train, size = self.splits["train"], len(self.splits["val"])
        if len(train) <= size:
            return train
        generator = torch.Generator().manual_seed(self.seed)
        subset = torch.randperm(len(train), generator=generator)[:size]
        return TensorSplit(*train.__getitems__(subset))

    def val_dataloader(self) -> list[DataLoader]:
        return [self._dataloader("val", shuffle=False),
                self._dataloader("train_eval", shuffle=False)]

    def test_dataloader(self) -> DataLoader:
        return self._dataloader("test", shuffle=False)

    def _dataloader(self, name: str, shuffle: bool) -> DataLoader:
        if name not in self.splits:
            raise RuntimeError(
                f"{type(self).__name__} has no {name!r} split (it has {sorted(self.splits)}); "
                "call setup() first, and check has_test before trainer.test")
        split = self.splits[name]
        # Evaluation has no steps to take, so it goes in big batches: its numbers are the
        # same (metrics weigh each sample once) and the per-batch overhead is paid rarely.
        batches = self.train_batches(len(split), split.device) if shuffle else EpochBatches(
            len(split), max(self.batch_size, EVAL_BATCH_SIZE), shuffle=False,
            device=split.device)
        # Worker processes cannot share device tensors, and indexing in memory needs none.
        num_workers = self.num_workers if split.device.type == "cpu" else 0
        return DataLoader(split, batch_sampler=batches, collate_fn=identity_collate,
                          num_workers=num_workers, persistent_workers=num_workers > 0)
