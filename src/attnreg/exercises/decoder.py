"""Checkers for the exercises of chapter 02b: the causal mask at training and decoding time, the cost of decoding
with and without a key/value cache, cross-attention, a cached decoding step and a whole decoder block."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..attention.multihead import MultiHeadAttention
from ._framework import CheckResult, Feedback, clone_args, expect_close, expect_derived, expect_tensor, run_check
from ._registry import exercise

CHAPTER = "02b_transformer_decoder"

#: The choices of exercise 1: (teacher-forced token accuracy, greedy exact match) of the model without the mask.
NO_MASK_CHOICES = {
    "A": "both stay about as high as with the causal mask",
    "B": "teacher-forced accuracy stays high (or rises), greedy exact match collapses",
    "C": "both collapse",
    "D": "teacher-forced accuracy collapses, greedy exact match stays high",
}


def _no_mask_outcome(measured: Mapping[str, Any]) -> str:
    """The choice that the measured numbers support (see :func:`check_unmasked_training_prediction`)."""
    try:
        causal_tf, causal_exact = (float(v) for v in measured["causal"])
        free_tf, free_exact = (float(v) for v in measured["no mask"])
    except (KeyError, TypeError, ValueError):
        raise ValueError("measured must map 'causal' and 'no mask' to (teacher-forced accuracy, exact match) pairs, "
                         f"got {measured!r}") from None
    tf_high = free_tf >= causal_tf - 0.05
    exact_high = free_exact >= 0.5 * causal_exact
    return {(True, True): "A", (True, False): "B", (False, False): "C", (False, True): "D"}[(tf_high, exact_high)]


@exercise(chapter=CHAPTER, number=1, title='training without the causal mask', stars=1, kind='predict',
          practises='what the causal mask protects: the same view of the target at training and at decoding time',
          hints=['Under teacher forcing the whole target is fed in at once. Without the mask, which input position holds '
                 'the very character that position t must predict?',
                 'At decoding time the characters after t do not exist yet: the decoder has only what it wrote so far. '
                 'What did the model learn to rely on?'])
def check_unmasked_training_prediction(prediction: Any, measured: Mapping[str, Any], verbose: bool = True) -> CheckResult:
    """Check ``prediction`` (one of ``"A"``, ``"B"``, ``"C"``, ``"D"``, see :data:`NO_MASK_CHOICES`) against the measurement.

    ``measured = {"causal": (teacher-forced accuracy, exact match), "no mask": (...)}`` holds what
    this machine measured on the test dates; the verdict is computed from it.
    """
    outcome = _no_mask_outcome(measured)
    causal_tf, causal_exact = (float(v) for v in measured["causal"])
    free_tf, free_exact = (float(v) for v in measured["no mask"])
    numbers = (f"measured: teacher-forced accuracy {free_tf:.3f} without the mask against {causal_tf:.3f} with it, "
               f"greedy exact match {free_exact:.3f} against {causal_exact:.3f}")

    def case(value: Any) -> None:
        if not isinstance(value, str) or value.strip().upper() not in NO_MASK_CHOICES:
            raise Feedback(f"prediction_1 must be one of {sorted(NO_MASK_CHOICES)}, got {value!r}")
        choice = value.strip().upper()
        if choice == outcome:
            return
        if choice == "A" and outcome == "B":
            raise Feedback(f"the training numbers look fine, but decoding does not ({numbers}): without the mask "
                           "position t reads character t + 1 of the target, the answer, which greedy decoding does "
                           "not have")
        if choice == "C" and outcome == "B":
            raise Feedback(f"training does not suffer ({numbers}): copying the next input character is an easy "
                           "shortcut, so the teacher-forced accuracy stays high")
        if choice == "D":
            raise Feedback(f"it is the other way round ({numbers}): teacher forcing hands the model the answer, "
                           "decoding takes it away")
        raise Feedback(f"{numbers}; that supports choice {outcome}: {NO_MASK_CHOICES[outcome]}")

    return run_check("check_unmasked_training_prediction", prediction, [("what removing the causal mask does", case)], verbose,
                     expects="value")


@exercise(chapter=CHAPTER, number=2, title='the cost of decoding with and without a cache', stars=2, kind='derive',
          practises='counting attention scores: recomputing a prefix against caching its keys and values',
          hints=['Without a cache, step t (t = 1, ..., n) runs the decoder on the whole prefix of t positions: a full '
                 't x t matrix of scores (the causal mask zeroes half of them after they are computed).',
                 'With a cache, step t computes one new query and scores it against the t cached keys, its own included. '
                 'Then add up over t = 1, ..., n: the sums of t and of t^2 have closed forms.'])
def check_decoding_scores(decoding_scores: Callable[[int], tuple[float, float]], verbose: bool = True) -> CheckResult:
    """Check ``decoding_scores(n) -> (without_cache, with_cache)``: self-attention scores of one head, one layer, n steps.

    The right values are never printed.
    """
    def case_on(n: int) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            value = fn(n)
            if not isinstance(value, tuple) or len(value) != 2:
                raise Feedback(f"decoding_scores({n}) must return a pair (without_cache, with_cache), got {value!r}")
            without, with_cache = value
            right_without, right_with = n * (n + 1) * (2 * n + 1) / 6, n * (n + 1) / 2
            if (math.isclose(float(without), right_with) and math.isclose(float(with_cache), right_without)
                    and n > 1):
                raise Feedback("the two numbers are in the wrong order: return (without_cache, with_cache)")
            expect_derived(without, right_without, f"without_cache for n = {n}", known_bugs={
                "you counted only the lower triangle (t (t + 1) / 2 per step): without a cache the whole t x t score "
                "matrix is computed, and the causal mask hides half of it only afterwards": n * (n + 1) * (n + 2) / 6,
                "n^3 counts n steps of a full n x n matrix: the prefix at step t has only t positions": n**3,
                "the last step is missing: step t = n also runs (sum t^2 from 1 to n)": (n - 1) * n * (2 * n - 1) / 6,
                "that is the cost of one forward pass over the whole target (teacher forcing), not of n decoding steps":
                    n**2,
            })
            expect_derived(with_cache, right_with, f"with_cache for n = {n}", known_bugs={
                "with a cache step t still scores its query against t keys, not one: the cache saves the projections "
                "and the old queries, not the comparison with every earlier key": n,
                "the newest key is missing: the query at step t also attends to itself (t keys, not t - 1)":
                    n * (n - 1) / 2,
                "n^2 would score every step against all n keys: at step t only t keys exist": n**2,
            })
        return run

    cases = [("n = 10", case_on(10)), ("n = 11 (one date)", case_on(11)), ("n = 1", case_on(1)), ("n = 100", case_on(100))]
    return run_check("check_decoding_scores", decoding_scores, cases, verbose)


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    batch, n, embed_dim = x.shape
    return x.reshape(batch, n, num_heads, embed_dim // num_heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    batch, heads, n, head_dim = x.shape
    return x.transpose(1, 2).reshape(batch, n, heads * head_dim)


def _multihead(query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, keep: torch.Tensor | None,
               W_q: torch.Tensor, W_o: torch.Tensor, num_heads: int, *, scale: float | None = None,
               softmax_dim: int = -1, project_output: bool = True, invert: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of ``query (B, n_tgt, d_model)`` to split ``keys``/``values`` ``(B, h, n_src, d)``; ``keep`` broadcasts to
    ``(B, h, n_tgt, n_src)``."""
    q = _heads(query @ W_q, num_heads)
    d = q.shape[-1]
    scores = q @ keys.transpose(-2, -1) * (1 / math.sqrt(d) if scale is None else scale)
    if keep is not None:
        keep = ~keep if invert else keep
        scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=softmax_dim)
    if keep is not None:
        weights = weights.masked_fill(~keep, 0.0)
    heads = _merge(weights @ values)
    return (heads @ W_o if project_output else heads), weights


