import math

import pytest
import torch

from attnreg.attention import (
    AdditiveScore,
    BilinearScore,
    DotScore,
    ScaledDotScore,
    attend,
    check_query_key,
    hard_attention,
    masked_softmax,
)


def randn(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def all_scores(d_q=4, d_k=4, hidden=5):
    torch.manual_seed(0)
    return [DotScore(), ScaledDotScore(), BilinearScore(d_q, d_k), AdditiveScore(d_q, d_k, hidden)]


# --- shapes and broadcasting ---------------------------------------------------------------------------

@pytest.mark.parametrize("score", all_scores(), ids=lambda s: type(s).__name__)
@pytest.mark.parametrize("q_shape, k_shape, expected", [
    ((3, 4), (5, 4), (3, 5)),
    ((2, 3, 4), (2, 5, 4), (2, 3, 5)),
    ((2, 3, 4), (5, 4), (2, 3, 5)),  # keys shared by the batch
    ((2, 1, 3, 4), (6, 5, 4), (2, 6, 3, 5)),  # batch dims broadcast both ways
])
def test_shapes_and_broadcasting(score, q_shape, k_shape, expected):
    q, k = randn(*q_shape, seed=1), randn(*k_shape, seed=2)
    scores = score(q, k)
    assert scores.shape == expected
    if len(q_shape) == 3 and len(k_shape) == 2:  # broadcasting equals repeating the keys
        assert torch.allclose(scores, score(q, k.expand(q_shape[0], *k_shape)), atol=1e-6)


# --- each formula against an explicit loop -------------------------------------------------------------

def loop_scores(q, k, s):
    return torch.tensor([[float(s(q[i], k[j])) for j in range(len(k))] for i in range(len(q))])


def test_dot_and_scaled_dot_formulas():
    q, k = randn(3, 6, seed=1), randn(5, 6, seed=2)
    assert torch.allclose(DotScore()(q, k), loop_scores(q, k, lambda a, b: (a * b).sum()), atol=1e-5)
    assert torch.allclose(ScaledDotScore()(q, k), loop_scores(q, k, lambda a, b: (a * b).sum() / math.sqrt(6)), atol=1e-5)


def test_bilinear_formula_with_different_widths():
    score = BilinearScore(query_dim=3, key_dim=4)
    W = score.W.weight.detach()  # (key_dim, query_dim)
    assert W.shape == (4, 3)
    q, k = randn(2, 3, seed=1), randn(5, 4, seed=2)
    assert torch.allclose(score(q, k), loop_scores(q, k, lambda a, b: b @ W @ a), atol=1e-5)


def test_bilinear_is_a_dot_product_after_two_linear_maps_and_not_symmetric():
    torch.manual_seed(0)
    U, V = randn(3, 4, seed=1), randn(3, 4, seed=2)  # two maps R^4 -> R^3
    score = BilinearScore(4, 4)
    with torch.no_grad():
        score.W.weight.copy_(V.T @ U)  # k^T (V^T U) q = (V k) . (U q)
    q, k = randn(5, 4, seed=3), randn(6, 4, seed=4)
    assert torch.allclose(score(q, k), (q @ U.T) @ (k @ V.T).T, atol=1e-5)
    x = randn(5, 4, seed=5)
    assert not torch.allclose(score(x, x), score(x, x).T, atol=1e-3)  # s(a, b) != s(b, a)


def test_additive_formula_against_einsum():
    torch.manual_seed(0)
    score = AdditiveScore(query_dim=3, key_dim=4, hidden_dim=6)
    W, U, v = score.W.weight.detach(), score.U.weight.detach(), score.v.weight.detach()[0]
    q, k = randn(2, 3, 3, seed=1), randn(2, 5, 4, seed=2)
    hidden = torch.tanh(torch.einsum("hd,bjd->bjh", W, k)[:, None] + torch.einsum("hd,bid->bih", U, q)[:, :, None])
    assert torch.allclose(score(q, k), torch.einsum("h,bijh->bij", v, hidden), atol=1e-5)
    assert torch.allclose(score(q[0], k[0])[1, 2], v @ torch.tanh(W @ k[0, 2] + U @ q[0, 1]), atol=1e-5)


# --- attend ---------------------------------------------------------------------------------------------

def test_attend_is_softmax_then_weighted_sum():
    q, k, v = randn(2, 3, 4, seed=1), randn(2, 5, 4, seed=2), randn(2, 5, 7, seed=3)
    context, weights = attend(q, k, v, score=DotScore())
    expected_weights = torch.softmax(q @ k.transpose(-2, -1), dim=-1)
    assert torch.allclose(weights, expected_weights, atol=1e-6)
    assert torch.allclose(context, torch.einsum("bij,bjd->bid", expected_weights, v), atol=1e-5)
    assert context.shape == (2, 3, 7)


def test_attend_defaults_to_scaled_dot_and_keys_as_values():
    q, k = randn(3, 8, seed=1), randn(5, 8, seed=2)
    context, weights = attend(q, k)
    assert torch.allclose(weights, torch.softmax(q @ k.T / math.sqrt(8), dim=-1), atol=1e-6)
    assert torch.allclose(context, attend(q, k, k.clone())[0])


def test_attend_with_mask_and_fully_masked_row():
    q, k, v = randn(3, 4, seed=1), randn(5, 4, seed=2), randn(5, 2, seed=3)
    mask = torch.tensor([[True, False, True, True, False], [False] * 5, [True] * 5])
    context, weights = attend(q, k, v, mask=mask)
    assert torch.equal(weights[~mask], torch.zeros(int((~mask).sum())))
    assert torch.allclose(weights[0].sum(), torch.tensor(1.0)) and torch.allclose(weights[2].sum(), torch.tensor(1.0))
    assert torch.equal(weights[1], torch.zeros(5)) and torch.equal(context[1], torch.zeros(2))
    assert not torch.isnan(context).any()
    kept = torch.softmax(ScaledDotScore()(q[:1], k[[0, 2, 3]]), dim=-1)
    assert torch.allclose(weights[0, [0, 2, 3]], kept[0], atol=1e-6)


def test_attend_gradient_reaches_q_k_and_v():
    q, k, v = (randn(2, 3, 4, seed=s).requires_grad_() for s in (1, 2, 3))
    context, _ = attend(q, k, v)
    context.sum().backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0 for t in (q, k, v))


