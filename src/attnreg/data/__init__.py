"""Data for the course: generated in code or embedded, with full image sets as an opt-in download."""

from .dates import DATE_FORMATS, CharVocab, DateTranslation, SequencePairs, format_date, load_dates, random_dates
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
from .polynomial import polynomial_data
from .sequences import SEQUENCE_TASKS, SequenceSplit, digit_sequence_task
from .synthetic import sine_regression, synthetic_regression

__all__ = [
    "DATE_FORMATS",
    "CharVocab",
    "DateTranslation",
    "SequencePairs",
    "format_date",
    "load_dates",
    "random_dates",
    "FASHION_MNIST_CLASSES",
    "SUBSET_SPLIT_SEED",
    "DataUnavailableError",
    "ImageSplit",
    "data_root",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist_subset",
    "parse_idx",
    "polynomial_data",
    "SEQUENCE_TASKS",
    "SequenceSplit",
    "digit_sequence_task",
    "sine_regression",
    "synthetic_regression",
]
