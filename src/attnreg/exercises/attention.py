"""Checkers for the exercises of chapter 01.

1. the variance of a dot product (derive), 2. the additive score on batched input (implement),
3. how the gradient through the softmax depends on the temperature (predict), 4. the masked softmax
(implement), 5. one step of Bahdanau's attention decoder, :class:`attnreg.seq2seq.BahdanauSeq2Seq`
(assemble).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ._framework import (CheckResult, Feedback, clone_args, expect_close, expect_derived, expect_tensor,
                         run_check)
from ._registry import exercise

def _to_3d(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The same numbers with the leading dimensions broadcast and flattened into one batch axis."""
    batch = torch.broadcast_shapes(*(t.shape[:-2] for t in tensors))
    return tuple(t.expand(*batch, *t.shape[-2:]).reshape(-1, *t.shape[-2:]).clone() for t in tensors)


def _works_in_3d(fn: Callable, args: tuple[Any, ...]) -> bool:
    """Whether the learner's function runs on 3-D versions of the inputs (to tell a rank bug from others)."""
    try:
        fn(*args)
    except Exception:  # noqa: BLE001 - any failure means the rank is not the (only) problem
        return False
    return True


# --- Exercise 1: Var(q . k) -------------------------------------------------------------------

VAR_QK_CASES = ((64, 1.0, 1.0), (64, 2.0, 1.0), (10, 0.5, 3.0), (1, 1.5, 0.4))


@exercise(chapter='01_attention', number=1, title='the variance of a dot product', stars=1, kind='derive', practises='the variance of a sum of independent products, the scale of dot-product scores',
          hints=['Write q.k = sum_i q_i k_i. The d terms are independent and have mean 0, so the variance of the sum is the sum of the variances.',
                 'For independent q_i and k_i with mean 0, Var(q_i k_i) = E[q_i^2 k_i^2] - E[q_i k_i]^2 = E[q_i^2] E[k_i^2] - 0.',
                 'E[q_i^2] is the variance of q_i, that is sigma_q squared (not sigma_q itself).'])
def check_var_qk(var_qk: Callable[[int, float, float], float], verbose: bool = True) -> CheckResult:
    """Check ``var_qk(d, sigma_q, sigma_k)``: the variance of ``q . k`` for ``q, k`` with ``d`` independent
    entries of mean 0 and standard deviations ``sigma_q`` and ``sigma_k``. Never prints the right value."""

    def case_for(d: int, sigma_q: float, sigma_k: float) -> Callable[[Callable], None]:
        def case(fn: Callable) -> None:
            vq, vk = sigma_q ** 2, sigma_k ** 2
            expect_derived(fn(d, sigma_q, sigma_k), d * vq * vk, f"var_qk({d}, {sigma_q}, {sigma_k})", known_bugs={
                "you multiplied the standard deviations: Var(q_i k_i) = E[q_i^2] E[k_i^2], the product of the variances "
                "sigma_q^2 sigma_k^2": d * sigma_q * sigma_k,
                "you found the variance of one product q_i k_i: q.k adds d of them, and the variances of independent "
                "terms add": vq * vk,
                "that grows like sqrt(d), which is how the standard deviation grows: the variances of the d independent "
                "terms add, so the variance grows like d": math.sqrt(d) * vq * vk,
                "d^2 would need the d products to be perfectly correlated; they are independent, so their variances add "
                "(d times one product's variance)": d * d * vq * vk,
                "the variance of a product of independent zero-mean variables is the product of their variances, "
                "not the sum": d * (vq + vk),
                "the answer depends on sigma_q and sigma_k, not only on d: scaling q by a scales q.k by a": float(d),
            })
        return case

    cases = [(f"d = {d}, sigma_q = {sq}, sigma_k = {sk}", case_for(d, sq, sk)) for d, sq, sk in VAR_QK_CASES]
    return run_check("check_var_qk", var_qk, cases, verbose)


# --- Exercise 2: the additive score -----------------------------------------------------------

