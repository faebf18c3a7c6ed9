"""Where the computations run and how they are made repeatable."""

from __future__ import annotations

import random

import numpy as np
import torch

from ._validation import check_int


def get_device() -> torch.device:
    """Return ``cuda`` when a CUDA GPU is available, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every GPU).

    After ``set_seed(s)`` the same code gives the same numbers on the same CPU. On a GPU it also
    asks cuDNN for deterministic kernels; a few GPU operations remain non-deterministic.
    """
    seed = check_int("seed", seed, minimum=0, maximum=2**32 - 1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def model_device(model: torch.nn.Module, fallback: torch.Tensor | None = None) -> torch.device:
    """The device of ``model``'s first parameter; ``fallback``'s device (else the CPU) for a model without parameters."""
    parameter = next(model.parameters(), None)
    if parameter is not None:
        return parameter.device
    return fallback.device if fallback is not None else torch.device("cpu")
