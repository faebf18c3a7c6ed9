import pytest

from attnreg.attention import AttentionCost, self_attention_cost


def test_memory_is_exact_and_times_are_positive():
    cost = self_attention_cost([8, 16, 32], dim=4, repeats=2, device="cpu")
    assert isinstance(cost, AttentionCost) and cost.lengths == [8, 16, 32] and cost.dim == 4
    assert cost.weights_bytes == [4 * n * n for n in (8, 16, 32)]  # float32: 4 bytes per weight
    assert cost.projections_bytes == [4 * 4 * n * 4 for n in (8, 16, 32)]  # Q, K, V and the output: 4 n d numbers
    assert all(t > 0 for t in cost.attention_seconds + cost.projection_seconds)
    assert len(cost.attention_seconds) == len(cost.projection_seconds) == 3


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"lengths": []}, ValueError, "lengths must hold at least one sequence length, got none"),
        ({"lengths": [8, 0]}, ValueError, r"lengths\[1\] must be an integer in \[1, inf\], got 0"),
        ({"lengths": [8], "dim": 0}, ValueError, r"dim must be an integer in \[1, inf\], got 0"),
        ({"lengths": [8], "repeats": 0}, ValueError, r"repeats must be an integer in \[1, inf\], got 0"),
    ],
)
def test_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        self_attention_cost(**kwargs)
