import pytest
import torch

from attnreg.data import SequenceSplit, digit_sequence_task


def test_reverse_targets_and_shapes():
    data = digit_sequence_task("reverse", length=6, num_train=300, num_test=50, seed=1)
    assert isinstance(data, SequenceSplit)
    assert data.X_train.shape == data.Y_train.shape == (300, 6)
    assert data.X_test.shape == data.Y_test.shape == (50, 6)
    assert data.X_train.dtype == data.Y_train.dtype == torch.long
    assert torch.equal(data.Y_train[:, 0], data.X_train[:, 5]) and torch.equal(data.Y_test[:, 2], data.X_test[:, 3])
    assert repr(data) == "SequenceSplit(X_train=(300, 6), Y_train=(300, 6), X_test=(50, 6), Y_test=(50, 6))"


def test_sort_targets():
    data = digit_sequence_task("sort", length=8, num_digits=5, num_train=200, num_test=20)
    assert (data.Y_train[:, 1:] >= data.Y_train[:, :-1]).all()
    assert torch.equal(torch.bincount(data.X_train.flatten(), minlength=5), torch.bincount(data.Y_train.flatten(), minlength=5))
    assert data.X_train.min() == 0 and data.X_train.max() == 4


def test_sequences_are_distinct_so_test_sequences_are_unseen():
    # 3 digits, length 5: 243 possible sequences, 230 of them drawn; duplicates are likely without care.
    data = digit_sequence_task(length=5, num_digits=3, num_train=200, num_test=30)
    everything = torch.cat([data.X_train, data.X_test])
    assert len(torch.unique(everything, dim=0)) == 230


def test_same_seed_same_split_other_seed_other_split():
    first, again = digit_sequence_task(num_train=100, num_test=10, seed=3), digit_sequence_task(num_train=100, num_test=10, seed=3)
    other = digit_sequence_task(num_train=100, num_test=10, seed=4)
    assert torch.equal(first.X_train, again.X_train) and torch.equal(first.X_test, again.X_test)
    assert not torch.equal(first.X_train, other.X_train)


def test_digits_are_roughly_uniform():
    data = digit_sequence_task(length=10, num_train=2000, num_test=10)
    frequencies = torch.bincount(data.X_train.flatten(), minlength=10).float() / data.X_train.numel()
    assert torch.allclose(frequencies, torch.full((10,), 0.1), atol=0.01)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"task": "shuffle"}, ValueError, "task must be one of 'reverse', 'sort', got 'shuffle'"),
        ({"length": 1}, ValueError, r"length must be an integer in \[2, inf\], got 1"),
        ({"num_digits": 1}, ValueError, r"num_digits must be an integer in \[2, inf\], got 1"),
        ({"num_train": 0}, ValueError, r"num_train must be an integer in \[1, inf\], got 0"),
        ({"length": 3, "num_digits": 2, "num_train": 6, "num_test": 3}, ValueError,
         r"num_train \+ num_test must be at most num_digits \*\* length = 8 different sequences, got 6 \+ 3 = 9"),
    ],
)
def test_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        digit_sequence_task(**kwargs)
