"""Fashion-MNIST (d2l 4.2) as three in-memory splits: train, val (held out) and test."""

import torch
from torch import Tensor
from torchvision.datasets import FashionMNIST
from torchvision.datasets.mnist import read_image_file, read_label_file

from datamodules.batching import InMemoryDataModule, TensorSplit, check_arg
from datamodules.fashion_mnist_files import prepare_raw_files, raw_folder, verified

NUM_TRAIN_IMAGES = 60000


class FashionMNISTDataModule(InMemoryDataModule):
    """28x28 grey images of 10 kinds of clothing: X (N, 1, 28, 28) float32 in [0, 1], y int64.

    val holds `val_size` of the 60000 official training images, drawn by a permutation
    seeded with `seed`; train is the rest, or the first `train_size` of the rest; test is
    the official 10000. `source_indices` says which training images went where.
    """

    classes = FashionMNIST.classes
    num_inputs = 784
    num_classes = 10
    has_test = True

    def __init__(self, data_dir: str = "data", batch_size: int = 256, val_size: int = 10000,
                 train_size: int | None = None, seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        check_arg("val_size", val_size, 1, NUM_TRAIN_IMAGES - 1,
                  note=f" (smaller than the {NUM_TRAIN_IMAGES} training images)")
        if train_size is not None:
            check_arg("train_size", train_size, 1, NUM_TRAIN_IMAGES - val_size,
                      note=f" (the training images left after val_size={val_size}), or None")
        self.data_dir, self.val_size, self.train_size = data_dir, val_size, train_size
        self.source_indices: dict[str, Tensor] = {}

    def prepare_data(self) -> None:
        prepare_raw_files(self.data_dir)  # Lightning runs this on one process per node

    def load_splits(self) -> dict[str, TensorSplit]:
        images, labels = self._read("train")
        generator = torch.Generator().manual_seed(self.seed)
        perm = torch.randperm(NUM_TRAIN_IMAGES, generator=generator)
        self.source_indices = {
            "val": perm[: self.val_size],
            "train": perm[self.val_size :][: self.train_size],  # [:None] keeps them all
        }
        splits = {name: TensorSplit(_to_X(images[idx]), labels[idx])
                  for name, idx in self.source_indices.items()}
        test_images, test_labels = self._read("t10k")
        splits["test"] = TensorSplit(_to_X(test_images), test_labels)
        return splits

    def _read(self, prefix: str) -> tuple[Tensor, Tensor]:
        """Images (N, 28, 28) uint8 and labels (N,) int64 of the "train" or "t10k" files."""
        raw = raw_folder(self.data_dir)
        images = read_image_file(str(verified(raw / f"{prefix}-images-idx3-ubyte")))
        labels = read_label_file(str(verified(raw / f"{prefix}-labels-idx1-ubyte")))
        return images, labels


def _to_X(images: Tensor) -> Tensor:
    """uint8 (N, 28, 28) -> float32 (N, 1, 28, 28) in [0, 1], as ToTensor would, but at once."""
    return images.unsqueeze(1).float().div_(255)
