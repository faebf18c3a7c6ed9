"""Synthetic sequence-to-sequence tasks on digit sequences, generated in code."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._validation import check_choice, check_int

SEQUENCE_TASKS = ("reverse", "sort")


@dataclass(frozen=True)
class SequenceSplit:
    """Token sequences ``X`` (int64, ``(count, length)``) and the target token at every position ``Y``."""

    X_train: torch.Tensor
    Y_train: torch.Tensor
    X_test: torch.Tensor
    Y_test: torch.Tensor

    def __repr__(self) -> str:
        shapes = ", ".join(f"{name}={tuple(getattr(self, name).shape)}" for name in ("X_train", "Y_train", "X_test", "Y_test"))
        return f"SequenceSplit({shapes})"


def _distinct_sequences(count: int, length: int, num_digits: int, generator: torch.Generator) -> torch.Tensor:
    """``count`` different sequences of ``length`` digits in ``[0, num_digits)``, in random order."""
    sequences = torch.empty(0, length, dtype=torch.long)
    while len(sequences) < count:
        draws = torch.randint(num_digits, (count, length), generator=generator)
        sequences = torch.unique(torch.cat([sequences, draws]), dim=0)  # sorted rows, duplicates dropped
    return sequences[torch.randperm(len(sequences), generator=generator)[:count]]


def digit_sequence_task(
    task: str = "reverse",
    *,
    length: int = 10,
    num_digits: int = 10,
    num_train: int = 10_000,
    num_test: int = 2_000,
    seed: int = 0,
) -> SequenceSplit:
    """Uniformly random digit sequences and their targets, position by position.

    ``task="reverse"``: ``Y[:, i] = X[:, length - 1 - i]``; ``task="sort"``: ``Y`` is ``X`` sorted
    in increasing order. All ``num_train + num_test`` input sequences are different, so no test
    sequence was seen in training. The same ``seed`` gives the same split on every machine.
    """
    task = check_choice("task", task, SEQUENCE_TASKS)
    length = check_int("length", length, minimum=2)
    num_digits = check_int("num_digits", num_digits, minimum=2)
    num_train = check_int("num_train", num_train, minimum=1)
    num_test = check_int("num_test", num_test, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    possible = num_digits ** length
    if num_train + num_test > possible:
        raise ValueError(f"num_train + num_test must be at most num_digits ** length = {possible} different sequences, "
                         f"got {num_train} + {num_test} = {num_train + num_test}")
    X = _distinct_sequences(num_train + num_test, length, num_digits, torch.Generator().manual_seed(seed))
    Y = X.flip(dims=[1]) if task == "reverse" else X.sort(dim=1).values
    return SequenceSplit(X[:num_train], Y[:num_train], X[num_train:], Y[num_train:])