# --- hard attention -----------------------------------------------------------------------------------

def test_hard_argmax_picks_the_value_of_the_best_key():
    q, k, v = randn(4, 6, seed=1), randn(7, 6, seed=2), randn(7, 3, seed=3)
    context, weights = hard_attention(q, k, v)
    best = (q @ k.T).argmax(-1)
    assert torch.equal(weights, torch.nn.functional.one_hot(best, 7).float())
    assert torch.equal(context, v[best])


def test_hard_argmax_respects_mask_and_fully_masked_row():
    q, k = randn(2, 4, seed=1), randn(5, 4, seed=2)
    mask = torch.tensor([[False, True, False, True, False], [False] * 5])
    context, weights = hard_attention(q, k, mask=mask)
    chosen = int(weights[0].argmax())
    assert mask[0, chosen] and weights[0].sum() == 1
    assert chosen == max((1, 3), key=lambda j: float(q[0] @ k[j]))
    assert torch.equal(weights[1], torch.zeros(5)) and torch.equal(context[1], torch.zeros(4))


def test_hard_sample_frequencies_match_soft_weights():
    q, k = randn(1, 3, seed=1), randn(4, 3, seed=2)
    q_many = q.expand(20_000, 3)
    _, soft = attend(q, k)
    _, weights = hard_attention(q_many, k, mode="sample", generator=torch.Generator().manual_seed(0))
    assert torch.equal(weights.sum(-1), torch.ones(20_000))
    frequencies = weights.mean(0)
    # 20,000 draws: the standard error of each frequency is at most 0.0036; allow 4 of them
    assert torch.allclose(frequencies, soft[0], atol=0.015)
    again = hard_attention(q_many, k, mode="sample", generator=torch.Generator().manual_seed(0))[1]
    assert torch.equal(weights, again)


def test_hard_sample_never_picks_masked_keys():
    q, k = randn(500, 3, seed=1), randn(4, 3, seed=2)
    mask = torch.tensor([True, False, True, False])
    _, weights = hard_attention(q, k, mode="sample", mask=mask, generator=torch.Generator().manual_seed(1))
    assert weights[:, ~mask].sum() == 0 and weights[:, mask].sum() == 500


def test_no_gradient_reaches_q_or_k_through_hard_attention_but_v_gets_one():
    torch.manual_seed(0)
    score = AdditiveScore(3, 3, 4)
    q, k, v = (randn(2, 3, 3, seed=s).requires_grad_() for s in (1, 2, 3))
    for mode in ("argmax", "sample"):
        context, weights = hard_attention(q, k, v, mode=mode, score=score, generator=torch.Generator().manual_seed(0))
        assert not weights.requires_grad
        context.sum().backward()
        assert q.grad is None and k.grad is None and all(p.grad is None for p in score.parameters())
        assert v.grad is not None and v.grad.abs().sum() > 0
        v.grad = None


