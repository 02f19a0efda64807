"""LightningModules, one file per model family (d2l chapters 3–5)."""

from modules.base import Classifier, DivergedError, FitModule, Regressor
from modules.least_squares import LeastSquares
from modules.linear_regression import LinearRegression
from modules.mlp import MLP
from modules.perceptron import Perceptron
from modules.random_features import RandomFeatures
from modules.softmax_regression import SoftmaxRegression
from modules.wrapped import WrappedClassifier, WrappedRegressor

__all__ = [
    "Classifier",
    "DivergedError",
    "FitModule",
    "LeastSquares",
    "LinearRegression",
    "MLP",
    "Perceptron",
    "RandomFeatures",
    "Regressor",
    "SoftmaxRegression",
    "WrappedClassifier",
    "WrappedRegressor",
]
