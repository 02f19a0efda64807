"""Your own data as a fitlab datamodule: held in memory and batched as fitlab's own.

fitlab's studies need more of a datamodule than its dataloaders: each split as tensors
in memory (so seeds and folds of one dataset group, and batches are slices of one
permutation), `train/*` scored on the training split like val, `has_test` known before
training, and the batch order drawn from the run's seed. InMemoryDataModule provides
all of that; this class fills it from your data, read once when the run sets up:

- a torch `Dataset` of (X, y) examples: a `TensorDataset` of your tensors (taken as
  they are), or any map-style Dataset (its examples collated once into tensors). The
  validation split is `val_size` of it, held out with `seed`, unless you give `val`.
- a `LightningDataModule`: its train, val and (if it has one) test dataloaders, each
  read once through and concatenated; batches must be (X, y) pairs. What it draws anew
  each epoch (augmentation) is drawn once.

    data:
      class_path: datamodules.WrappedData
      init_args:
        dataset: {class_path: mypkg.data.Blobs, init_args: {num_examples: 600}}
        val_size: 0.5
"""

import math

import lightning as L
import torch
from lightning.pytorch.cli import instantiate_class
from lightning.pytorch.utilities.model_helpers import is_overridden
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, TensorDataset

from datamodules.batching import InMemoryDataModule, TensorSplit, check_arg

Source = Dataset | L.LightningDataModule


def build(source, name: str) -> Source | None:
    """A dataset or datamodule: built from {class_path, init_args} (what a config gives),
    or as given."""
    if isinstance(source, dict):
        source = instantiate_class((), source)
    if source is not None and not isinstance(source, Source):
        raise ValueError(f"{name} must be a torch Dataset or a LightningDataModule, got "
                         f"{type(source).__module__}.{type(source).__name__}")
    return source


def read_once(batches, what: str) -> TensorSplit:
    """Every batch of an iterable of (X, y) batches, concatenated into one split."""
    parts = []
    for batch in batches:
        if not (isinstance(batch, (tuple, list)) and all(isinstance(t, Tensor) for t in batch)):
            raise ValueError(f"{what} gives batches of {type(batch).__name__}; fitlab needs "
                             "(X, y) pairs of tensors")
        parts.append(batch)
    if not parts:
        raise ValueError(f"{what} is empty")
    return TensorSplit(*(torch.cat(tensors) for tensors in zip(*parts, strict=True)))


def as_split(dataset: Dataset, what: str) -> TensorSplit:
    """A Dataset's examples as one split: a TensorDataset's tensors as they are, any other
    map-style Dataset collated once (default_collate, in batches of 1024)."""
    if isinstance(dataset, TensorDataset):
        return TensorSplit(*dataset.tensors)
    if not hasattr(dataset, "__len__"):
        raise ValueError(f"{what} ({type(dataset).__name__}) has no __len__: fitlab needs a "
                         "map-style Dataset (__len__ and __getitem__) to hold it in memory")
    return read_once(DataLoader(dataset, batch_size=1024), what)


class WrappedData(InMemoryDataModule):
    """Your Dataset (split by `val_size` unless `val` is given) or LightningDataModule,
    held in memory (see the module's doc)."""

    def __init__(self, dataset: Source, val: Dataset | None = None,
                 test: Dataset | None = None, val_size: float = 0.2, batch_size: int = 32,
                 seed: int = 0, num_workers: int = 0):
        """
        Args:
            dataset: your data, its class_path and init_args: a torch Dataset of (X, y)
                examples (e.g. a TensorDataset of your tensors), or a LightningDataModule.
            val: the validation examples, if apart; else `val_size` of `dataset`.
            test: the test examples, if any (a LightningDataModule's come from its own
                test_dataloader).
            val_size: the share of `dataset` held out for validation when `val` is not
                given, drawn with `seed`.
        """
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        check_arg("val_size", val_size, 0, 1)
        self.dataset, self.val, self.test = (build(source, name) for source, name in (
            (dataset, "dataset"), (val, "val"), (test, "test")))
        self.val_size = val_size
        if isinstance(self.dataset, L.LightningDataModule):
            if self.val is not None or self.test is not None:
                raise ValueError("val and test come from the LightningDataModule's own "
                                 "dataloaders: leave them out")
            self.has_test = is_overridden("test_dataloader", self.dataset, L.LightningDataModule)
        else:
            self.has_test = self.test is not None

    def load_splits(self) -> dict[str, TensorSplit]:
        if isinstance(self.dataset, L.LightningDataModule):
            return self.datamodule_splits(self.dataset)
        splits = {"train": as_split(self.dataset, "dataset")}
        if self.val is not None:
            splits["val"] = as_split(self.val, "val")
        else:
            splits["train"], splits["val"] = self.held_out(splits["train"])
        if self.test is not None:
            splits["test"] = as_split(self.test, "test")
        return splits

    def held_out(self, examples: TensorSplit) -> tuple[TensorSplit, TensorSplit]:
        """(train, val): `val_size` of the examples drawn with `seed` for validation."""
        num_val = math.ceil(self.val_size * len(examples))
        if not 0 < num_val < len(examples):
            raise ValueError(f"val_size {self.val_size} of {len(examples)} examples leaves "
                             f"{num_val} for validation and {len(examples) - num_val} to train "
                             "on; both need at least one (or give val)")
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(self.seed))
        return (TensorSplit(*examples.__getitems__(order[num_val:])),
                TensorSplit(*examples.__getitems__(order[:num_val])))

    def datamodule_splits(self, datamodule: L.LightningDataModule) -> dict[str, TensorSplit]:
        """The datamodule's own splits, each dataloader read once."""
        name = type(datamodule).__name__
        datamodule.prepare_data()
        stages = {"train": "fit", "val": "validate", "test": "test"}
        splits = {}
        for split, stage in stages.items():
            if split == "test" and not self.has_test:
                continue
            datamodule.setup(stage)
            loaders = getattr(datamodule, f"{split}_dataloader")()
            loaders = loaders if isinstance(loaders, (list, tuple)) else [loaders]
            parts = [read_once(loader, f"{name}.{split}_dataloader()") for loader in loaders]
            splits[split] = TensorSplit(*(torch.cat(t) for t in zip(
                *(p.tensors for p in parts), strict=True)))
        return splits