def _additive(q: torch.Tensor, k: torch.Tensor, W: torch.Tensor, U: torch.Tensor, v: torch.Tensor, *,
              mode: str = "correct") -> torch.Tensor:
    """``v . tanh(W k_j + U q_i)`` for every pair, and with ``mode`` the classic bugs."""
    if mode == "swapped":  # W on the queries, U on the keys (needs d_q = d_k)
        W, U = U, W
    hidden = (q @ U.T).unsqueeze(-2) + (k @ W.T).unsqueeze(-3)  # (..., n_q, n_k, h)
    if mode == "no_tanh":
        return hidden @ v
    if mode == "tanh_outside":
        return torch.tanh(hidden @ v)
    if mode == "sum":
        return torch.tanh(hidden).sum(-1)
    scores = torch.tanh(hidden) @ v
    return scores.transpose(-2, -1) if mode == "transposed" else scores


ADDITIVE_BUGS = {
    "W and U are swapped: W maps the keys and U the queries, s(q, k) = v . tanh(W k + U q)": {"mode": "swapped"},
    "the tanh is missing: without it the score is linear, v.W k + v.U q, and cannot compare q with k": {"mode": "no_tanh"},
    "the tanh is applied after v: the hidden layer is tanh(W k + U q), and v weighs its units": {"mode": "tanh_outside"},
    "you summed the hidden units instead of weighing them with v: the score is v . tanh(...), a dot product with v": {"mode": "sum"},
}


@exercise(chapter='01_attention', number=2, title='the additive score for batched input', stars=2, kind='implement', practises='broadcasting every query against every key, batch dimensions of any rank',
          hints=['Map the queries and the keys first: `q @ U.T` is (..., n_q, h) and `k @ W.T` is (..., n_k, h).',
                 'Insert axes so that they broadcast to (..., n_q, n_k, h): `.unsqueeze(-2)` on the mapped queries, `.unsqueeze(-3)` on the mapped keys. Index from the end, so that 2-D and 4-D input work too.',
                 'Then `torch.tanh(...) @ v` contracts the hidden axis and leaves (..., n_q, n_k).'])
