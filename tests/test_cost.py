import pytest
import torch

from attnreg.attention import AttentionCost, cost, multihead, scaled_dot_product_attention, self_attention_cost


def test_memory_is_exact_and_times_are_positive():
    cost = self_attention_cost([8, 16, 32], dim=4, repeats=2, device="cpu")
    assert isinstance(cost, AttentionCost) and cost.lengths == [8, 16, 32] and cost.dim == 4
    assert cost.weights_bytes == [4 * n * n for n in (8, 16, 32)]  # float32: 4 bytes per weight
    assert cost.projections_bytes == [4 * 4 * n * 4 for n in (8, 16, 32)]  # Q, K, V and the output: 4 n d numbers
    assert all(t > 0 for t in cost.attention_seconds + cost.projection_seconds)
    assert len(cost.attention_seconds) == len(cost.projection_seconds) == 3


def test_timed_attention_is_the_formula():
    gen = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(7, 5, generator=gen) for _ in range(3))
    output, weights = cost._attention(q, k, v)
    expected_output, expected_weights = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(output, expected_output)
    torch.testing.assert_close(weights, expected_weights)
    projections = torch.randn(4, 5, 5, generator=gen)
    assert all(torch.equal(p, q @ w) for p, w in zip(cost._projections(q, projections), projections, strict=True))


def test_timings_compare_bare_operations(monkeypatch):
    # Like with like: neither timed call runs the argument checks of the attention helpers.
    timed = []
    monkeypatch.setattr(cost, "_best_seconds", lambda fn, repeats, device: timed.append(fn) or 1.0)
    self_attention_cost([8, 16], dim=4, repeats=1, device="cpu")
    assert len(timed) == 4  # attention and projections, for each length

    def checked(*args, **kwargs):
        raise AssertionError("an argument check ran inside a timed call")

    monkeypatch.setattr(multihead, "check_tensor", checked)
    with pytest.raises(AssertionError, match="inside a timed call"):
        scaled_dot_product_attention(*torch.randn(3, 8, 4))  # the trap catches the validated helper
    for fn in timed:
        fn()


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