def _cross_attention(y, memory, keep, W_q, W_k, W_v, W_o, num_heads, **bug):
    keys, values = _heads(memory @ W_k, num_heads), _heads(memory @ W_v, num_heads)
    mask = None if keep is None or bug.pop("ignore_mask", False) else keep[:, None, None, :]
    if bug.pop("causal", False):
        causal = torch.ones(y.shape[1], memory.shape[1], dtype=torch.bool).tril()
        mask = causal if mask is None else mask & causal
    return _multihead(y, keys, values, mask, W_q, W_o, num_heads, **bug)


def _expect_pair(value: Any, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(value, tuple) or len(value) != 2:
        raise Feedback(f"return a tuple {what}, got {type(value).__name__}")
    return expect_tensor(value[0], "output"), expect_tensor(value[1], "weights")


@exercise(chapter=CHAPTER, number=3, title='one cross-attention step', stars=2, kind='implement',
          practises='queries from the decoder, keys and values from the encoder, a padding mask on the source',
          hints=['Queries come from the decoder: q = y @ W_q, shape (B, n_tgt, d_model); keys and values from the encoder: '
                 'memory @ W_k and memory @ W_v, shape (B, n_src, d_model). Split each into heads: (B, heads, n, d_model / heads).',
                 'Scores (B, heads, n_tgt, n_src) scaled by sqrt(d_model / heads); the mask keep[:, None, None, :] hides padded source '
                 'positions (no causal mask: the whole source is known). Merge the heads and multiply by W_o.'])
def check_cross_attention(cross_attention: Callable[..., tuple[torch.Tensor, torch.Tensor]],
                          verbose: bool = True) -> CheckResult:
    """Check ``cross_attention(y, memory, keep, W_q, W_k, W_v, W_o, num_heads) -> (output (B, n_tgt, d_model), weights
    (B, heads, n_tgt, n_src))``.

    Row-vector convention (``q = y @ W_q``), no biases; ``keep (B, n_src)`` is True at real source positions.
    """
    gen = torch.Generator().manual_seed(0)

    def weights_for(E: int) -> tuple[torch.Tensor, ...]:
        return tuple(torch.randn(E, E, generator=gen) / math.sqrt(E) for _ in range(4))

    def case_on(B: int, T: int, S: int, E: int, num_heads: int, lengths: list[int]) -> Callable[[Callable], None]:
        y, memory = torch.randn(B, T, E, generator=gen), torch.randn(B, S, E, generator=gen)
        W = weights_for(E)
        keep = torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]
        args = (y, memory, keep, *W, num_heads)

        def run(fn: Callable) -> None:
            copies = clone_args(*args)
            output, weights = _expect_pair(fn(*copies), "(output, weights)")
            if not torch.equal(copies[0], y) or not torch.equal(copies[1], memory):
                raise Feedback("your function changed y or memory in place: compute new tensors instead")
            head_dim = E // num_heads
            bugs = {
                "no scaling: divide the scores by sqrt(d_model / heads), the width of one head": {"scale": 1.0},
                f"you scaled by sqrt(d_model) = sqrt({E}); each head's scores are divided by the square root of its own width "
                f"d_model / heads = {head_dim}": {"scale": 1 / math.sqrt(E)},
                "softmax over the wrong axis: each query's weights must add up to 1 over the source positions (dim=-1)":
                    {"softmax_dim": -2},
                "the padding mask is ignored: padded source positions must get weight 0": {"ignore_mask": True},
                "the mask is inverted: keep is True at the real source positions, the ones to attend to":
                    {"invert": True},
                "a causal mask does not belong in cross-attention: every target position may read the whole source":
                    {"causal": True},
                "the output projection W_o is missing: merge the heads, then multiply by W_o": {"project_output": False},
            }
            if num_heads == 1:
                bugs.pop(f"you scaled by sqrt(d_model) = sqrt({E}); each head's scores are divided by the square root of its own width "
                         f"d_model / heads = {head_dim}")
            if all(n == S for n in lengths):
                for name in [b for b, kw in bugs.items() if "ignore_mask" in kw or "invert" in kw]:
                    bugs.pop(name)
            expected = _cross_attention(*args)
            values = {hint: _cross_attention(*args, **kwargs) for hint, kwargs in bugs.items()}
            if weights.shape == (B, num_heads, S, T) and S != T:
                raise Feedback("the weights have shape (B, heads, n_src, n_tgt): the queries must come from the decoder (y) "
                               "and the keys and values from the encoder (memory)")
            expect_close(weights, expected[1], "weights", known_bugs={h: v[1] for h, v in values.items()})
            expect_close(output, expected[0], "output", known_bugs={h: v[0] for h, v in values.items()})
        return run

    cases = [
        ("one head, no padding (B=2, n_tgt=3, n_src=5, d_model=4)", case_on(2, 3, 5, 4, 1, [5, 5])),
        ("two heads, padded sources (B=3, n_tgt=4, n_src=6, d_model=8)", case_on(3, 4, 6, 8, 2, [6, 3, 1])),
        ("four heads, a target longer than the source (n_tgt=7, n_src=4, d_model=8)", case_on(2, 7, 4, 8, 4, [4, 2])),
    ]
    return run_check("check_cross_attention", cross_attention, cases, verbose)