def check_additive_score(additive_score: Callable[..., torch.Tensor], verbose: bool = True) -> CheckResult:
    """Check ``additive_score(q, k, W, U, v)``: scores ``(..., n_q, n_k)`` with entry ``[i, j] = v . tanh(W k_j + U q_i)``.

    ``q (..., n_q, d_q)``, ``k (..., n_k, d_k)``, ``W (h, d_k)``, ``U (h, d_q)``, ``v (h,)``; the leading
    dimensions of ``q`` and ``k`` broadcast; the dtype of the inputs is kept and gradients reach every input.
    """
    gen = torch.Generator().manual_seed(1)

    def params(d_q: int, d_k: int, h: int, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, ...]:
        return tuple(torch.randn(*shape, generator=gen, dtype=torch.float64).to(dtype)
                     for shape in ((h, d_k), (h, d_q), (h,)))

    def result_of(fn: Callable, args: tuple[torch.Tensor, ...]) -> torch.Tensor:
        copies = clone_args(*args)
        q, k = args[0], args[1]
        try:
            scores = expect_tensor(fn(*copies), "additive_score(q, k, W, U, v)")
        except (RuntimeError, IndexError) as error:
            if q.ndim != 3 and k.ndim != 3 and _works_in_3d(fn, _to_3d(q, k) + clone_args(*args[2:])):
                raise Feedback(f"q of shape {tuple(q.shape)} and k of shape {tuple(k.shape)} raised {type(error).__name__}, "
                               "although the same numbers as a 3-D batch work: index the axes from the end (-1, -2, -3) "
                               "and use broadcasting instead of bmm or transpose(1, 2), so that 2-D and 4-D input work "
                               "like 3-D") from None
            raise
        if any(not torch.equal(a, b) for a, b in zip(copies, args)):
            raise Feedback("your function changed one of its inputs in place: work on new tensors")
        expected_shape = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2]) + (q.shape[-2], k.shape[-2])
        if scores.shape != expected_shape:
            if scores.shape == expected_shape[:-2] + expected_shape[-2:][::-1]:
                raise Feedback(f"the scores have shape {tuple(scores.shape)}, (..., n_k, n_q): entry [i, j] is s(q_i, k_j), "
                               f"so the queries index the rows, expected {tuple(expected_shape)}")
            if scores.shape == expected_shape + (1,):
                raise Feedback(f"the scores have shape {tuple(scores.shape)}, with a trailing axis of size 1: "
                               f"expected {tuple(expected_shape)} (use v of shape (h,), or squeeze the last axis)")
            raise Feedback(f"the scores have shape {tuple(scores.shape)}, expected (..., n_q, n_k) = {tuple(expected_shape)}")
        if scores.dtype != q.dtype:
            raise Feedback(f"the scores are {scores.dtype} for inputs of {q.dtype}: keep the inputs' dtype "
                           "(no .float(), no new tensors of the default dtype)")
        return scores

    def compare(fn: Callable, args: tuple[torch.Tensor, ...]) -> None:
        scores = result_of(fn, args)
        bugs = {hint: _additive(*args, **kwargs) for hint, kwargs in ADDITIVE_BUGS.items()
                if kwargs["mode"] != "swapped" or args[0].shape[-1] == args[1].shape[-1]}
        expect_close(scores, _additive(*args), "the scores", known_bugs=bugs)

    def same_width(fn: Callable) -> None:  # d_q = d_k, so that a swap of W and U runs and shows
        compare(fn, (torch.randn(2, 3, 4, generator=gen), torch.randn(2, 5, 4, generator=gen), *params(4, 4, 6)))

    def widths_differ(fn: Callable) -> None:
        compare(fn, (torch.randn(2, 3, 4, generator=gen), torch.randn(2, 5, 6, generator=gen), *params(4, 6, 7)))

    def two_d(fn: Callable) -> None:
        compare(fn, (torch.randn(3, 4, generator=gen), torch.randn(5, 6, generator=gen), *params(4, 6, 7)))

    def four_d(fn: Callable) -> None:
        compare(fn, (torch.randn(2, 2, 3, 4, generator=gen), torch.randn(2, 2, 5, 6, generator=gen), *params(4, 6, 7)))

    def broadcast(fn: Callable) -> None:  # one query per example (n_q = 1), as in a decoder step
        compare(fn, (torch.randn(2, 1, 4, generator=gen), torch.randn(1, 5, 6, generator=gen), *params(4, 6, 7)))

    def float64(fn: Callable) -> None:
        compare(fn, (torch.randn(2, 3, 4, generator=gen, dtype=torch.float64),
                     torch.randn(2, 5, 6, generator=gen, dtype=torch.float64), *params(4, 6, 7, torch.float64)))

    def gradients(fn: Callable) -> None:
        leaves = [t.requires_grad_() for t in (torch.randn(2, 3, 4, generator=gen), torch.randn(2, 5, 6, generator=gen),
                                               *params(4, 6, 7))]
        scores = expect_tensor(fn(*leaves), "additive_score(q, k, W, U, v)")
        if not scores.requires_grad:
            raise Feedback("no gradient reaches the inputs: compute the scores without .detach(), .numpy() or torch.no_grad()")
        (scores * torch.arange(float(scores.shape[-1]))).sum().backward()
        missing = [name for name, leaf in zip("qkWUv", leaves) if leaf.grad is None or not leaf.grad.abs().sum() > 0]
        if missing:
            raise Feedback(f"no gradient reaches {', '.join(missing)}: every input must take part in the computation "
                           "without .detach()")

    cases = [
        ("d_q = d_k, batch of 2 (n_q = 3, n_k = 5)", same_width),
        ("d_q = 4, d_k = 6, hidden width 7", widths_differ),
        ("2-D input: q (n_q, d_q), k (n_k, d_k)", two_d),
        ("4-D input: (batch, heads, n, d)", four_d),
        ("k of shape (1, n_k, d_k) broadcast over a batch of 2 queries", broadcast),
        ("float64 input gives float64 scores", float64),
        ("gradients reach q, k, W, U and v", gradients),
    ]
    return run_check("check_additive_score", additive_score, cases, verbose)


# --- Exercise 3: the gradient through the softmax against the temperature ---------------------

