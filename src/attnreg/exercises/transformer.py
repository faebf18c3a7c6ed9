"""Checkers for the exercises of chapter 02: scaled dot-product attention, head split and merge, causal masks."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch

from ._framework import CheckResult, Feedback, clone_args, expect_close, expect_tensor, run_check
from ._registry import exercise


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


def _expect_pair(value: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, tuple) or len(value) != 2:
        raise Feedback(f"return a tuple (output, weights), got {type(value).__name__}"
                       + (f" of length {len(value)}" if isinstance(value, tuple) else ""))
    return expect_tensor(value[0], "output"), expect_tensor(value[1], "weights")


@exercise(chapter='02_self_attention_transformer', number=1, title='scaled dot-product attention', stars=2, kind='implement', practises='the attention formula on batched tensors of any rank, masks and empty rows',
          hints=['Scores are `q @ k.transpose(-2, -1)`, divided by the square root of d_k (the last size of q), with shape (..., n_q, n_k).',
                 "Softmax over the keys (dim=-1); with a mask, fill masked scores with the dtype's minimum before it and zero the masked weights after it.",
                 'Return `(weights @ v, weights)`: weights (..., n_q, n_k) times values (..., n_k, d_v).'])
def check_scaled_dot_product_attention(
    attention: Callable[..., tuple[torch.Tensor, torch.Tensor]], verbose: bool = True
) -> CheckResult:
    """Check ``attention(q, k, v, mask=None) -> (output, weights)``: ``softmax(q k^T / sqrt(d_k)) v``.

    ``mask`` is boolean, True = may attend; a query whose keys are all masked must get zero
    weights and a zero output, not NaN.
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

    def compare(fn: Callable, args: tuple, known_bug_modes: dict[str, dict]) -> None:
        output, weights = _expect_pair(fn(*clone_args(*args)))
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
        })

    mask_bugs = {
        "the mask is inverted: True means 'may attend', so mask out the positions where it is False": {"mask_mode": "inverted"},
        "the mask is ignored: set the scores of masked keys to -inf (or a very negative number) before the softmax": {"mask_mode": "ignored"},
        "you zeroed the weights after the softmax, so rows no longer sum to 1: mask the scores before it": {"mask_mode": "after_softmax"},
        "masked scores were set to 0, which still gets weight: set them to -inf (or a very negative number)": {"mask_mode": "zero_fill"},
    }

    def with_mask(fn: Callable) -> None:
        compare(fn, (q, k, v, mask), mask_bugs)

    def with_broadcast_mask(fn: Callable) -> None:
        compare(fn, (q, k, v, key_mask), mask_bugs)

    def with_fully_masked_row(fn: Callable) -> None:
        output, weights = _expect_pair(fn(*clone_args(q, k, v, empty_row)))
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
        ("a fully masked row gives zeros, not NaN", with_fully_masked_row),
        ("gradients stay finite with a fully masked row", finite_gradients),
    ]
    return run_check("check_scaled_dot_product_attention", attention, cases, verbose)


def _split(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    batch, n, embed_dim = x.shape
    return x.reshape(batch, n, num_heads, embed_dim // num_heads).transpose(1, 2)


@exercise(chapter='02_self_attention_transformer', number=2, title='split the heads', stars=1, kind='implement', practises='reshape and transpose for multi-head attention',
          hints=['First `x.reshape(batch, n, num_heads, head_dim)`: head h gets features h * head_dim to (h + 1) * head_dim - 1.',
                 'Then move the head axis before the sequence axis: `.transpose(1, 2)` gives (batch, heads, n, head_dim).'])
def check_split_heads(split_heads: Callable[[torch.Tensor, int], torch.Tensor], verbose: bool = True) -> CheckResult:
    """Check ``split_heads(x, num_heads)``: ``(batch, n, embed_dim) -> (batch, heads, n, head_dim)``.

    Head ``h`` must get the consecutive features ``h * head_dim`` to ``(h + 1) * head_dim - 1``.
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
            }
            expect_close(fn(*clone_args(x, num_heads)), _split(x, num_heads), "split_heads(x)", known_bugs=known_bugs)
        return run

    cases = [
        ("batch 2, n 5, embed_dim 12, 3 heads", case_on(2, 5, 12, 3)),
        ("batch 1, n 4, embed_dim 6, 2 heads", case_on(1, 4, 6, 2)),
        ("one head", case_on(2, 3, 4, 1)),
    ]
    return run_check("check_split_heads", split_heads, cases, verbose)


@exercise(chapter='02_self_attention_transformer', number=3, title='merge the heads', stars=1, kind='implement', practises='undoing the head split in the right order',
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
            }
            expect_close(fn(*clone_args(x)), x.transpose(1, 2).reshape(batch, n, num_heads * head_dim),
                         "merge_heads(x)", known_bugs=known_bugs)
        return run

    def undoes_split(fn: Callable) -> None:
        x = torch.randn(2, 5, 12, generator=torch.Generator().manual_seed(0))
        expect_close(fn(_split(x, 3)), x, "merge_heads(split_heads(x, 3))")

    cases = [
        ("batch 2, 3 heads, n 5, head_dim 4", case_on(2, 3, 5, 4)),
        ("batch 1, 2 heads, n 4, head_dim 3", case_on(1, 2, 4, 3)),
        ("merge_heads undoes split_heads", undoes_split),
    ]
    return run_check("check_merge_heads", merge_heads, cases, verbose)


@exercise(chapter='02_self_attention_transformer', number=4, title='the causal mask', stars=1, kind='implement', practises='boolean masks, True = may attend',
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
                "True marks the future here: that is the mask PyTorch's attn_mask expects (True = blocked); "
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