def _cached_step(x, keys, values, W_q, W_k, W_v, W_o, num_heads, *, bug: str | None = None, **kwargs):
    k_new, v_new = _heads(x @ W_k, num_heads), _heads(x @ W_v, num_heads)
    all_keys, all_values = torch.cat([keys, k_new], dim=2), torch.cat([values, v_new], dim=2)
    if bug == "past_only":
        if keys.shape[2] == 0:
            return None
        output, _ = _multihead(x, keys, values, None, W_q, W_o, num_heads, **kwargs)
    elif bug == "self_only":
        output, _ = _multihead(x, k_new, v_new, None, W_q, W_o, num_heads, **kwargs)
    else:
        output, _ = _multihead(x, all_keys, all_values, None, W_q, W_o, num_heads, **kwargs)
    return output, all_keys, all_values


@exercise(chapter=CHAPTER, number=4, title='one cached decoding step', stars=2, kind='implement',
          practises='a key/value cache: project only the newest position, append, attend to everything cached',
          hints=['Project the newest position x (B, 1, d_model) into its query, key and value, and split each into heads '
                 '(B, heads, 1, d). Append the key and value to the cache along the positions axis (dim=2).',
                 'The query attends to all cached keys, its own included, without a mask: the cache holds exactly the '
                 'positions the causal mask allows. Scale by sqrt(d), merge the heads, multiply by W_o.'])
