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