TEMPERATURE_CHOICES = {
    "grows": "the weights flatten towards uniform as T grows, but the gradient with respect to the raw scores "
             "carries a factor 1/T: d softmax(e/T)/de = J/T, and J stays bounded, so it does not keep growing",
    "shrinks": "at a low temperature the softmax is nearly one-hot and saturated, so its gradient is close to 0: "
               "raising T from there first makes it larger",
    "rises then falls": "",
    "falls then rises": "at both ends the gradient is small, not large: at low T the softmax saturates (one-hot, "
                        "J ~ 0); at high T the weights are uniform but the gradient carries a factor 1/T",
}
TEMPERATURE_EXPLANATION = (
    "At a low temperature the weights are one-hot and alpha_i (delta_ij - alpha_j) is about 0 everywhere; at a high "
    "one the weights are nearly uniform, J stays near its uniform value, and the chain rule through e / T multiplies it "
    "by 1/T. Dividing by sqrt(d) is T = sqrt(d): once the weights are near uniform, every gradient to the scores, "
    "and through them to q and k, is sqrt(d) times smaller.")


def _curve_shape(sizes: Sequence[float]) -> str | None:
    """Which of the choices the measured sizes (ordered by temperature) follow, with a 10 % margin."""
    peak = max(range(len(sizes)), key=lambda i: sizes[i])
    low = min(range(len(sizes)), key=lambda i: sizes[i])
    ends = (sizes[0], sizes[-1])
    if 0 < peak < len(sizes) - 1 and max(ends) < 0.9 * sizes[peak]:
        return "rises then falls"
    if 0 < low < len(sizes) - 1 and min(ends) > 1.1 * sizes[low]:
        return "falls then rises"
    if all(b >= a for a, b in zip(sizes, sizes[1:])) and sizes[-1] > 1.1 * sizes[0]:
        return "grows"
    if all(b <= a for a, b in zip(sizes, sizes[1:])) and sizes[0] > 1.1 * sizes[-1]:
        return "shrinks"
    return None


@exercise(chapter='01_attention', number=3, title='the gradient through the softmax against the temperature', stars=2, kind='predict', practises='saturation of the softmax, the chain rule through a temperature, the 1/sqrt(d) scale',
          hints=['Look at the two ends. At a very low temperature the weights are one-hot: what is alpha_i (delta_ij - alpha_j) then?',
                 'At a very high temperature the weights are uniform, and d softmax(e / T) / d e = J / T by the chain rule: what does 1/T do as T grows?'])
def check_temperature_gradient(prediction: Any, temperatures: Sequence[float], gradient_sizes: Sequence[float],
                               verbose: bool = True) -> CheckResult:
    """Check a prediction of how ``|d softmax(e / T) / d e|`` changes as ``T`` grows against the measured sizes.

    ``prediction`` is one of ``"grows"``, ``"shrinks"``, ``"rises then falls"``, ``"falls then rises"``;
    ``temperatures`` (increasing) and ``gradient_sizes`` are what the experiment measured. The verdict
    comes from the measurement.
    """
    temperatures = [float(t) for t in temperatures]
    sizes = [float(g) for g in gradient_sizes]
    if len(temperatures) != len(sizes) or len(sizes) < 3 or any(b <= a for a, b in zip(temperatures, temperatures[1:])):
        raise ValueError("temperatures must be increasing and match gradient_sizes, with at least 3 of each, got "
                         f"{len(temperatures)} temperatures and {len(sizes)} sizes")
    measured = _curve_shape(sizes)

    def compare(answer: Any) -> None:
        if not isinstance(answer, str) or answer.strip().lower() not in TEMPERATURE_CHOICES:
            raise Feedback(f"prediction must be one of {', '.join(repr(c) for c in TEMPERATURE_CHOICES)}, got {answer!r}")
        if measured is None:
            raise Feedback("the measured sizes follow none of the four shapes: run the experiment cell again with its "
                           "temperatures from 0.05 to 100")
        answer = answer.strip().lower()
        peak = max(range(len(sizes)), key=lambda i: sizes[i])
        if answer != measured:
            raise Feedback(f"the experiment says '{measured}' (largest at T = {temperatures[peak]:g}): "
                           + (TEMPERATURE_CHOICES[answer] or TEMPERATURE_EXPLANATION))

    result = run_check("check_temperature_gradient", prediction,
                       [("your prediction against the measured gradient sizes", compare)], verbose, expects="value")
    if result.passed and verbose:
        print(TEMPERATURE_EXPLANATION)
    return result


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


