"""Data for the course: generated in code or embedded, with full image sets as an opt-in download."""

from .mnist import (
    FASHION_MNIST_CLASSES,
    SUBSET_SPLIT_SEED,
    DataUnavailableError,
    ImageSplit,
    data_root,
    load_fashion_mnist,
    load_mnist,
    load_mnist_subset,
    parse_idx,
)
from .sequences import SEQUENCE_TASKS, SequenceSplit, digit_sequence_task
from .synthetic import synthetic_regression

__all__ = [
    "FASHION_MNIST_CLASSES",
    "SUBSET_SPLIT_SEED",
    "DataUnavailableError",
    "ImageSplit",
    "data_root",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_subset",
    "parse_idx",
    "SEQUENCE_TASKS",
    "SequenceSplit",
    "digit_sequence_task",
    "synthetic_regression",
]
