import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnreg.attention import (
    MultiHeadAttention,
    causal_mask,
    merge_heads,
    padding_mask,
    scaled_dot_product_attention,
    split_heads,
)
from attnreg.transformer import SequenceTransformer, TransformerEncoderBlock

ATOL = 1e-5


def random_mask(*shape: int, seed: int = 0) -> torch.Tensor:
    """A random boolean mask in which every row keeps at least one key."""
    mask = torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) > 0.4
    mask[..., 0] = True
    return mask


# --- scaled_dot_product_attention -----------------------------------------------------------------

@pytest.mark.parametrize("lead, n_q, n_k, d_k, d_v", [((2,), 3, 5, 4, 6), ((2, 3), 7, 7, 8, 8), ((), 1, 4, 2, 3), ((4, 1), 6, 2, 16, 5)])
@pytest.mark.parametrize("mask_kind", ["none", "random", "broadcast"])
def test_sdpa_equals_pytorch(lead, n_q, n_k, d_k, d_v, mask_kind):
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(*lead, n, d, generator=gen) for n, d in ((n_q, d_k), (n_k, d_k), (n_k, d_v)))
    mask = {"none": None, "random": random_mask(*lead, n_q, n_k), "broadcast": random_mask(n_q, n_k, seed=2)}[mask_kind]
    output, weights = scaled_dot_product_attention(q, k, v, mask)
    assert output.shape == (*lead, n_q, d_v) and weights.shape == (*lead, n_q, n_k)
    assert torch.allclose(output, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=ATOL)
    assert torch.allclose(weights.sum(-1), torch.ones(*lead, n_q), atol=ATOL)


@pytest.mark.parametrize("n", [1, 4, 9])
def test_sdpa_causal_equals_pytorch_is_causal(n):
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 3, n, 8, generator=gen) for _ in range(3))
    output, weights = scaled_dot_product_attention(q, k, v, causal_mask(n))
    assert torch.allclose(output, F.scaled_dot_product_attention(q, k, v, is_causal=True), atol=ATOL)
    assert torch.equal(weights.triu(1), torch.zeros_like(weights))  # no weight on the future


def test_sdpa_scale_argument_and_default():
    gen = torch.Generator().manual_seed(4)
    q, k, v = torch.randn(3, 5, 16, generator=gen), torch.randn(3, 6, 16, generator=gen), torch.randn(3, 6, 2, generator=gen)
    for scale in (None, 1.0, 0.1):
        ours, _ = scaled_dot_product_attention(q, k, v, scale=scale)
        assert torch.allclose(ours, F.scaled_dot_product_attention(q, k, v, scale=scale), atol=ATOL)
    _, weights = scaled_dot_product_attention(q, k, v)
    assert torch.allclose(weights, torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(16), dim=-1), atol=1e-6)


def test_sdpa_fully_masked_row_gives_zeros_where_torch_mha_gives_nan():
    gen = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(1, 3, 4, generator=gen, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[False, False, False], [True, True, False], [True, True, True]])
    output, weights = scaled_dot_product_attention(q, k, v, mask)
    assert torch.equal(output[0, 0], torch.zeros(4)) and torch.equal(weights[0, 0], torch.zeros(3))
    output.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    # The functional form of the pinned PyTorch agrees (it zeroes such rows too, as ours does) ...
    assert torch.allclose(output, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=ATOL)
    # ... but torch.nn.MultiheadAttention returns NaN for the same row (its mask: True = blocked).
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    torch_output, _ = mha(q, k, v, attn_mask=~mask)
    assert torch.isnan(torch_output[0, 0]).all() and torch.isfinite(torch_output[0, 1:]).all()