# --- errors ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, error, message", [
    (lambda: DotScore()(randn(3, 4), randn(5, 6)), ValueError, r"q and k must have the same feature size .* q of shape \(3, 4\) and k of shape \(5, 6\)"),
    (lambda: ScaledDotScore()(randn(3, 4), randn(5, 6)), ValueError, r"same feature size .*\(3, 4\).*\(5, 6\)"),
    (lambda: BilinearScore(4, 6)(randn(3, 5), randn(5, 6)), ValueError, r"q must have query_dim=4 .* q of shape \(3, 5\)"),
    (lambda: BilinearScore(4, 6)(randn(3, 4), randn(5, 4)), ValueError, r"k must have key_dim=6 .* k of shape \(5, 4\)"),
    (lambda: AdditiveScore(4, 6, 8)(randn(3, 4), randn(5, 5)), ValueError, r"k must have key_dim=6 .* k of shape \(5, 5\)"),
    (lambda: DotScore()(randn(2, 3, 4), randn(3, 5, 4)), ValueError, r"leading \(batch\) dimensions of q and k must broadcast, got q of shape \(2, 3, 4\) and k of shape \(3, 5, 4\)"),
    (lambda: DotScore()(randn(4), randn(5, 4)), ValueError, r"q must have at least 2 dimensions, got shape \(4,\)"),
    (lambda: DotScore()(randn(3, 4), torch.ones(5, 4, dtype=torch.long)), TypeError, "k must be a floating-point tensor, got dtype torch.int64"),
    (lambda: DotScore()([[1.0]], randn(5, 4)), TypeError, "q must be a torch.Tensor, got list"),
    (lambda: BilinearScore(0, 4), ValueError, r"query_dim must be an integer in \[1, inf\], got 0"),
    (lambda: AdditiveScore(4, 4, 0), ValueError, r"hidden_dim must be an integer in \[1, inf\], got 0"),
    (lambda: attend(randn(3, 4), randn(5, 4), randn(6, 2)), ValueError, r"v must have one value per key \(n_k=5 .* k of shape \(5, 4\) and v of shape \(6, 2\)"),
    (lambda: attend(randn(2, 3, 4), randn(2, 5, 4), randn(3, 5, 2)), ValueError, r"k and v must broadcast, got k of shape \(2, 5, 4\) and v of shape \(3, 5, 2\)"),
    (lambda: attend(randn(3, 4), randn(5, 4), mask=torch.ones(3, 4, dtype=torch.bool)), ValueError, r"mask of shape \(3, 4\) does not broadcast to the scores' shape \(3, 5\)"),
    (lambda: attend(randn(3, 4), randn(5, 4), mask=torch.ones(3, 5)), TypeError, "mask must be a boolean tensor"),
    (lambda: hard_attention(randn(3, 4), randn(5, 4), mode="soft"), ValueError, r"mode must be one of 'argmax', 'sample', got 'soft'"),
    (lambda: hard_attention(randn(3, 4), randn(5, 4), mask=torch.ones(2, 5, dtype=torch.bool)), ValueError, r"mask of shape \(2, 5\) does not broadcast"),
    (lambda: check_query_key(randn(3, 4), randn(5, 4), query_dim=3), ValueError, r"q must have query_dim=3"),
])
def test_errors_name_argument_and_shapes(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_masked_softmax_is_what_attend_uses():
    q, k = randn(3, 5, seed=2), randn(5, 5, seed=3)
    mask = randn(3, 5, seed=1) > 0
    assert torch.equal(attend(q, k, mask=mask)[1], masked_softmax(ScaledDotScore()(q, k), mask))


def test_additive_score_is_luongs_concat_score():
    """Luong et al.'s "concat" score v^T tanh(W_a [q ; k]) is the additive score with W_a = [U, W]."""
    torch.manual_seed(0)
    score = AdditiveScore(3, 5, hidden_dim=4)
    q, k = torch.randn(2, 3), torch.randn(6, 5)
    W_a = torch.cat([score.U.weight, score.W.weight], dim=1)  # (h, d_q + d_k)
    pairs = torch.cat([q[:, None, :].expand(2, 6, 3), k[None, :, :].expand(2, 6, 5)], dim=-1)
    concat = torch.tanh(pairs @ W_a.T) @ score.v.weight[0]
    assert torch.allclose(score(q, k), concat, atol=1e-6)
