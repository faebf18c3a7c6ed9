import pytest
import torch

from attnreg.regularization import random_shift


def test_random_shift_moves_each_image_by_its_own_shift_within_range():
    images = torch.zeros(200, 1, 8, 8)
    images[:, 0, 3:5, 3:5] = torch.rand(200, 2, 2) + 0.5   # content away from the border: nothing is cut off
    before = images.clone()
    shifted = random_shift(images, 2, generator=torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape and torch.equal(images, before), "same shape, input untouched"
    seen = set()
    for original, out in zip(images, shifted):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if torch.equal(torch.roll(original, (dy, dx), dims=(-2, -1)), out)]
        assert len(matches) == 1   # a shift of (dy, dx) moves pixel (r, c) to (r + dy, c + dx)
        seen.add(matches[0])
    assert len(seen) == 25, "every shift in {-2, ..., 2}^2 occurs"


def test_random_shift_zero_fills_seeded_batches_and_no_shift():
    images = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).reshape(2, 3, 4, 4) + 1
    assert torch.equal(random_shift(images, 0), images)
    one = random_shift(images, 1, generator=torch.Generator().manual_seed(5))
    again = random_shift(images, 1, generator=torch.Generator().manual_seed(5))
    assert torch.equal(one, again), "a seeded generator gives the same shifts"
    for original, out in zip(images, one):   # the channels move together; pixels shifted in are 0
        kept = out[out != 0]
        assert out.shape == (3, 4, 4) and set(kept.tolist()) <= set(original.flatten().tolist())
        assert (out[0] == 0).sum() in (0, 4, 7) and torch.equal(out[0] == 0, out[2] == 0)
    three_d = random_shift(images[:, 0], 1, generator=torch.Generator().manual_seed(5))
    assert three_d.shape == (2, 4, 4)


def test_random_shift_rejects_bad_input():
    with pytest.raises(TypeError, match="images must be a torch.Tensor, got list"):
        random_shift([[[0.0]]], 1)
    with pytest.raises(ValueError, match=r"images must have at least 3 dimensions, got shape \(5, 784\)"):
        random_shift(torch.zeros(5, 784), 1)
    with pytest.raises(ValueError, match=r"max_shift must be an integer in \[0, 3\], got 4"):
        random_shift(torch.zeros(5, 4, 6), 4)
    with pytest.raises(ValueError, match=r"max_shift must be an integer in \[0, 3\], got -1"):
        random_shift(torch.zeros(5, 4, 6), -1)
    with pytest.raises(TypeError, match="max_shift must be an integer, got 1.5"):
        random_shift(torch.zeros(5, 4, 6), 1.5)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        random_shift(torch.zeros(5, 4, 6), 1, generator=0)