def test_sdpa_dropout_on_the_weights():
    gen = torch.Generator().manual_seed(6)
    q, k, v = torch.randn(4, 8, 8, generator=gen), torch.randn(4, 8, 8, generator=gen), torch.randn(4, 8, 3, generator=gen)
    clean_output, clean = scaled_dot_product_attention(q, k, v)
    same_output, _ = scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=False)
    assert torch.equal(same_output, clean_output)  # no dropout outside training
    torch.manual_seed(0)
    output, dropped = scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=True)
    kept = dropped != 0
    assert 0.35 < kept.float().mean() < 0.65
    assert torch.allclose(dropped[kept], clean[kept] / 0.5)  # inverted dropout: kept weights are scaled by 1 / (1 - p)
    assert torch.allclose(output, dropped @ v)  # the returned weights are the ones that multiplied v
    all_dropped, _ = scaled_dot_product_attention(q, k, v, dropout_p=1.0, training=True)
    assert torch.equal(all_dropped, torch.zeros_like(all_dropped))
    # dropout_p = 0 needs no training flag; dropout_p > 0 needs one (PyTorch's function drops whenever p > 0).
    assert torch.equal(scaled_dot_product_attention(q, k, v, dropout_p=0.0)[0], clean_output)
    assert torch.equal(scaled_dot_product_attention(q, k, v, training=True)[0], clean_output)
    with pytest.raises(ValueError, match=r"dropout_p=0.5 needs training=True \(apply dropout\) or training=False"):
        scaled_dot_product_attention(q, k, v, dropout_p=0.5)
    with pytest.raises(TypeError, match="training must be True, False or None, got 1"):
        scaled_dot_product_attention(q, k, v, dropout_p=0.5, training=1)
    with pytest.raises(TypeError, match="positional argument"):
        scaled_dot_product_attention(q, k, v, None, 0.5, True)


def test_sdpa_dropout_matches_pytorch_semantics():
    # F.scaled_dot_product_attention drops whenever dropout_p > 0; ours with training=True does the same
    # (same expectation), and training=False equals PyTorch's dropout_p=0.
    gen = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(2, 6, 4, generator=gen) for _ in range(3))
    assert torch.allclose(scaled_dot_product_attention(q, k, v, dropout_p=0.3, training=False)[0],
                          F.scaled_dot_product_attention(q, k, v, dropout_p=0.0), atol=ATOL)
    torch.manual_seed(1)
    theirs = torch.stack([F.scaled_dot_product_attention(q, k, v, dropout_p=0.3) for _ in range(300)]).mean(0)
    ours = torch.stack([scaled_dot_product_attention(q, k, v, dropout_p=0.3, training=True)[0] for _ in range(300)]).mean(0)
    clean = F.scaled_dot_product_attention(q, k, v)
    assert (theirs - clean).abs().max() < 0.25 and (ours - clean).abs().max() < 0.25  # both unbiased
    assert not torch.allclose(F.scaled_dot_product_attention(q, k, v, dropout_p=0.3), clean)  # PyTorch: no flag, drops


@pytest.mark.parametrize(
    "shapes, kwargs, error, message",
    [
        (((2, 3, 4), (2, 5, 6), (2, 5, 6)), {}, ValueError,
         r"q and k must have the same feature size d_k \(last axis\), got q of shape \(2, 3, 4\) and k of shape \(2, 5, 6\)"),
        (((2, 3, 4), (2, 5, 4), (2, 6, 4)), {}, ValueError, r"k and v must have the same number of keys n_k .*\(2, 5, 4\).*\(2, 6, 4\)"),
        (((2, 3, 4), (3, 5, 4), (3, 5, 4)), {}, ValueError, r"leading \(batch\) axes of q, k and v must broadcast"),
        (((4,), (5, 4), (5, 4)), {}, ValueError, r"q must have at least 2 dimensions, got shape \(4,\)"),
        (((2, 3, 4), (2, 5, 4), (2, 5, 4)), {"mask": torch.ones(3, 5)}, TypeError, "mask must be a boolean tensor .*got dtype torch.float32"),
        (((2, 3, 4), (2, 5, 4), (2, 5, 4)), {"mask": torch.ones(3, 4, dtype=torch.bool)}, ValueError,
         r"mask of shape \(3, 4\) does not broadcast to the scores' shape \(2, 3, 5\)"),
        (((2, 3, 4), (2, 5, 4), (2, 5, 4)), {"dropout_p": 1.5}, ValueError, r"dropout_p must be a probability in \[0, 1\], got 1.5"),
        (((2, 3, 4), (2, 5, 4), (2, 5, 4)), {"scale": -1.0}, ValueError, r"scale must be a finite number > 0, got -1.0"),
    ],
)
def test_sdpa_bad_input(shapes, kwargs, error, message):
    q, k, v = (torch.randn(*shape) for shape in shapes)
    with pytest.raises(error, match=message):
        scaled_dot_product_attention(q, k, v, **kwargs)


