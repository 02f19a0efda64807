"""LightningDataModules: Fashion-MNIST and synthetic data, held in memory, batched by index."""

from datamodules.batching import EpochBatches, InMemoryDataModule, TensorSplit
from datamodules.fashion_mnist import FashionMNISTDataModule
from datamodules.fashion_mnist_files import CorruptDataError, DataUnavailableError
from datamodules.points import SeparablePoints, XORPoints
from datamodules.polynomial import PolynomialData
from datamodules.polynomial_redraws import PolynomialRedraws
from datamodules.synthetic import HighDimensionalData, LinearRegressionData
from datamodules.wrapped import WrappedData

__all__ = [
    "CorruptDataError",
    "DataUnavailableError",
    "EpochBatches",
    "FashionMNISTDataModule",
    "HighDimensionalData",
    "InMemoryDataModule",
    "LinearRegressionData",
    "PolynomialData",
    "PolynomialRedraws",
    "SeparablePoints",
    "TensorSplit",
    "WrappedData",
    "XORPoints",
]
