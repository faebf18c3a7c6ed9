"""Checkers for the exercises of chapter 02: heads, causal masks, the cost of heads, scaled dot-product
attention, a prediction about the causal mask, and an encoder block assembled from its parts."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._framework import (
    CheckResult,
    Feedback,
    clone_args,
    expect_close,
    expect_derived,
    expect_number,
    expect_tensor,
    run_check,
)
from ._registry import exercise

CHAPTER = "02_self_attention_transformer"


def _expect_intact_and_differentiable(x: torch.Tensor, before: torch.Tensor, result: torch.Tensor, what: str) -> None:
    """The learner's function left ``x`` alone, kept its dtype and let the gradient through."""
    if x.shape != before.shape or not torch.equal(x.detach(), before):
        raise Feedback(f"{what} changed its input x in place (now of shape {tuple(x.shape)}): in-place methods such as "
                       "transpose_ change the caller's tensor; use transpose, which returns a new view")
    if not result.requires_grad:
        raise Feedback(f"no gradient flows from {what} back to x: reshape and transpose are differentiable; "
                       "do not use .detach(), torch.tensor(...) or .numpy()")
    if result.dtype != x.dtype:
        raise Feedback(f"the result has dtype {result.dtype}, but x had dtype {x.dtype}: reshape and transpose keep "
                       "the dtype, so do not convert (no .float())")


# --- Exercise 1: split the heads -------------------------------------------------------------------------