def test_sdpa_rejects_integer_tensors():
    with pytest.raises(TypeError, match="q must be a floating-point tensor, got dtype torch.int64"):
        scaled_dot_product_attention(torch.ones(2, 3, dtype=torch.long), torch.randn(2, 3), torch.randn(2, 3))


# --- split_heads / merge_heads ----------------------------------------------------------------------

def test_split_heads_gives_each_head_a_consecutive_block():
    x = torch.arange(2 * 5 * 12).reshape(2, 5, 12)
    heads = split_heads(x, 3)
    assert heads.shape == (2, 3, 5, 4)
    for h in range(3):
        assert torch.equal(heads[:, h], x[..., 4 * h:4 * (h + 1)])


def test_merge_heads_undoes_split_heads():
    x = torch.randn(3, 7, 16)
    for num_heads in (1, 2, 4, 16):
        assert torch.equal(merge_heads(split_heads(x, num_heads)), x)
    heads = torch.randn(2, 4, 5, 3)
    assert torch.equal(split_heads(merge_heads(heads), 4), heads)


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: split_heads(torch.randn(2, 5, 10), 3), ValueError,
         r"the feature size of x must be divisible by num_heads=3, got x of shape \(2, 5, 10\)"),
        (lambda: split_heads(torch.randn(5, 10), 2), ValueError, r"x must be 3-dimensional, got shape \(5, 10\)"),
        (lambda: split_heads(torch.randn(2, 5, 10), 0), ValueError, r"num_heads must be an integer in \[1, inf\], got 0"),
        (lambda: merge_heads(torch.randn(2, 5, 10)), ValueError, r"x must be 4-dimensional, got shape \(2, 5, 10\)"),
    ],
)
def test_split_merge_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- MultiHeadAttention -----------------------------------------------------------------------------

def torch_and_ours(embed_dim: int = 16, num_heads: int = 4, bias: bool = True, seed: int = 0):
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(embed_dim, num_heads, bias=bias, batch_first=True)
    if bias:  # PyTorch initialises the biases to zero: make them non-zero so that copying them is tested
        with torch.no_grad():
            mha.in_proj_bias.normal_()
            mha.out_proj.bias.normal_()
    return mha.eval(), MultiHeadAttention.from_torch(mha).eval()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("n_q, n_k", [(6, 6), (3, 8)])
def test_mha_equals_pytorch_without_mask(bias, n_q, n_k):
    mha, ours = torch_and_ours(bias=bias)
    gen = torch.Generator().manual_seed(1)
    query, key, value = torch.randn(2, n_q, 16, generator=gen), torch.randn(2, n_k, 16, generator=gen), torch.randn(2, n_k, 16, generator=gen)
    output, weights = ours(query, key, value)
    expected, expected_mean_weights = mha(query, key, value)
    _, expected_weights = mha(query, key, value, average_attn_weights=False)
    assert output.shape == (2, n_q, 16) and weights.shape == (2, 4, n_q, n_k)
    assert torch.allclose(output, expected, atol=ATOL)
    assert torch.allclose(weights, expected_weights, atol=ATOL)
    assert torch.allclose(weights.mean(dim=1), expected_mean_weights, atol=ATOL)


def test_mha_equals_pytorch_with_causal_mask():
    mha, ours = torch_and_ours()
    x = torch.randn(3, 7, 16, generator=torch.Generator().manual_seed(2))
    mask = causal_mask(7)  # ours: True = may attend
    output, weights = ours(x, x, x, mask=mask)
    expected, expected_weights = mha(x, x, x, attn_mask=~mask)  # PyTorch: True = may NOT attend
    assert torch.allclose(output, expected, atol=ATOL)
    assert torch.allclose(weights.mean(dim=1), expected_weights, atol=ATOL)


def test_mha_equals_pytorch_with_padding_mask():
    mha, ours = torch_and_ours()
    x = torch.randn(3, 6, 16, generator=torch.Generator().manual_seed(3))
    keep = padding_mask(torch.tensor([6, 4, 2]))  # (batch, n_k), True = real token
    output, weights = ours(x, x, x, mask=keep[:, None, :])
    expected, _ = mha(x, x, x, key_padding_mask=~keep)  # PyTorch: True = padding, ignore
    assert torch.allclose(output, expected, atol=ATOL)
    assert torch.equal(weights[1, :, :, 4:], torch.zeros(4, 6, 2))