@exercise(chapter='01_attention', number=4, title='the masked softmax', stars=2, kind='implement', practises='masking scores before the softmax, numerical stability, fully masked rows',
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
        try:
            weights = expect_tensor(fn(s_in, m_in), "masked_softmax(scores, mask)")
        except (IndexError, RuntimeError) as error:
            if s.ndim == 3 or not _works_in_3d(fn, _to_3d(s, m.expand_as(s))):
                raise
            raise Feedback(f"scores of shape {tuple(s.shape)} with a mask of shape {tuple(m.shape)} raised "
                           f"{type(error).__name__}, although the same numbers as a 3-D batch work: index axes from the "
                           "end (dim=-1) and let the mask broadcast, so that any number of leading dimensions works") from None
        if not torch.equal(s_in, s):
            raise Feedback("your function changed the scores it was given (an in-place edit such as scores[~mask] = ...): "
                           "work on a copy, e.g. scores.masked_fill(~mask, value), which returns a new tensor")
        if not torch.equal(m_in, m):
            raise Feedback("your function changed the mask it was given (an in-place edit such as mask.logical_not_()): "
                           "use ~mask, which returns a new tensor")
        if weights.dtype != s.dtype:
            raise Feedback(f"the weights are {weights.dtype} for scores of {s.dtype}: keep the scores' dtype "
                           "(no .float(), no new tensors of the default dtype)")
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

    def masked_row_maximum(fn: Callable) -> None:
        s = torch.tensor([[0.5, -1.0, 200.0, 0.2, 1.0], [2.0, 1.0, 0.0, 150.0, -1.0]])
        m = torch.tensor([[True, True, False, True, True], [True, True, True, False, False]])
        weights = result_of(fn, s, m)
        if not torch.isfinite(weights).all() or (weights.sum(-1) < 0.5).any():
            raise Feedback("a masked key holds the row's largest score and the kept keys got NaN or no weight at all: the "
                           "maximum you subtract must come from the kept keys only (exp(0.5 - 200) underflows to 0); "
                           "fill the masked scores with a very negative number first, then take the softmax")
        expect_close(weights, _masked_softmax(s, m), "the weights", known_bugs={
            hint: _masked_softmax(s, m, **kwargs) for hint, kwargs in MASK_BUGS.items()})

    def two_d(fn: Callable) -> None:
        s, m = scores[0].double(), torch.tensor([True, False, True, True, False])  # (n_q, n_k) float64, (n_k,) mask
        weights = result_of(fn, s, m)
        expect_close(weights, _masked_softmax(s, m), "the weights", known_bugs={
            hint: _masked_softmax(s, m, **kwargs) for hint, kwargs in MASK_BUGS.items()})

    def four_d(fn: Callable) -> None:
        s = torch.randn(2, 2, 3, 5, generator=gen) * 3 + 90  # (batch, heads, n_q, n_k), exp(90) overflows float32
        m = torch.tensor([[True, True, False, True, False], [False, True, True, True, True]])[:, None, None, :]
        weights = result_of(fn, s, m)
        if not torch.isfinite(weights).all():
            raise Feedback("scores around 90 give NaN or inf: exp overflows float32 above 88; subtract each row's "
                           "largest kept score before exp, or use torch.softmax")
        expect_close(weights, _masked_softmax(s, m), "the weights", known_bugs={
            hint: _masked_softmax(s, m, **kwargs) for hint, kwargs in MASK_BUGS.items()})

    cases = [
        ("mask all True: a plain softmax over the keys (n_q=3, n_k=5)", all_true),
        ("boolean mask of shape (batch, n_q, n_k)", with_mask),
        ("mask of shape (batch, 1, n_k), broadcast over the queries", broadcast_mask),
        ("a fully masked row gives zeros, not NaN", fully_masked_row),
        ("scores around +-1000 give finite weights", large_scores),
        ("a masked key holds the row's largest score", masked_row_maximum),
        ("2-D float64 scores (n_q, n_k) with a mask of shape (n_k,)", two_d),
        ("4-D scores (batch, heads, n_q, n_k) around 90 with a mask of shape (batch, 1, 1, n_k)", four_d),
        ("gradients stay finite with a fully masked row", finite_gradients),
    ]
    return run_check("check_masked_softmax", masked_softmax, cases, verbose)


# --- Exercise 5: one step of Bahdanau's attention decoder -------------------------------------

def _bahdanau_step(model: Any, previous: torch.Tensor, state: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor, *,
                   mode: str = "correct") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The step of :meth:`attnreg.seq2seq.BahdanauSeq2Seq.decode_step` from its parts, and with ``mode`` the classic bugs."""
    from ..attention import ScaledDotScore, masked_softmax

    def attention(query: torch.Tensor) -> torch.Tensor:  # (B, 1, n_src)
        scores = (ScaledDotScore() if mode == "scaled_default" else model.score)(query, keys)
        if mode == "no_mask":
            return torch.softmax(scores, dim=-1)
        return masked_softmax(scores, mask, dim=-2 if mode == "wrong_axis" else -1)

    old = state.transpose(0, 1)  # z_{t-1} as (B, 1, W)
    weights = attention(old)
    context = weights @ keys  # c_t: (B, 1, W)
    embedded = model.target_embedding(previous[:, None])
    fed = {"zero_context": torch.zeros_like(context), "state_as_input": old}.get(mode, context)
    gru_input = torch.cat([fed, embedded] if mode == "swap_input" else [embedded, fed], dim=-1)
    z, new_state = model.decoder(gru_input, state)
    if mode == "new_state_query":  # attends a second time, with z_t, for the readout and the weights
        weights = attention(z)
        context = weights @ keys
    read = old if mode == "old_state_readout" else z
    combined = model.combine(torch.cat([read, context] if mode == "swap_concat" else [context, read], dim=-1))
    logits = model.output(combined if mode == "no_tanh" else torch.tanh(combined))[:, 0]
    if mode == "probabilities":
        logits = torch.softmax(logits, dim=-1)
    return logits, state if mode == "return_old_state" else new_state, weights[:, 0]


BAHDANAU_BUGS = {
    "the padded source positions got weight: pass the key mask to the softmax (masked_softmax(scores, mask))": "no_mask",
    "you attended with the new state z_t (Luong's order, the chapter's model): in Bahdanau's arrangement the query is the "
    "previous state z_{t-1}, and the one context c_t it gives feeds both the GRU and the readout": "new_state_query",
    "you scored with the scaled dot product (attend's default score): use the model's own scoring module, model.score":
        "scaled_default",
    "softmax over the wrong axis: normalise over the source positions, the last axis": "wrong_axis",
    "the GRU's input has no context: it reads [embed(y_{t-1}) ; c_t], the embedding and the context": "zero_context",
    "you fed the previous state z_{t-1} to the GRU in place of the context: its input is [embed(y_{t-1}) ; c_t], and "
    "the state goes in as the GRU's hidden state": "state_as_input",
    "the GRU's input is [embed(y_{t-1}) ; c_t], the embedding first: torch.cat([embedded, context], dim=-1)": "swap_input",
    "the combine layer expects [c_t ; z_t], the context first: torch.cat([context, z], dim=-1)": "swap_concat",
    "the readout uses the new state z_t, the GRU's output, not the state z_{t-1} you were given": "old_state_readout",
    "the tanh is missing: the output layer reads tanh(W_c [c_t ; z_t])": "no_tanh",
    "return the logits, before the softmax (cross-entropy and argmax take logits)": "probabilities",
    "you returned the state you were given: return the GRU's new state z_t, from which the next step continues":
        "return_old_state",
}
FORBIDDEN = ("readout", "decode_step", "forward")


def _bahdanau_fixture(score: str, seed: int) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor]:
    """A small random BahdanauSeq2Seq, a batch of sources of different lengths and a target batch."""
    from ..seq2seq import BahdanauSeq2Seq

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = BahdanauSeq2Seq(11, 9, score=score, embed_dim=5, hidden_dim=6)
        with torch.no_grad():  # larger weights than at initialisation, so that every bug shows in the numbers
            for p in model.parameters():
                p.mul_(2.0)
    gen = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([7, 4, 2])
    source = torch.randint(3, 11, (3, 7), generator=gen)
    source[torch.arange(7)[None, :] >= lengths[:, None]] = 0  # padding
    target = torch.randint(3, 9, (3, 6), generator=gen)
    target[:, 0] = 1  # <s>
    return model, source, lengths, target


class _CheckedGRU:
    """The model's GRU as the learner sees it: it names the Luong order when it gets the embedding alone."""

    def __init__(self, gru: torch.nn.GRU, embed_dim: int) -> None:
        self._gru, self._embed_dim = gru, embed_dim

    def __call__(self, x: torch.Tensor, *args: Any) -> Any:
        if isinstance(x, torch.Tensor) and x.shape[-1] == self._embed_dim != self._gru.input_size:
            raise Feedback(f"model.decoder got the embedding alone (width {self._embed_dim}), as in the chapter's Luong "
                           f"step: this GRU reads [embed(y_{{t-1}}) ; c_t] (width {self._gru.input_size}), so attend "
                           "first, with the previous state z_{t-1} as the query, and feed the context to the GRU")
        return self._gru(x, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._gru, name)


class _Parts:
    """The model as the learner sees it: every part, but not the step itself."""

    def __init__(self, model: Any) -> None:
        self._model = model

    def __getattr__(self, name: str) -> Any:
        if name in FORBIDDEN:
            raise Feedback(f"model.{name} computes the step for you: assemble it from the parts (model.score, "
                           "masked_softmax, model.target_embedding, model.decoder, model.combine, model.output)")
        if name == "decoder":
            return _CheckedGRU(self._model.decoder, self._model.target_embedding.embedding_dim)
        return getattr(self._model, name)


@exercise(chapter='01_attention', number=5, title="one step of Bahdanau's attention decoder", stars=3, kind='implement', practises="the previous state as the query, the context as the GRU's input: scoring, masked softmax, context, GRU step and readout assembled and checked end to end",
          hints=['Attention comes first, with the state you were given as the query: `query = state.transpose(0, 1)` is z_{t-1} as (B, 1, W); `weights = masked_softmax(model.score(query, keys), mask)` is (B, 1, n_src) and `context = weights @ keys` is c_t, (B, 1, W).',
                 'The GRU reads the embedding and the context side by side: `z, new_state = model.decoder(torch.cat([model.target_embedding(previous[:, None]), context], dim=-1), state)`.',
                 'Readout with the same context and the new state: `model.output(torch.tanh(model.combine(torch.cat([context, z], dim=-1))))`; drop the step axis with `[:, 0]` (not `.squeeze()`, which also drops a batch of one).'])
def check_bahdanau_step(bahdanau_step: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                        verbose: bool = True) -> CheckResult:
    """Check ``bahdanau_step(model, previous, state, keys, mask) -> (logits, new_state, weights)``.

    ``model`` is a :class:`attnreg.seq2seq.BahdanauSeq2Seq`; ``previous (B,)`` the previous tokens; ``state
    (1, B, W)`` the decoder state z_{t-1}; ``keys (B, n_src, W)`` and ``mask (B, 1, n_src)`` from ``model.encode``.
    Returns the logits ``(B, V)``, the new state ``(1, B, W)`` and the attention weights ``(B, n_src)``.
    Checked against ``BahdanauSeq2Seq.decode_step``, its teacher-forced forward pass and ``greedy_decode``.
    """
    from ..seq2seq import greedy_decode

    def run_step(fn: Callable, model: Any, previous: torch.Tensor, state: torch.Tensor, keys: torch.Tensor,
                 mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        args = (previous, state, keys, mask)
        copies = clone_args(*args)
        out = fn(_Parts(model), *copies)
        if not isinstance(out, tuple) or len(out) != 3:
            raise Feedback(f"return a tuple (logits, new_state, weights), got {type(out).__name__}"
                           + (f" of length {len(out)}" if isinstance(out, tuple) else ""))
        logits, new_state, weights = (expect_tensor(t, name) for t, name in zip(out, ("logits", "new_state", "weights")))
        if any(not torch.equal(a, b) for a, b in zip(copies, args)):
            raise Feedback("your step changed one of its inputs in place (the state, say): return new tensors")
        B, n_src = keys.shape[0], keys.shape[1]
        for name, t, shape in (("logits", logits, (B, model.output.out_features)), ("new_state", new_state, tuple(state.shape)),
                               ("weights", weights, (B, n_src))):
            if tuple(t.shape) != shape:
                raise Feedback(f"{name} has shape {tuple(t.shape)}, expected {shape}"
                               + (": with a batch of one, .squeeze() drops the batch axis too; index [:, 0] instead"
                                  if B == 1 else ""))
        return logits, new_state, weights

    def compare_one(fn: Callable, score: str, seed: int, batch: slice) -> None:
        model, source, lengths, target = _bahdanau_fixture(score, seed)
        keys, mask, state = model.encode(source[batch], lengths[batch])
        previous = target[batch, 1]
        mine = run_step(fn, model, previous, state, keys, mask)
        with torch.no_grad():
            expected = model.decode_step(previous, state, keys, mask)
            bugs = {hint: _bahdanau_step(model, previous, state, keys, mask, mode=mode) for hint, mode in BAHDANAU_BUGS.items()}
        for i, what in ((2, "the weights"), (1, "the new state"), (0, "the logits")):
            expect_close(mine[i], expected[i], what, known_bugs={h: b[i] for h, b in bugs.items()})

    def one_step(fn: Callable) -> None:
        compare_one(fn, "additive", 0, slice(None))

    def batch_of_one(fn: Callable) -> None:
        compare_one(fn, "additive", 1, slice(1, 2))

    def bilinear_model(fn: Callable) -> None:
        compare_one(fn, "bilinear", 2, slice(None))

    def teacher_forcing(fn: Callable) -> None:
        model, source, lengths, target = _bahdanau_fixture("additive", 3)
        with torch.no_grad():
            expected_logits, expected_weights = model(source, lengths, target[:, :-1])
            keys, mask, state = model.encode(source, lengths)
            logits, weights = [], []
            for t in range(target.shape[1] - 1):
                step_logits, state, step_weights = run_step(fn, model, target[:, t], state, keys, mask)
                logits.append(step_logits)
                weights.append(step_weights)
        expect_close(torch.stack(weights, 1), expected_weights, "the weights of 5 teacher-forced steps")
        expect_close(torch.stack(logits, 1), expected_logits, "the logits of 5 teacher-forced steps")

    def greedy(fn: Callable) -> None:
        model, source, lengths, _ = _bahdanau_fixture("additive", 4)
        expected, _ = greedy_decode(model, source, lengths, max_len=6)
        with torch.no_grad():
            keys, mask, state = model.encode(source, lengths)
            previous, tokens = torch.full((3,), 1), []
            for _ in range(6):
                logits, state, _ = run_step(fn, model, previous, state, keys, mask)
                previous = logits.argmax(-1)
                tokens.append(previous)
        tokens = torch.stack(tokens, 1)
        after_end = (tokens == 2).long().cumsum(1).roll(1, 1).clamp(max=1).bool()
        after_end[:, 0] = False
        if not torch.equal(tokens.masked_fill(after_end, 0), expected):
            raise Feedback("greedy decoding with your step (feeding back the argmax of the logits) writes other tokens "
                           "than greedy_decode")

    def gradients(fn: Callable) -> None:
        model, source, lengths, target = _bahdanau_fixture("additive", 5)
        keys, mask, state = model.encode(source, lengths)
        logits, new_state, weights = run_step(fn, model, target[:, 1], state, keys, mask)
        if not logits.requires_grad:
            raise Feedback("no gradient reaches the model: compute the step without .detach() or torch.no_grad()")
        (logits.logsumexp(-1).sum() + new_state.sum()).backward()
        parts = {"model.target_embedding": model.target_embedding, "model.decoder": model.decoder, "model.score": model.score,
                 "model.combine": model.combine, "model.output": model.output, "the encoder (through the keys)": model.encoder}
        missing = [name for name, part in parts.items()
                   if any(p.grad is None or not p.grad.abs().sum() > 0 for p in part.parameters())]
        if missing:
            raise Feedback(f"no gradient reaches {', '.join(missing)}: the loss must depend on every part without "
                           ".detach() in between")

    cases = [
        ("one step, batch of 3 sources with padding, additive score", one_step),
        ("a batch of one", batch_of_one),
        ("a model with the bilinear score", bilinear_model),
        ("5 teacher-forced steps equal BahdanauSeq2Seq.forward", teacher_forcing),
        ("greedy decoding with your step equals greedy_decode", greedy),
        ("gradients reach every part of the model", gradients),
    ]
    return run_check("check_bahdanau_step", bahdanau_step, cases, verbose)
