import pytest
import torch

from attnreg.attention import masked_softmax


def test_without_mask_equals_softmax():
    scores = torch.randn(2, 3, 5)
    assert torch.allclose(masked_softmax(scores), torch.softmax(scores, dim=-1))
    assert torch.allclose(masked_softmax(scores, dim=1), torch.softmax(scores, dim=1))


def test_masked_positions_get_zero_and_rows_renormalise():
    scores = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    mask = torch.tensor([[True, False, True, False]])
    weights = masked_softmax(scores, mask)
    expected = torch.softmax(torch.tensor([1.0, 3.0]), dim=0)
    assert torch.allclose(weights, torch.tensor([[expected[0], 0.0, expected[1], 0.0]]))


def test_matches_additive_minus_infinity_on_partially_masked_rows():
    scores = torch.randn(4, 6)
    mask = torch.rand(4, 6) > 0.4
    mask[:, 0] = True  # no fully masked row
    reference = torch.softmax(scores.masked_fill(~mask, float("-inf")), dim=-1)
    assert torch.allclose(masked_softmax(scores, mask), reference)


def test_fully_masked_row_gives_zeros_and_finite_gradient():
    scores = torch.randn(2, 3, requires_grad=True)
    mask = torch.tensor([[False, False, False], [True, True, False]])
    weights = masked_softmax(scores, mask)
    assert torch.equal(weights[0], torch.zeros(3))
    assert torch.allclose(weights[1].sum(), torch.tensor(1.0))
    (weights * torch.randn(2, 3)).sum().backward()
    assert torch.isfinite(scores.grad).all()
    assert torch.equal(scores.grad[0], torch.zeros(3))


def test_mask_broadcasts_over_queries():
    scores = torch.randn(2, 4, 5)  # (batch, queries, keys)
    key_mask = torch.tensor([[True] * 3 + [False] * 2, [True] * 5]).unsqueeze(1)  # (batch, 1, keys)
    weights = masked_softmax(scores, key_mask)
    assert torch.equal(weights[0, :, 3:], torch.zeros(4, 2))
    assert torch.allclose(weights.sum(-1), torch.ones(2, 4))


def test_half_precision_stays_finite():
    scores = torch.randn(3, 4, dtype=torch.float16)
    mask = torch.tensor([[True, False, True, True]] * 2 + [[False] * 4])
    weights = masked_softmax(scores, mask)
    assert torch.isfinite(weights).all()
    assert torch.equal(weights[2], torch.zeros(4, dtype=torch.float16))


@pytest.mark.parametrize(
    "scores, mask, error, message",
    [
        (torch.randn(2, 3), torch.ones(2, 3), TypeError, "mask must be a boolean tensor"),
        (torch.randn(2, 3), torch.ones(2, 4, dtype=torch.bool), ValueError, r"mask of shape \(2, 4\) does not broadcast"),
        (torch.randn(2, 3), torch.ones(5, 2, 3, dtype=torch.bool), ValueError, r"scores' shape \(2, 3\)"),
        (torch.tensor([1, 2]), None, TypeError, "scores must be a floating-point tensor"),
        ([1.0, 2.0], None, TypeError, "scores must be a torch.Tensor"),
    ],
)
def test_bad_input(scores, mask, error, message):
    with pytest.raises(error, match=message):
        masked_softmax(scores, mask)


def test_bad_dim():
    with pytest.raises(ValueError, match=r"dim must be an integer in \[-2, 1\], got 2"):
        masked_softmax(torch.randn(2, 3), dim=2)