def test_mha_per_head_mask_of_four_dimensions():
    mha, ours = torch_and_ours()
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(4))
    mask = random_mask(2, 4, 5, 5)
    output, _ = ours(x, x, x, mask=mask)
    expected, _ = mha(x, x, x, attn_mask=~mask.reshape(8, 5, 5))  # PyTorch wants (batch * heads, n_q, n_k)
    assert torch.allclose(output, expected, atol=ATOL)


def test_mha_gradients_equal_pytorch():
    mha, ours = torch_and_ours()
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(5), requires_grad=True)
    ours(x, x, x)[0].square().sum().backward()
    ours_grad = x.grad.clone()
    x.grad = None
    mha(x, x, x)[0].square().sum().backward()
    assert torch.allclose(ours_grad, x.grad, atol=1e-4)
    assert torch.allclose(ours.q_proj.weight.grad, mha.in_proj_weight.grad[:16], atol=1e-4)


def test_mask_arguments_are_keyword_only():
    # nn.MultiheadAttention's 4th positional argument is key_padding_mask (True = ignore): a positional
    # mask would silently mean the opposite after swapping the classes, so ours takes none.
    ours, x, mask = MultiHeadAttention(16, 4), torch.randn(2, 5, 16), causal_mask(5)
    with pytest.raises(TypeError, match="positional argument"):
        ours(x, x, x, mask)
    block = TransformerEncoderBlock(16, 4, 32)
    with pytest.raises(TypeError, match="positional argument"):
        block(x, mask)
    model = SequenceTransformer(10, 10, embed_dim=16, max_len=5)
    tokens = torch.randint(10, (2, 5))
    for call in (model, model.encode):
        with pytest.raises(TypeError, match="positional argument"):
            call(tokens, mask)
    assert torch.equal(ours(x, x, x, mask=mask)[1].triu(1), torch.zeros(2, 4, 5, 5))


def test_mha_parameter_count():
    ours = MultiHeadAttention(16, 4)
    assert sum(p.numel() for p in ours.parameters()) == 4 * 16 * 16 + 4 * 16
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in nn.MultiheadAttention(16, 4).parameters())


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda m, x: MultiHeadAttention(10, 3), ValueError, "embed_dim must be divisible by num_heads, got embed_dim=10 and num_heads=3"),
        (lambda m, x: MultiHeadAttention(16, 4, dropout=-0.1), ValueError, r"dropout must be a probability in \[0, 1\]"),
        (lambda m, x: m(torch.randn(2, 5, 12), x, x), ValueError, r"query must have embed_dim=16 features \(last axis\), got query of shape \(2, 5, 12\)"),
        (lambda m, x: m(x, x, torch.randn(2, 4, 16)), ValueError, r"key and value must have the same batch size and length, got key of shape \(2, 5, 16\) and value of shape \(2, 4, 16\)"),
        (lambda m, x: m(torch.randn(3, 5, 16), x, x), ValueError, r"query and key must have the same batch size, got query of shape \(3, 5, 16\)"),
        (lambda m, x: m(x[0], x, x), ValueError, r"query must be 3-dimensional, got shape \(5, 16\)"),
        (lambda m, x: m(x, x, x, mask=torch.ones(5, 5)), TypeError, "mask must be a boolean tensor .*got dtype torch.float32"),
        (lambda m, x: m(x, x, x, mask=torch.ones(5, 4, dtype=torch.bool)), ValueError,
         r"mask of shape \(5, 4\) does not broadcast to \(n_q, n_k\) = \(5, 5\)"),
        (lambda m, x: m(x, x, x, mask=torch.ones(3, 5, 5, dtype=torch.bool)), ValueError,
         r"mask of shape \(3, 5, 5\) does not broadcast .*\(batch, heads, n_q, n_k\) = \(2, 4, 5, 5\)"),
        (lambda m, x: m(x, x, x, mask=torch.ones(5, dtype=torch.bool)), ValueError, r"mask must be 2 or 3 or 4-dimensional, got shape \(5,\)"),
        (lambda m, x: MultiHeadAttention.from_torch(nn.Linear(4, 4)), TypeError, "mha must be a torch.nn.MultiheadAttention, got Linear"),
        (lambda m, x: MultiHeadAttention.from_torch(nn.MultiheadAttention(16, 4, kdim=8)), ValueError, "kdim = vdim = embed_dim"),
    ],
)
def test_mha_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call(MultiHeadAttention(16, 4), torch.randn(2, 5, 16))