def _split(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    batch, n, embed_dim = x.shape
    return x.reshape(batch, n, num_heads, embed_dim // num_heads).transpose(1, 2)


@exercise(chapter=CHAPTER, number=1, title='split the heads', stars=1, kind='implement', practises='reshape and transpose for multi-head attention',
          hints=['First `x.reshape(batch, n, num_heads, head_dim)`: head h gets features h * head_dim to (h + 1) * head_dim - 1.',
                 'Then move the head axis before the sequence axis: `.transpose(1, 2)` gives (batch, heads, n, head_dim).'])
def check_split_heads(split_heads: Callable[[torch.Tensor, int], torch.Tensor], verbose: bool = True) -> CheckResult:
    """Check ``split_heads(x, num_heads)``: ``(batch, n, embed_dim) -> (batch, heads, n, head_dim)``.

    Head ``h`` must get the consecutive features ``h * head_dim`` to ``(h + 1) * head_dim - 1``; the
    input is left unchanged, its dtype kept and the gradient passed through.
    """
    def case_on(batch: int, n: int, embed_dim: int, num_heads: int) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            x = torch.arange(batch * n * embed_dim, dtype=torch.float32).reshape(batch, n, embed_dim)
            head_dim = embed_dim // num_heads
            known_bugs = {
                "the heads are interleaved (head h got features h, h + heads, ...): reshape the features to "
                "(heads, head_dim), in that order, so that each head gets a consecutive block":
                    x.reshape(batch, n, head_dim, num_heads).permute(0, 3, 1, 2),
                "you reshaped straight to (batch, heads, n, head_dim), which mixes positions: reshape to "
                "(batch, n, heads, head_dim) first, then swap the n and heads axes": x.reshape(batch, num_heads, n, head_dim),
                "the result has shape (batch, n, heads, head_dim): move the heads axis before the positions "
                "with .transpose(1, 2)": x.reshape(batch, n, num_heads, head_dim),
                "the last two axes are swapped, (batch, heads, head_dim, n): swap the axes n and heads "
                "(transpose(1, 2)), not the last two": _split(x, num_heads).transpose(-2, -1),
            }
            expect_close(fn(*clone_args(x, num_heads)), _split(x, num_heads), "split_heads(x)", known_bugs=known_bugs)
        return run

    def keeps_input_dtype_and_gradient(fn: Callable) -> None:
        leaf = torch.randn(2, 4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(0), requires_grad=True)
        x = leaf * 1.0  # not a leaf, so that an in-place edit is possible and can be detected
        before = x.detach().clone()
        result = expect_tensor(fn(x, 2), "split_heads(x, 2)")
        _expect_intact_and_differentiable(x, before, result, "split_heads")
        expect_close(result, _split(before, 2), "split_heads(x, 2)")

    cases = [
        ("batch 2, n 5, embed_dim 12, 3 heads", case_on(2, 5, 12, 3)),
        ("batch 1, n 4, embed_dim 6, 2 heads", case_on(1, 4, 6, 2)),
        ("one head", case_on(2, 3, 4, 1)),
        ("float64 input with a gradient: x unchanged, dtype kept, gradient through", keeps_input_dtype_and_gradient),
    ]
    return run_check("check_split_heads", split_heads, cases, verbose)


# --- Exercise 2: merge the heads -------------------------------------------------------------------------

def _call_merge(fn: Callable, x: torch.Tensor) -> Any:
    try:
        return fn(x)
    except RuntimeError as error:
        if "view size is not compatible" in str(error):
            raise Feedback("view() fails on the transposed tensor, which is not contiguous in memory: use reshape() "
                           "(it copies when it must), or call .contiguous() before view()") from None
        raise


@exercise(chapter=CHAPTER, number=2, title='merge the heads', stars=1, kind='implement', practises='undoing the head split in the right order',
          hints=['Undo the split in reverse order: first `transpose(1, 2)` back to (batch, n, heads, head_dim).',
                 'Then `reshape(batch, n, heads * head_dim)`; the transposed tensor is not contiguous, so `view` fails where `reshape` copies.'])
def check_merge_heads(merge_heads: Callable[[torch.Tensor], torch.Tensor], verbose: bool = True) -> CheckResult:
    """Check ``merge_heads(x)``: ``(batch, heads, n, head_dim) -> (batch, n, heads * head_dim)``, the inverse of ``split_heads``."""
    def case_on(batch: int, num_heads: int, n: int, head_dim: int) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            x = torch.arange(batch * num_heads * n * head_dim, dtype=torch.float32).reshape(batch, num_heads, n, head_dim)
            known_bugs = {
                "you reshaped without moving the heads axis back, which mixes positions: "
                "x.transpose(1, 2) first, then reshape to (batch, n, heads * head_dim)": x.reshape(batch, n, num_heads * head_dim),
                "the heads are interleaved (feature j of every head side by side): concatenate whole heads, "
                "head 0's features first": x.permute(0, 2, 3, 1).reshape(batch, n, head_dim * num_heads),
                "the result has shape (batch, n, heads, head_dim): reshape it to (batch, n, heads * head_dim)": x.transpose(1, 2),
                "you averaged the heads: concatenate them instead, so that the output has heads * head_dim features": x.mean(dim=1),
            }
            expect_close(_call_merge(fn, x.clone()), x.transpose(1, 2).reshape(batch, n, num_heads * head_dim),
                         "merge_heads(x)", known_bugs=known_bugs)
        return run

    def undoes_split(fn: Callable) -> None:
        x = torch.randn(2, 5, 12, generator=torch.Generator().manual_seed(0))
        expect_close(_call_merge(fn, _split(x, 3)), x, "merge_heads(split_heads(x, 3))")

    def keeps_input_dtype_and_gradient(fn: Callable) -> None:
        leaf = torch.randn(2, 3, 4, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
        x = leaf * 1.0
        before = x.detach().clone()
        result = expect_tensor(_call_merge(fn, x), "merge_heads(x)")
        _expect_intact_and_differentiable(x, before, result, "merge_heads")
        expect_close(result, before.transpose(1, 2).reshape(2, 4, 6), "merge_heads(x)")

    cases = [
        ("batch 2, 3 heads, n 5, head_dim 4", case_on(2, 3, 5, 4)),
        ("batch 1, 2 heads, n 4, head_dim 3", case_on(1, 2, 4, 3)),
        ("merge_heads undoes split_heads", undoes_split),
        ("float64 input with a gradient: x unchanged, dtype kept, gradient through", keeps_input_dtype_and_gradient),
    ]
    return run_check("check_merge_heads", merge_heads, cases, verbose)


# --- Exercise 3: the causal mask -------------------------------------------------------------------------

@exercise(chapter=CHAPTER, number=3, title='the causal mask', stars=1, kind='implement', practises='boolean masks, True = may attend',
          hints=['Query i may attend to keys j <= i: the lower triangle, diagonal included.',
                 '`torch.ones(n, n, dtype=torch.bool).tril()` is exactly that.'])
def check_causal_mask(causal_mask: Callable[[int], torch.Tensor], verbose: bool = True) -> CheckResult:
    """Check ``causal_mask(n)``: an ``(n, n)`` boolean tensor, True where query ``i`` may attend to key ``j <= i``."""
    def case_on(n: int) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            mask = expect_tensor(fn(n), f"causal_mask({n})")
            if mask.is_floating_point() and torch.isinf(mask).any():
                raise Feedback("this is PyTorch's additive float mask (0 = attend, -inf = blocked); "
                               "return a boolean mask, True where the query may attend")
            if mask.dtype != torch.bool:
                raise Feedback(f"the mask must be a boolean tensor (dtype torch.bool), got dtype {mask.dtype}: "
                               "build it from a comparison, or convert with .bool()")
            lower = torch.ones(n, n, dtype=torch.bool).tril()
            known_bugs = {
                "True marks the future here: that is the mask nn.MultiheadAttention's attn_mask expects (True = ignore); "
                "ours is its opposite, True = may attend": ~lower,
                "query i may attend to the keys j >= i, the future: row i must be True for j <= i (use .tril())": lower.T,
                "the diagonal is missing: a position may attend to itself (use .tril(), not .tril(-1))": lower.tril(-1),
                "every position may attend to every other: the mask must hide the future (j > i)": torch.ones(n, n, dtype=torch.bool),
            }
            if n == 1:  # one position: the only possible bug is forbidding it to attend to itself
                known_bugs = {"the only position must be allowed to attend to itself (True on the diagonal)": ~lower}
            expect_close(mask, lower, f"causal_mask({n})", known_bugs=known_bugs)
        return run

    cases = [("n = 4", case_on(4)), ("n = 7", case_on(7)), ("n = 1", case_on(1))]
    return run_check("check_causal_mask", causal_mask, cases, verbose)


# --- Exercise 4: the cost of heads (derive) --------------------------------------------------------------

def _two_numbers(value: Any, what: str) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        got = f"a {type(value).__name__} of length {len(value)}" if isinstance(value, (tuple, list)) else type(value).__name__
        raise Feedback(f"{what} must return a pair (multiply_adds, weights), got {got}")
    return expect_number(value[0], f"{what}[0] (multiply-adds)"), expect_number(value[1], f"{what}[1] (weights)")


@exercise(chapter=CHAPTER, number=4, title='what splitting into heads costs', stars=1, kind='derive',
          practises='counting the multiply-adds and the attention weights of multi-head attention',
          hints=['Head r computes Q_r K_r^T, an (n_q x d_k) times (d_k x n_k) product, and A_r V_r, (n_q x n_k) times '
                 '(n_k x d_k); one multiply-add per term of each dot product.',
                 'With d_k = d_model / n_h the n_h heads together need as many multiply-adds as one head of width d_model, '
                 'but every head has its own n_q x n_k weight matrix.'])
def check_head_cost(head_cost: Callable[[int, int, int, int], tuple[float, float]], verbose: bool = True) -> CheckResult:
    """Check ``head_cost(n_q, n_k, d_model, num_heads) -> (multiply_adds, weights)``.

    ``n_q`` queries attend to ``n_k`` keys (self-attention: ``n_q = n_k``) with ``num_heads`` heads of
    width ``d_model / num_heads``; ``multiply_adds`` counts the scores ``Q_r K_r^T`` and the weighted
    sums ``A_r V_r`` of all heads (projections excluded), ``weights`` the entries of the attention
    matrices ``A_r`` stored for one sequence. The right values are never printed.
    """
    def case_on(n_q: int, n_k: int, d_model: int, num_heads: int) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            call = f"head_cost({n_q}, {n_k}, {d_model}, {num_heads})"
            multiply_adds, weights = _two_numbers(fn(n_q, n_k, d_model, num_heads), call)
            right_madds, right_weights = 2 * n_q * n_k * d_model, num_heads * n_q * n_k
            if (math.isclose(multiply_adds, right_weights) and math.isclose(weights, right_madds)
                    and not math.isclose(right_madds, right_weights)):
                raise Feedback("the two numbers are in the wrong order: return (multiply_adds, weights)")
            expect_derived(multiply_adds, right_madds, "the multiply-adds", known_bugs={
                "each head's dot products have d_k = d_model / n_h terms, not d_model: you gave every head the full width":
                    2 * n_q * n_k * d_model * num_heads,
                "that is one head's count: add up the n_h heads": 2 * n_q * n_k * d_model / num_heads,
                "you counted the scores Q K^T only: the weighted sum A V takes as many multiply-adds again":
                    n_q * n_k * d_model,
                "you included the projections: count only the scores and the weighted sums":
                    2 * n_q * n_k * d_model + 2 * n_q * d_model**2 + 2 * n_k * d_model**2,
                "the scores pair every query with every key: n_q n_k dot products, not n_q^2": 2 * n_q**2 * d_model,
                "the scores pair every query with every key: n_q n_k dot products, not n_k^2": 2 * n_k**2 * d_model,
            })
            expect_derived(weights, right_weights, "the number of attention weights", known_bugs={
                "that is one head's weight matrix: every head has its own n_q x n_k matrix of weights": n_q * n_k,
                "the weights do not depend on the width d_k: each head stores one weight per (query, key) pair":
                    n_q * n_k * d_model,
                "a head's weight matrix has one row per query and one column per key, n_q x n_k, not n_q x n_q":
                    num_heads * n_q**2,
                "a head's weight matrix has one row per query and one column per key, n_q x n_k, not n_k x n_k":
                    num_heads * n_k**2,
            })
        return run

    cases = [
        ("self-attention: n_q = n_k = 10, d_model = 64, 8 heads", case_on(10, 10, 64, 8)),
        ("100 queries, 30 keys, d_model = 32, 4 heads", case_on(100, 30, 32, 4)),
        ("self-attention: n_q = n_k = 7, d_model = 12, 1 head", case_on(7, 7, 12, 1)),
        ("12 queries, 50 keys, d_model = 48, 6 heads", case_on(12, 50, 48, 6)),
    ]
    return run_check("check_head_cost", head_cost, cases, verbose)


# --- Exercise 5: scaled dot-product attention ------------------------------------------------------------

def _attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None, *,
               scale: float | None = None, softmax_dim: int = -1, mask_mode: str = "correct") -> tuple[torch.Tensor, torch.Tensor]:
    """The reference, and with other arguments the classic bugs: a wrong scale, axis or mask handling."""
    scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if mask is None or mask_mode == "ignored":
        weights = torch.softmax(scores, dim=softmax_dim)
    elif mask_mode == "zero_fill":  # masked scores set to 0 instead of -inf: they still get weight
        weights = torch.softmax(scores.masked_fill(~mask, 0.0), dim=softmax_dim)
    elif mask_mode == "after_softmax":  # weights zeroed after the softmax, rows no longer sum to 1
        weights = torch.softmax(scores, dim=softmax_dim).masked_fill(~mask, 0.0)
    else:
        keep = ~mask if mask_mode == "inverted" else mask
        weights = torch.softmax(scores.masked_fill(~keep, torch.finfo(scores.dtype).min), dim=softmax_dim)
        if mask_mode != "uniform_rows":  # forgetting this gives a fully masked row uniform weights
            weights = weights.masked_fill(~keep, 0.0)
    return weights @ v, weights


INVERTED = "the mask is inverted: True means 'may attend', so mask out the positions where it is False"


def _expect_pair(value: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, tuple) or len(value) != 2:
        raise Feedback(f"return a tuple (output, weights), got {type(value).__name__}"
                       + (f" of length {len(value)}" if isinstance(value, tuple) else ""))
    return expect_tensor(value[0], "output"), expect_tensor(value[1], "weights")


@exercise(chapter=CHAPTER, number=5, title='scaled dot-product attention', stars=2, kind='implement', practises='the attention formula on batched tensors of any rank, masks and empty rows',
          hints=['Scores are `q @ k.transpose(-2, -1)`, divided by the square root of d_k (the last size of q), with shape (..., n_q, n_k).',
                 "Softmax over the keys (dim=-1); with a mask, fill masked scores with the dtype's minimum before it and zero the masked weights after it.",
                 'Return `(weights @ v, weights)`: weights (..., n_q, n_k) times values (..., n_k, d_v).'])
def check_scaled_dot_product_attention(
    attention: Callable[..., tuple[torch.Tensor, torch.Tensor]], verbose: bool = True
) -> CheckResult:
    """Check ``attention(q, k, v, mask=None) -> (output, weights)``: ``softmax(q k^T / sqrt(d_k)) v``.

    ``mask`` is boolean, True = may attend; a query whose keys are all masked must get zero
    weights and a zero output, not NaN. The cases include 4-D inputs (batch, heads, n, d), as
    multi-head attention passes them, and scores above 88, where ``exp`` overflows in float32.
    """
    gen = torch.Generator().manual_seed(0)
    # n_q, n_k, d_k and d_v all differ, so that each wrong scale or axis gives other numbers.
    q, k, v = torch.randn(2, 3, 4, generator=gen), torch.randn(2, 5, 4, generator=gen), torch.randn(2, 5, 6, generator=gen)
    d_k, d_v, n_k = q.shape[-1], v.shape[-1], k.shape[-2]
    mask = torch.rand(2, 3, 5, generator=gen) > 0.5
    mask[..., 0], mask[..., 1] = True, False  # every row keeps some keys and drops some
    key_mask = torch.tensor([[True, True, False, True, False]] * 3)  # (n_q, n_k): broadcasts over the batch
    empty_row = mask.clone()
    empty_row[0, 1] = False  # query 1 of example 0 may attend to no key
    # (batch, heads, n, d), as split_heads gives them, and a per-example mask broadcast over the heads.
    q4, k4, v4 = torch.randn(2, 3, 4, 8, generator=gen), torch.randn(2, 3, 6, 8, generator=gen), torch.randn(2, 3, 6, 5, generator=gen)
    mask4 = torch.rand(2, 1, 4, 6, generator=gen) > 0.4
    mask4[..., 0] = True
    # Scores up to about 150: exp overflows to inf in float32 above 88. A masked key holds each row's maximum.
    basis = torch.eye(4)[:3]  # query i and key i point the same way: score about 20 * 15 / 2 = 150, others near 0
    q_big = 15 * basis + 0.3 * torch.randn(2, 3, 4, generator=gen)
    k_big = torch.cat([20 * basis.expand(2, 3, 4), torch.randn(2, 2, 4, generator=gen)], dim=1)  # (2, 5, 4)
    big_mask = torch.ones(2, 3, 5, dtype=torch.bool)
    big_mask[:, 0, 0] = False  # query 0's best key is masked: exp(score - 150) of its other keys underflows to 0

    def call_intact(fn: Callable, args: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        given = clone_args(*args)
        result = _expect_pair(fn(*given))
        for name, before, after in zip(("q", "k", "v", "mask"), args, given):
            if before.shape != after.shape or not torch.equal(before, after):
                raise Feedback(f"your function changed its argument {name} in place (an operation such as {name} /= ..., "
                               f"{name}.masked_fill_ or {name}.transpose_ changes the caller's tensor): use out-of-place "
                               "operations")
        return result

    def compare(fn: Callable, args: tuple, known_bug_modes: dict[str, dict]) -> None:
        output, weights = call_intact(fn, args)
        expected_output, expected_weights = _attention(*args)
        bugs = {hint: _attention(*args, **kwargs) for hint, kwargs in known_bug_modes.items()}
        expect_close(weights, expected_weights, "weights", known_bugs={h: b[1] for h, b in bugs.items()})
        expect_close(output, expected_output, "output", known_bugs={h: b[0] for h, b in bugs.items()})

    def without_mask(fn: Callable) -> None:
        compare(fn, (q, k, v), {
            "softmax over the wrong axis: normalise each query's scores over the keys (dim=-1)": {"softmax_dim": -2},
            "the scores are not scaled: divide q k^T by sqrt(d_k)": {"scale": 1.0},
            f"you divided by d_k = {d_k}; divide by its square root sqrt(d_k)": {"scale": 1 / d_k},
            f"you scaled by sqrt(d_v) = sqrt({d_v}); the scale comes from the width of q and k, d_k = {d_k}": {"scale": 1 / math.sqrt(d_v)},
            f"you scaled by sqrt(n_k) = sqrt({n_k}), the number of keys; use the feature size d_k = {d_k}": {"scale": 1 / math.sqrt(n_k)},
            "you multiplied by sqrt(d_k); divide by it": {"scale": math.sqrt(d_k)},
            f"you scaled by sqrt(n_q) = sqrt({q.shape[-2]}), the number of queries (q.shape[1]); d_k is the last size, "
            "q.shape[-1]": {"scale": 1 / math.sqrt(q.shape[-2])},
        })

    mask_bugs = {
        INVERTED: {"mask_mode": "inverted"},
        "the mask is ignored: set the scores of masked keys to -inf (or a very negative number) before the softmax": {"mask_mode": "ignored"},
        "you zeroed the weights after the softmax, so rows no longer sum to 1: mask the scores before it": {"mask_mode": "after_softmax"},
        "masked scores were set to 0, which still gets weight: set them to -inf (or a very negative number)": {"mask_mode": "zero_fill"},
    }

    def with_mask(fn: Callable) -> None:
        compare(fn, (q, k, v, mask), mask_bugs)

    def with_broadcast_mask(fn: Callable) -> None:
        compare(fn, (q, k, v, key_mask), mask_bugs)

    def four_dimensional(fn: Callable) -> None:
        try:
            output, weights = call_intact(fn, (q4, k4, v4, mask4))
        except RuntimeError as error:
            raise Feedback("your function fails on 4-D input (batch, heads, n, d), which is what multi-head attention "
                           "passes: use k.transpose(-2, -1) and @ (torch.matmul), not k.transpose(1, 2) or torch.bmm, "
                           f"which assume 3-D tensors (RuntimeError: {str(error).splitlines()[0]})") from None
        expected_output, expected_weights = _attention(q4, k4, v4, mask4)
        expect_close(weights, expected_weights, "weights", known_bugs={
            INVERTED: _attention(q4, k4, v4, mask4, mask_mode="inverted")[1]})
        expect_close(output, expected_output, "output")

    def large_scores(fn: Callable) -> None:
        output, weights = call_intact(fn, (q_big, k_big, v, big_mask))
        if not (torch.isfinite(weights).all() and torch.isfinite(output).all()):
            raise Feedback("NaN with scores above 88: exp(score) overflows to inf in float32 and inf / inf is NaN, and if "
                           "the maximum you subtract comes from a masked key, the kept keys underflow to 0 / 0: use "
                           "torch.softmax on the masked scores (it subtracts the row maximum of what it is given)")
        expected_output, expected_weights = _attention(q_big, k_big, v, big_mask)
        inverted = _attention(q_big, k_big, v, big_mask, mask_mode="inverted")[1]
        if weights.shape == inverted.shape and torch.allclose(weights.detach().double(), inverted.double(), atol=1e-5):
            raise Feedback(INVERTED)
        if weights.shape == expected_weights.shape and weights.sum(dim=-1).abs().lt(0.5).any():
            raise Feedback("a query that keeps some keys got zero weights: the maximum you subtracted before exp came "
                           "from a masked key, 150 above the kept ones, so their exp underflowed to 0; take the maximum "
                           "over the kept keys only, or use torch.softmax on the masked scores")
        expect_close(weights, expected_weights, "weights")
        expect_close(output, expected_output, "output")

    def float64(fn: Callable) -> None:
        args = tuple(t.double() for t in (q, k, v)) + (mask,)
        output, weights = call_intact(fn, args)
        for name, tensor in (("output", output), ("weights", weights)):
            if tensor.dtype != torch.float64:
                raise Feedback(f"with float64 inputs the {name} came back as {tensor.dtype}: keep the inputs' dtype (no "
                               ".float(), and torch.finfo(scores.dtype) rather than a fixed float32 constant)")
        expected_output, expected_weights = _attention(*args)
        expect_close(weights, expected_weights, "weights", known_bugs={INVERTED: _attention(*args, mask_mode="inverted")[1]})
        expect_close(output, expected_output, "output")

    def with_fully_masked_row(fn: Callable) -> None:
        output, weights = call_intact(fn, (q, k, v, empty_row))
        if torch.isnan(weights).any() or torch.isnan(output).any():
            raise Feedback("a query whose keys are all masked gives NaN (softmax of a row of -inf is 0/0): fill with "
                           "torch.finfo(scores.dtype).min instead of -inf, then set the masked weights to 0")
        compare(fn, (q, k, v, empty_row), {
            "a fully masked row got uniform weights 1/n_k: set the weights of masked keys to 0 after the softmax": {"mask_mode": "uniform_rows"},
            **mask_bugs,
        })

    def finite_gradients(fn: Callable) -> None:
        leaves = [t.clone().requires_grad_() for t in (q, k, v)]
        output, _ = _expect_pair(fn(*leaves, empty_row.clone()))
        output.sum().backward()
        for name, leaf in zip("qkv", leaves):
            if leaf.grad is None:
                raise Feedback(f"no gradient reaches {name}: compute the output from q, k and v without .detach() or torch.no_grad()")
            if not torch.isfinite(leaf.grad).all():
                raise Feedback(f"the gradient with respect to {name} contains NaN: the softmax of a row of -inf is NaN, and "
                               "so is its backward pass, even if you zero the weights afterwards; mask the scores with "
                               "masked_fill(~mask, torch.finfo(scores.dtype).min) instead of adding -inf")

    cases = [
        ("no mask (n_q=3, n_k=5, d_k=4, d_v=6)", without_mask),
        ("boolean mask of shape (batch, n_q, n_k)", with_mask),
        ("mask of shape (n_q, n_k), broadcast over the batch", with_broadcast_mask),
        ("4-D input (batch, heads, n, d) with a mask (batch, 1, n_q, n_k)", four_dimensional),
        ("scores up to about 150, a masked key holding a row's maximum", large_scores),
        ("float64 inputs give float64 results", float64),
        ("a fully masked row gives zeros, not NaN", with_fully_masked_row),
        ("gradients stay finite with a fully masked row", finite_gradients),
    ]
    return run_check("check_scaled_dot_product_attention", attention, cases, verbose)


# --- Exercise 6: what removing the causal mask does (predict) -------------------------------------------

def _accuracy_pair(value: Any, what: str) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        got = f"a {type(value).__name__} of length {len(value)}" if isinstance(value, (tuple, list)) else type(value).__name__
        raise Feedback(f"{what} must be a pair (train accuracy, test accuracy), got {got}")
    pair = expect_number(value[0], f"{what}[0]"), expect_number(value[1], f"{what}[1]")
    if any(1 < a <= 100 for a in pair):
        raise Feedback(f"give the accuracies as fractions in [0, 1], not percentages: got {pair[0]:g} and {pair[1]:g}")
    if any(not 0 <= a <= 1 for a in pair):
        raise Feedback(f"an accuracy lies between 0 and 1, got {pair[0]:g} and {pair[1]:g}")
    return pair


def _measured_pair(measured: Mapping[str, Any], key: str) -> tuple[float, float]:
    train, test = measured[key]
    return float(train), float(test)


@exercise(chapter=CHAPTER, number=6, title='what removing the causal mask does', stars=2, kind='predict',
          practises='what the causal mask protects: next-token training without a view of the answer',
          hints=['In the paired sequences, every second next token is a copy of the current one and the others are random: '
                 'a model that sees only the past is right on the copies and guesses the rest.',
                 'Without the mask, which input position holds the very token that position i must predict?'])
def check_no_mask_prediction(prediction: Any, measured: Mapping[str, Any], verbose: bool = True) -> CheckResult:
    """Check ``prediction = (train accuracy, test accuracy)`` of the model trained WITHOUT the causal mask.

    ``measured`` is what the experiment measured on this machine: ``{"causal": (train, test),
    "no mask": (train, test), "no mask, future hidden": accuracy}``, token accuracies in [0, 1]
    (means over seeds). A prediction within 0.1 of each measured value passes; the verdict and the
    explanation come from the measured numbers.
    """
    causal = _measured_pair(measured, "causal")
    unmasked = _measured_pair(measured, "no mask")
    hidden = float(measured["no mask, future hidden"])
    tolerance = 0.1

    def explain(which: int, pair: tuple[float, float]) -> None:
        name, value, right = ("training", "test")[which], pair[which], unmasked[which]
        if abs(value - right) <= tolerance:
            return
        measured_text = f"measured {right:.2f} without the mask against {causal[which]:.2f} with it"
        if abs(value - causal[which]) <= tolerance and abs(right - causal[which]) > 2 * tolerance:
            raise Feedback(f"you predicted about what the causal model reaches ({measured_text}): without the mask, "
                           "position i attends to position i + 1, which holds the token it must predict, and copies it")
        if which == 1 and value < right - tolerance and abs(pair[0] - unmasked[0]) <= tolerance:
            raise Feedback(f"no overfitting here ({measured_text}): the shortcut, copying the next input token, works on "
                           "every sequence, so the test accuracy is as high as the training accuracy")
        direction = "too low" if value < right else "too high"
        raise Feedback(f"your {name} accuracy {value:.2f} is {direction}: {measured_text}")

    def train_case(value: Any) -> None:
        explain(0, _accuracy_pair(value, "prediction_6"))

    def test_case(value: Any) -> None:
        explain(1, _accuracy_pair(value, "prediction_6"))

    cases = [
        ("the training accuracy without the causal mask", train_case),
        ("the test accuracy without the causal mask", test_case),
    ]
    result = run_check("check_no_mask_prediction", prediction, cases, verbose, expects="value")
    if verbose and result.implemented:
        print(f"Why: the unmasked model reads the answer from the next input position (train {unmasked[0]:.2f}, test "
              f"{unmasked[1]:.2f}); given only the past, as when generating, it is right on {hidden:.2f} of the tokens, "
              f"against {causal[1]:.2f} for the causal model. A high accuracy under teacher forcing proves nothing "
              "without the mask.")
    return result


# --- Exercise 7: multi-head attention and an encoder block (assemble) -----------------------------------

def _encoder_block(x: torch.Tensor, layer: nn.TransformerEncoderLayer, mask: torch.Tensor | None = None, *,
                   norm_first: bool | None = None, invert_mask: bool = False, interleave: bool = False,
                   scale_width: str = "head", transpose_weights: bool = False, out_proj: bool = True,
                   residual: bool = True, activation: Callable | None = None, softmax_dim: int = -1,
                   affine: bool = True) -> torch.Tensor:
    """``layer``'s forward pass in evaluation mode, written out; the keywords switch on classic bugs."""
    attn, E, heads = layer.self_attn, layer.self_attn.embed_dim, layer.self_attn.num_heads
    head_dim = E // heads
    norm_first = layer.norm_first if norm_first is None else norm_first

    def linear(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        square = weight.shape[0] == weight.shape[1]  # a transposed rectangular weight fails with a shape error instead
        return h @ weight + bias if transpose_weights and square else F.linear(h, weight, bias)

    def norm(h: torch.Tensor, ln: nn.LayerNorm) -> torch.Tensor:
        return F.layer_norm(h, ln.normalized_shape, ln.weight if affine else None, ln.bias if affine else None, ln.eps)

    def split(h: torch.Tensor) -> torch.Tensor:
        b, n, _ = h.shape
        if interleave:
            return h.reshape(b, n, head_dim, heads).permute(0, 3, 1, 2)
        return h.reshape(b, n, heads, head_dim).transpose(1, 2)

    def self_attention(h: torch.Tensor) -> torch.Tensor:
        w_q, w_k, w_v = attn.in_proj_weight.chunk(3)
        b_q, b_k, b_v = attn.in_proj_bias.chunk(3)
        q, k, v = split(linear(h, w_q, b_q)), split(linear(h, w_k, b_k)), split(linear(h, w_v, b_v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(head_dim if scale_width == "head" else E)
        if mask is not None:
            keep = ~mask if invert_mask else mask
            scores = scores.masked_fill(~keep, float("-inf"))
        heads_out = torch.softmax(scores, dim=softmax_dim) @ v  # (batch, heads, n, head_dim)
        if interleave:
            merged = heads_out.permute(0, 2, 3, 1).reshape(h.shape)
        else:
            merged = heads_out.transpose(1, 2).reshape(h.shape)
        return linear(merged, attn.out_proj.weight, attn.out_proj.bias) if out_proj else merged

    def feed_forward(h: torch.Tensor) -> torch.Tensor:
        act = layer.activation if activation is None else activation
        return linear(act(linear(h, layer.linear1.weight, layer.linear1.bias)), layer.linear2.weight, layer.linear2.bias)

    r = 1.0 if residual else 0.0
    if norm_first:
        x = r * x + self_attention(norm(x, layer.norm1))
        return r * x + feed_forward(norm(x, layer.norm2))
    x = norm(r * x + self_attention(x), layer.norm1)
    return norm(r * x + feed_forward(x), layer.norm2)


def _make_layer(norm_first: bool, activation: str, seed: int) -> nn.TransformerEncoderLayer:
    torch.manual_seed(seed)
    layer = nn.TransformerEncoderLayer(16, 4, 24, dropout=0.1, activation=activation, batch_first=True,
                                       norm_first=norm_first)
    with torch.no_grad():  # non-default biases and LayerNorm parameters, so that forgetting them shows
        for param in layer.parameters():
            if param.ndim == 1:
                param.copy_(0.5 * torch.randn(param.shape))
        layer.norm1.weight.add_(1.0)
        layer.norm2.weight.add_(1.0)
    return layer.eval()


def _forbid(what: str) -> Callable[..., Any]:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise Feedback(f"you called {what}: assemble the block from its parts (layer.self_attn.in_proj_weight, "
                       "layer.linear1, layer.norm1, ...) instead of running the layer or its attention module")
    return forbidden


@exercise(chapter=CHAPTER, number=7, title='multi-head attention and an encoder block', stars=3, kind='implement',
          practises="assembling projections, heads, masked attention, residuals, LayerNorm and the feed-forward "
                    "network into PyTorch's encoder layer",
          hints=["`layer.self_attn.in_proj_weight` stacks W_q, W_k, W_v row-wise (`.chunk(3)`); `F.linear(x, W, b)` is "
                 "x W^T + b, nn.Linear's convention. Scale by 1/sqrt(head_dim), not 1/sqrt(d_model).",
                 "Split into `layer.self_attn.num_heads` heads as in exercise 1, attend as in exercise 5 (True = may attend), "
                 "merge as in exercise 2, then `layer.self_attn.out_proj`.",
                 "Post-norm (`layer.norm_first` False): x = norm1(x + attn(x)); x = norm2(x + ffn(x)). Pre-norm: "
                 "x = x + attn(norm1(x)); x = x + ffn(norm2(x)). ffn(x) = linear2(activation(linear1(x))), "
                 "with `layer.activation`."])
def check_encoder_block(encoder_block: Callable[..., torch.Tensor], verbose: bool = True) -> CheckResult:
    """Check ``encoder_block(x, layer, mask=None) -> Tensor`` against ``layer(x, src_mask=~mask)``.

    ``layer`` is an ``nn.TransformerEncoderLayer(batch_first=True)`` in evaluation mode, ``x`` is
    ``(batch, n, d_model)`` and ``mask`` an ``(n, n)`` boolean tensor with True = may attend (the
    opposite of ``src_mask``). The learner must not call ``layer(...)`` or ``layer.self_attn(...)``.
    """
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 6, 16, generator=gen)
    random_mask = torch.rand(6, 6, generator=gen) > 0.5
    random_mask[:, 0] = True
    random_mask[0, :] = True

    def case_on(norm_first: bool, activation: str, mask: torch.Tensor | None, seed: int) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            layer = _make_layer(norm_first, activation, seed)
            expected = layer(x, src_mask=None if mask is None else ~mask)  # PyTorch: True = may NOT attend
            given = copy.deepcopy(layer)
            given.forward = _forbid("layer(x)")
            given.self_attn.forward = _forbid("layer.self_attn(...)")
            args = (x.clone(), given) if mask is None else (x.clone(), given, mask.clone())
            output = expect_tensor(fn(*args), "encoder_block(x, layer" + (")" if mask is None else ", mask)"))
            if not torch.equal(args[0], x):
                raise Feedback("your function changed its input x in place (x += ... on the residual path changes the "
                               "caller's tensor): write x = x + ... instead")
            if (mask is not None and output.is_floating_point() and torch.isnan(output).any()
                    and mask.all(dim=-1).any() and mask.any(dim=-1).all()):
                raise Feedback("the output contains NaN, and the inverted mask would leave a query no key at all: the "
                               "mask is inverted; ours is True = may attend (mask out where it is False), src_mask is "
                               "the opposite")
            arrangement = "pre-norm (norm_first=True)" if norm_first else "post-norm (norm_first=False)"
            other = "x = x + attn(norm1(x))" if norm_first else "x = norm1(x + attn(x))"
            candidates = {
                f"the layer is {arrangement}: normalise as in {other}, following layer.norm_first":
                    {"norm_first": not norm_first},
                "the mask is inverted: ours is True = may attend (mask out where it is False); "
                "src_mask is the opposite": {"invert_mask": True},
                "the heads are interleaved: each head takes a consecutive block of head_dim features "
                "(reshape to (batch, n, heads, head_dim))": {"interleave": True},
                "you scaled the scores by 1/sqrt(d_model): each head's scale is 1/sqrt(head_dim), "
                "head_dim = d_model / num_heads": {"scale_width": "model"},
                "the weights are used transposed: nn.Linear stores W as (out, in) and computes x W^T + b "
                "(F.linear(x, W, b))": {"transpose_weights": True},
                "the output projection is missing: apply layer.self_attn.out_proj to the merged heads":
                    {"out_proj": False},
                "the residual connections are missing: add each sub-layer's input to its output": {"residual": False},
                "the activation is missing between linear1 and linear2": {"activation": lambda h: h},
                "softmax over the wrong axis: normalise each query's scores over the keys (dim=-1)": {"softmax_dim": -2},
                "the LayerNorms' own weight and bias are missing: use layer.norm1 and layer.norm2 (or pass their "
                "weight and bias to F.layer_norm)": {"affine": False},
            }
            if activation == "gelu":
                candidates["this layer's activation is GELU: use layer.activation, not ReLU"] = {"activation": F.relu}
            known_bugs = {hint: _encoder_block(x, layer, mask, **kwargs) for hint, kwargs in candidates.items()}
            expect_close(output, expected, "the block's output", known_bugs=known_bugs)
        return run

    cases = [
        ("post-norm, ReLU, no mask", case_on(False, "relu", None, 1)),
        ("post-norm, ReLU, causal mask", case_on(False, "relu", torch.ones(6, 6, dtype=torch.bool).tril(), 2)),
        ("pre-norm, GELU, a random mask", case_on(True, "gelu", random_mask, 3)),
        ("pre-norm, ReLU, causal mask", case_on(True, "relu", torch.ones(6, 6, dtype=torch.bool).tril(), 4)),
    ]
    return run_check("check_encoder_block", encoder_block, cases, verbose)