def check_cached_step(cached_step: Callable[..., tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                      verbose: bool = True) -> CheckResult:
    """Check ``cached_step(x, keys, values, W_q, W_k, W_v, W_o, num_heads) -> (output (B, 1, d_model), keys, values)``.

    ``keys``/``values`` ``(B, heads, t, d_model / heads)`` hold the t earlier positions (t may be 0); the
    returned ones hold t + 1. Row-vector convention, no biases.
    """
    gen = torch.Generator().manual_seed(1)

    def setup(B: int, t: int, E: int, num_heads: int):
        W = tuple(torch.randn(E, E, generator=gen) / math.sqrt(E) for _ in range(4))
        d = E // num_heads
        keys, values = torch.randn(B, num_heads, t, d, generator=gen), torch.randn(B, num_heads, t, d, generator=gen)
        return torch.randn(B, 1, E, generator=gen), keys, values, W

    def expect_triple(value: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if not isinstance(value, tuple) or len(value) != 3:
            raise Feedback(f"return a tuple (output, keys, values), got {type(value).__name__}")
        return tuple(expect_tensor(v, name) for v, name in zip(value, ("output", "keys", "values")))

    def case_on(B: int, t: int, E: int, num_heads: int) -> Callable[[Callable], None]:
        x, keys, values, W = setup(B, t, E, num_heads)
        args = (x, keys, values, *W, num_heads)

        def run(fn: Callable) -> None:
            copies = clone_args(*args)
            output, new_keys, new_values = expect_triple(fn(*copies))
            if not torch.equal(copies[1], keys) or not torch.equal(copies[2], values):
                raise Feedback("your function changed the cache it was given in place: return new tensors "
                               "(torch.cat makes them)")
            expected = _cached_step(*args)
            if new_keys.shape == (B, num_heads, t + 1, E // num_heads) and t > 0 and torch.allclose(new_keys[:, :, 1:], keys):
                raise Feedback("the newest key went in front: append it after the cached ones (torch.cat([keys, k], dim=2))")
            expect_close(new_keys, expected[1], "keys", known_bugs={
                "the cache did not grow: append the newest key along the positions axis (dim=2)": keys,
            } if t > 0 else None)
            expect_close(new_values, expected[2], "values")
            bugs = {
                "the query attended only to the cached keys: append the newest key and value first, a position attends "
                "to itself too": {"bug": "past_only"},
                "the query attended only to itself: it must attend to every cached key and its own":
                    {"bug": "self_only"},
                "no scaling: divide the scores by sqrt(d), the width of one head": {"scale": 1.0},
                "the output projection W_o is missing: merge the heads, then multiply by W_o": {"project_output": False},
            }
            values_of = {h: _cached_step(*args, **kw) for h, kw in bugs.items()}
            expect_close(output, expected[0], "output",
                         known_bugs={h: v[0] for h, v in values_of.items() if v is not None})
        return run

    def equals_causal_attention(fn: Callable) -> None:
        B, T, E, num_heads = 2, 5, 8, 2
        W = tuple(torch.randn(E, E, generator=gen) / math.sqrt(E) for _ in range(4))
        xs = torch.randn(B, T, E, generator=gen)
        keys = values = torch.zeros(B, num_heads, 0, E // num_heads)
        outputs = []
        for t in range(T):
            output, keys, values = expect_triple(fn(xs[:, t:t + 1], keys, values, *W, num_heads))
            outputs.append(output)
        causal = torch.ones(T, T, dtype=torch.bool).tril()
        full, _ = _multihead(xs, _heads(xs @ W[1], num_heads), _heads(xs @ W[2], num_heads), causal, W[0], W[3], num_heads)
        expect_close(torch.cat(outputs, dim=1), full, "the outputs of five cached steps")

    cases = [
        ("an empty cache: the first step (B=2, d_model=4, one head)", case_on(2, 0, 4, 1)),
        ("three cached positions, two heads (d_model=8)", case_on(3, 3, 8, 2)),
        ("six cached positions, four heads (d_model=8)", case_on(1, 6, 8, 4)),
        ("five steps from an empty cache equal causal self-attention over the five positions", equals_causal_attention),
    ]
    return run_check("check_cached_step", cached_step, cases, verbose)


def _torch_reference(layer: nn.TransformerDecoderLayer, y: torch.Tensor, memory: torch.Tensor,
                     keep: torch.Tensor | None, *, bug: str | None = None) -> torch.Tensor:
    """The decoder layer written out with attnreg's attention, and with ``bug`` one classic mistake."""
    self_attn, cross_attn = MultiHeadAttention.from_torch(layer.self_attn), MultiHeadAttention.from_torch(layer.multihead_attn)
    causal = None if bug == "no_causal" else torch.ones(y.shape[1], y.shape[1], dtype=torch.bool).tril()
    if bug == "inverted_causal":
        causal = ~causal | torch.eye(y.shape[1], dtype=torch.bool)
    cross_mask = None if keep is None or bug == "no_padding" else keep[:, None, :]
    activation = layer.activation if callable(layer.activation) else F.relu
    if bug == "wrong_activation":
        activation = F.gelu if activation is F.relu else F.relu

    def ff(h):
        return layer.linear2(activation(layer.linear1(h)))

    def sa(h):
        return self_attn(h, h, h, mask=causal)[0]

    def ca(h, mem):
        if bug == "self_twice":
            return cross_attn(h, h, h, mask=causal)[0]
        return cross_attn(h, mem, mem, mask=cross_mask)[0]

    norm_first = layer.norm_first != (bug == "other_norm")
    if norm_first:
        mem = layer.norm2(memory) if bug == "normed_memory" else memory
        y = y + sa(layer.norm1(y))
        y = y + ca(layer.norm2(y), mem)
        return y + ff(layer.norm3(y))
    if bug == "no_residual":
        y = layer.norm1(sa(y))
        y = layer.norm2(ca(y, memory))
        return layer.norm3(ff(y))
    y = layer.norm1(y + sa(y))
    y = layer.norm2(y + ca(y, memory))
    return layer.norm3(y + ff(y))


@exercise(chapter=CHAPTER, number=5, title='assemble a decoder block', stars=3, kind='implement',
          practises='the whole decoder block: causal self-attention, cross-attention, feed-forward, residuals, '
                    'post- and pre-norm, checked against PyTorch',
          hints=['Copy the attention weights with MultiHeadAttention.from_torch(layer.self_attn) and '
                 'from_torch(layer.multihead_attn); the feed-forward network is '
                 'layer.linear2(activation(layer.linear1(h))), the norms layer.norm1, norm2, norm3.',
                 'Post-norm: y = norm1(y + SA(y)), y = norm2(y + CA(y, memory)), y = norm3(y + FF(y)). Pre-norm: '
                 'y = y + SA(norm1(y)), y = y + CA(norm2(y), memory), y = y + FF(norm3(y)); the memory is never normalised.',
                 'Self-attention takes the causal mask causal_mask(n_tgt); cross-attention only the source padding mask '
                 'keep[:, None, :] (True = attend), passed by keyword: mha(q, k, v, mask=...).'])
def check_decoder_block(decoder_block: Callable[..., torch.Tensor], verbose: bool = True) -> CheckResult:
    """Check ``decoder_block(layer, y, memory, keep) -> output``: ``layer`` is an ``nn.TransformerDecoderLayer`` in eval mode.

    ``y (B, n_tgt, d_model)`` is the decoder input, ``memory (B, n_src, d_model)`` the encoder output, ``keep (B, n_src)``
    True at real source positions (or None). The result must equal
    ``layer(y, memory, tgt_mask=<causal>, memory_key_padding_mask=~keep)``; calling ``layer`` itself
    is not allowed.
    """
    def make_layer(norm_first: bool, activation: str, seed: int) -> nn.TransformerDecoderLayer:
        torch.manual_seed(seed)
        layer = nn.TransformerDecoderLayer(8, 2, 16, dropout=0.0, activation=activation, batch_first=True,
                                           norm_first=norm_first)
        with torch.no_grad():
            for param in layer.parameters():
                if param.ndim == 1:
                    param.normal_()
        return layer.eval()

    def case_on(norm_first: bool, activation: str, lengths: list[int] | None, seed: int) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            layer = make_layer(norm_first, activation, seed)
            gen = torch.Generator().manual_seed(seed)
            B, T, S = 2, 4, 6
            y, memory = torch.randn(B, T, 8, generator=gen), torch.randn(B, S, 8, generator=gen)
            keep = None if lengths is None else torch.arange(S)[None, :] < torch.tensor(lengths)[:, None]
            causal = torch.ones(T, T, dtype=torch.bool).tril()
            with torch.no_grad():
                expected = layer(y, memory, tgt_mask=~causal,
                                 memory_key_padding_mask=None if keep is None else ~keep)

            def forbidden(*args: Any, **kwargs: Any) -> None:
                raise Feedback("you called the PyTorch layer itself: assemble the block from its parts "
                               "(attention, linear layers, norms)")

            layer.forward = forbidden
            with torch.no_grad():
                output = fn(layer, *clone_args(y, memory, keep))
                bugs = {
                    "post-norm and pre-norm are swapped: check layer.norm_first": "other_norm",
                    "no causal mask in the self-attention: position t must not read the later target positions":
                        "no_causal",
                    "the causal mask is the wrong way round: position t may attend to keys j <= t": "inverted_causal",
                    "the source padding mask is missing in the cross-attention: padded source positions get weight":
                        "no_padding",
                    "the cross-attention attended to y: its keys and values come from the encoder memory":
                        "self_twice",
                    "the residual connections are missing: each sub-layer adds its output to its input": "no_residual",
                    "the memory was normalised too: in pre-norm only the decoder's stream goes through norm2":
                        "normed_memory",
                    "the activation is wrong: use layer.activation (ReLU or GELU)": "wrong_activation",
                }
                values = {hint: _torch_reference(layer, y, memory, keep, bug=bug) for hint, bug in bugs.items()}
            expect_close(output, expected, "the block's output", atol=1e-4, known_bugs=values)
        return run

    cases = [
        ("post-norm, ReLU, no padding", case_on(False, "relu", None, 0)),
        ("post-norm, ReLU, padded sources", case_on(False, "relu", [6, 3], 1)),
        ("pre-norm, GELU, padded sources", case_on(True, "gelu", [4, 6], 2)),
    ]
    return run_check("check_decoder_block", decoder_block, cases, verbose)
