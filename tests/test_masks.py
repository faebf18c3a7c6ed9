import pytest
import torch

from attnreg.attention import causal_mask, padding_mask, window_mask


def test_causal_mask_is_lower_triangular():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool
    assert torch.equal(mask, torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool))


def test_causal_mask_matches_pytorch_convention():
    # PyTorch's float causal mask has -inf above the diagonal: where ours is False.
    reference = torch.nn.Transformer.generate_square_subsequent_mask(5)
    assert torch.equal(causal_mask(5), reference == 0)


def test_padding_mask():
    mask = padding_mask(torch.tensor([3, 1, 0]), max_len=4)
    assert torch.equal(mask, torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=torch.bool))
    assert padding_mask(torch.tensor([2, 5])).shape == (2, 5)


def test_window_mask():
    mask = window_mask(4, 5, window=1)
    assert torch.equal(mask[1], torch.tensor([1, 1, 1, 0, 0], dtype=torch.bool))
    assert torch.equal(mask[3], torch.tensor([0, 0, 1, 1, 1], dtype=torch.bool))
    assert window_mask(3, 3, 0).equal(torch.eye(3, dtype=torch.bool))


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: causal_mask(0), ValueError, r"n must be an integer in \[1, inf\], got 0"),
        (lambda: causal_mask(2.0), TypeError, "n must be an integer"),
        (lambda: padding_mask(torch.tensor([1.0, 2.0])), TypeError, "lengths must hold integers"),
        (lambda: padding_mask(torch.tensor([[1, 2]])), ValueError, "lengths must be 1-dimensional"),
        (lambda: padding_mask(torch.tensor([1, -1])), ValueError, "lengths must be >= 0"),
        (lambda: padding_mask(torch.tensor([1, 5]), max_len=3), ValueError, "max_len must be at least the longest length 5, got 3"),
        (lambda: window_mask(3, 3, -1), ValueError, "window must be an integer"),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()
