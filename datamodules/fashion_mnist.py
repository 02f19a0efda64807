"""Fashion-MNIST (d2l 4.2) as three in-memory splits: train, val (held out) and test."""

import functools
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.datasets import FashionMNIST
from torchvision.datasets.mnist import read_image_file, read_label_file

from datamodules.batching import InMemoryDataModule, TensorSplit, check_arg
from datamodules.fashion_mnist_files import (
    prepare_raw_files,
    raw_folder,
    stamp,
    verified,
)

NUM_TRAIN_IMAGES = 60000
SIDE = 28  # pixels a side
NOISE_STREAM = 2  # the random stream of label noise (the split's permutation uses the seed)


class FashionMNISTDataModule(InMemoryDataModule):
    """28x28 grey images of 10 kinds of clothing: X (N, 1, 28, 28) float32 in [0, 1], y int64.

    `resize` (d2l 4.2's argument, one side here) shrinks them to resize x resize by
    averaging the pixels each new one covers: 7 gives 4x4 blocks, 49 inputs.

    val holds `val_size` of the 60000 official training images, drawn by a permutation
    seeded with `seed`; train is the rest, or the first `train_size` of the rest; test is
    the official 10000. `source_indices` says which training images went where.

    `label_noise` makes that fraction of the training split's labels wrong (Zhang et al.
    2017): round(label_noise * len(train)) of its images, drawn from `seed`, each get a
    class drawn uniformly from the 9 other classes. val and test keep their true labels,
    so a net that memorises the wrong ones pays for it on validation.

    Args:
        data_dir: the folder that holds (or receives) FashionMNIST/raw/.
        val_size: training images held out for validation.
        train_size: training images used (None: all left after val_size).
        resize: pixels a side after averaging (28: the original size).
        label_noise: the fraction of training labels made wrong (0 to 1).
    """

    classes = FashionMNIST.classes
    num_inputs = SIDE * SIDE  # resize² once built
    num_classes = 10
    has_test = True

    def __init__(self, data_dir: str = "data", batch_size: int = 256, val_size: int = 10000,
                 train_size: int | None = None, resize: int = SIDE, label_noise: float = 0.0,
                 seed: int = 0, num_workers: int = 0):
        super().__init__(batch_size=batch_size, seed=seed, num_workers=num_workers)
        check_arg("val_size", val_size, 1, NUM_TRAIN_IMAGES - 1,
                  note=f" (smaller than the {NUM_TRAIN_IMAGES} training images)")
        if train_size is not None:
            check_arg("train_size", train_size, 1, NUM_TRAIN_IMAGES - val_size,
                      note=f" (the training images left after val_size={val_size}), or None")
        check_arg("resize", resize, 1, SIDE, note=" (pixels a side)")
        check_arg("label_noise", label_noise, 0.0, 1.0, note=" (the fraction of wrong labels)")
        self.data_dir, self.val_size, self.train_size = data_dir, val_size, train_size
        self.resize, self.label_noise = resize, label_noise
        self.num_inputs = resize * resize
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
        splits = {name: TensorSplit(self._to_X(images[idx]), labels[idx])
                  for name, idx in self.source_indices.items()}
        if self.label_noise:
            X, y = splits["train"].tensors
            splits["train"] = TensorSplit(X, self.noisy(y))
        test_images, test_labels = self._read("t10k")
        splits["test"] = TensorSplit(self._to_X(test_images), test_labels.clone())
        return splits

    def noisy(self, y: Tensor) -> Tensor:
        """A copy of the labels y with round(label_noise * len(y)) of them, drawn from the
        seed's own stream, moved to a uniformly random other class."""
        mixed = np.random.SeedSequence([self.seed, NOISE_STREAM])
        generator = torch.Generator().manual_seed(int(mixed.generate_state(1)[0]))
        wrong = torch.randperm(len(y), generator=generator)[: round(self.label_noise * len(y))]
        shift = torch.randint(1, self.num_classes, (len(wrong),), generator=generator)
        y = y.clone()
        y[wrong] = (y[wrong] + shift) % self.num_classes  # never the true class
        return y

    def _to_X(self, images: Tensor) -> Tensor:
        """uint8 (N, 28, 28) -> float32 (N, 1, resize, resize) in [0, 1], as ToTensor (and
        Resize) would, but at once."""
        X = images.unsqueeze(1).float().div_(255)
        if self.resize == SIDE:
            return X
        return F.interpolate(X, size=(self.resize, self.resize), mode="area")

    def _read(self, prefix: str) -> tuple[Tensor, Tensor]:
        """Images (N, 28, 28) uint8 and labels (N,) int64 of the "train" or "t10k" files,
        shared: not to be changed in place."""
        raw = raw_folder(self.data_dir)
        files = [verified(raw / f"{prefix}-{kind}") for kind in ("images-idx3-ubyte",
                                                                 "labels-idx1-ubyte")]
        return decoded(*files, stamps=tuple(map(stamp, files)))


# A study's members read the same files again and again, and decoding the 60000 training
# images took ~0.3 s each time: the process keeps the last files it decoded (55 MB for
# train and test), as long as they are unchanged.
@functools.lru_cache(maxsize=2)
def decoded(images: Path, labels: Path, stamps: tuple) -> tuple[Tensor, Tensor]:
    return read_image_file(str(images)), read_label_file(str(labels))
