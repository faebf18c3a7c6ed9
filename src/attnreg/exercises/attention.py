"""Checker for the exercise of chapter 01: the masked softmax."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._framework import CheckResult, Feedback, clone_args, expect_close, expect_tensor, run_check
from ._registry import exercise

NAN_ON_EMPTY_ROW = ("a query whose keys are all masked gives NaN (the softmax of a row of -inf is 0/0): fill the masked "
                    "scores with torch.finfo(scores.dtype).min instead of -inf, then set the masked weights to 0")


def _masked_softmax(scores: torch.Tensor, mask: torch.Tensor, *, dim: int = -1, mode: str = "correct") -> torch.Tensor:
    """The reference, and with ``dim`` or ``mode`` the classic bugs (wrong axis, mask handling)."""
    if mode == "ignored":
        return torch.softmax(scores, dim=dim)
    if mode == "zero_fill":  # masked scores set to 0: exp(0) = 1 still gets weight
        return torch.softmax(scores.masked_fill(~mask, 0.0), dim=dim)
    if mode == "after_softmax":  # weights zeroed after the softmax: rows no longer sum to 1
        return torch.softmax(scores, dim=dim).masked_fill(~mask, 0.0)
    keep = ~mask if mode == "inverted" else mask
    weights = torch.softmax(scores.masked_fill(~keep, torch.finfo(scores.dtype).min), dim=dim)
    return weights if mode == "uniform_rows" else weights.masked_fill(~keep, 0.0)


WRONG_AXIS = "softmax over the wrong axis: normalise each query's scores over the keys, the last axis (dim=-1)"
MASK_BUGS = {
    "the mask is inverted: True means 'may attend', so hide the positions where the mask is False": {"mode": "inverted"},
    "the mask is ignored: set the scores of masked keys to -inf (or a very negative number) before the softmax": {"mode": "ignored"},
    "masked scores were set to 0, and exp(0) = 1 still gets weight: set them to -inf (or a very negative number)": {"mode": "zero_fill"},
    "you zeroed the weights after the softmax, so rows no longer sum to 1: mask the scores before it": {"mode": "after_softmax"},
    WRONG_AXIS: {"dim": -2},
}


@exercise(chapter='01_attention', number=1, title='the masked softmax', stars=2, kind='implement', practises='masking scores before the softmax, numerical stability, fully masked rows',
          hints=['Hide a masked key by giving its score a very negative value before the softmax: `scores.masked_fill(~mask, torch.finfo(scores.dtype).min)` returns a new tensor and broadcasts the mask.',
                 'A query with no key left gets a uniform row from that softmax; zero the masked weights afterwards with a second `masked_fill(~mask, 0.0)`.',
                 "`torch.softmax` subtracts each row's maximum for you, so scores of size 1000 stay finite; -inf instead of the dtype's minimum would make the gradient NaN on an empty row."])
def check_masked_softmax(masked_softmax: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                         verbose: bool = True) -> CheckResult:
    """Check ``masked_softmax(scores, mask)``: a softmax over the last axis restricted to ``mask``.

    ``weights_j = exp(s_j) / sum_{l: mask_l} exp(s_l)`` where ``mask_j`` is True (attend), 0 where it is
    False; ``mask`` is boolean and broadcasts to ``scores``; a row with no True entry gives zeros, not
    NaN; scores of any size (1000, say) give finite weights.
    """
    gen = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 3, 5, generator=gen) * 2  # n_q = 3 != n_k = 5, so a wrong axis shows
    mask = torch.rand(2, 3, 5, generator=gen) > 0.5
    mask[..., 0], mask[..., 1] = True, False  # every row keeps some keys and drops some
    key_mask = torch.tensor([[True, True, False, True, False], [True, False, True, True, True]])[:, None, :]  # (2, 1, 5)
    empty_row = mask.clone()
    empty_row[0, 1] = False  # query 1 of example 0 may attend to no key

    def result_of(fn: Callable, s: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        s_in, m_in = clone_args(s, m)
        weights = expect_tensor(fn(s_in, m_in), "masked_softmax(scores, mask)")
        if not torch.equal(s_in, s):
            raise Feedback("your function changed the scores it was given (an in-place edit such as scores[~mask] = ...): "
                           "work on a copy, e.g. scores.masked_fill(~mask, value), which returns a new tensor")
        if weights.shape != s.shape:
            hint = " (the shape of the mask)" if weights.shape == m.shape else ""
            raise Feedback(f"the weights have shape {tuple(weights.shape)}{hint}, expected the shape of the scores "
                           f"{tuple(s.shape)}: the mask must broadcast to the scores, not the other way round")
        return weights

    def compare(fn: Callable, s: torch.Tensor, m: torch.Tensor, bugs: dict[str, dict]) -> None:
        weights = result_of(fn, s, m)
        known = {hint: _masked_softmax(s, m, **kwargs) for hint, kwargs in bugs.items()}
        expect_close(weights, _masked_softmax(s, m), "the weights", known_bugs=known)

    def all_true(fn: Callable) -> None:
        compare(fn, scores, torch.ones_like(mask), {WRONG_AXIS: {"dim": -2}})

    def with_mask(fn: Callable) -> None:
        compare(fn, scores, mask, MASK_BUGS)

    def broadcast_mask(fn: Callable) -> None:
        try:
            weights = result_of(fn, scores, key_mask)
        except (IndexError, RuntimeError) as error:
            raise Feedback(f"a mask of shape (2, 1, 5), one row of keys for every query, raised {type(error).__name__}: "
                           "boolean indexing such as scores[~mask] needs a mask of exactly the scores' shape; "
                           "scores.masked_fill(~mask, value) broadcasts") from None
        known = {hint: _masked_softmax(scores, key_mask, **kwargs) for hint, kwargs in MASK_BUGS.items()}
        expect_close(weights, _masked_softmax(scores, key_mask), "the weights", known_bugs=known)

    def fully_masked_row(fn: Callable) -> None:
        weights = result_of(fn, scores, empty_row)
        if torch.isnan(weights).any():
            raise Feedback(NAN_ON_EMPTY_ROW)
        compare(fn, scores, empty_row, {
            "a fully masked row got uniform weights 1/n_k: set the weights of masked keys to 0 after the softmax": {"mode": "uniform_rows"},
            **MASK_BUGS,
        })

    def large_scores(fn: Callable) -> None:
        big = torch.tensor([[1000.0, 999.0, 998.0, 0.0], [-1000.0, -1001.0, -999.0, -1000.0]])
        m = torch.tensor([[True, True, False, True], [True, True, True, False]])
        weights = result_of(fn, big, m)
        if not torch.isfinite(weights).all():
            raise Feedback("scores of size 1000 give NaN or inf: exp(1000) overflows and exp(-1000) underflows to 0; "
                           "subtract each row's largest score before exp (the softmax does not change), or use torch.softmax")
        expect_close(weights, _masked_softmax(big, m), "the weights", known_bugs={
            hint: _masked_softmax(big, m, **kwargs) for hint, kwargs in MASK_BUGS.items()})

    def finite_gradients(fn: Callable) -> None:
        leaf = scores.clone().requires_grad_()
        weights = expect_tensor(fn(leaf, empty_row.clone()), "masked_softmax(scores, mask)")
        if not weights.requires_grad:
            raise Feedback("no gradient reaches the scores: compute the weights from the scores without .detach() or torch.no_grad()")
        (weights * torch.arange(5.0)).sum().backward()
        if not torch.isfinite(leaf.grad).all():
            raise Feedback("the gradient contains NaN with a fully masked row: adding -inf to the scores (a float mask) "
                           "gives a row of -inf whose backward pass is NaN, even if you zero the weights afterwards; "
                           "use scores.masked_fill(~mask, torch.finfo(scores.dtype).min)")

    cases = [
        ("mask all True: a plain softmax over the keys (n_q=3, n_k=5)", all_true),
        ("boolean mask of shape (batch, n_q, n_k)", with_mask),
        ("mask of shape (batch, 1, n_k), broadcast over the queries", broadcast_mask),
        ("a fully masked row gives zeros, not NaN", fully_masked_row),
        ("scores around +-1000 give finite weights", large_scores),
        ("gradients stay finite with a fully masked row", finite_gradients),
    ]
    return run_check("check_masked_softmax", masked_softmax, cases, verbose)
