"""The checkers of chapter 02b against correct answers and a catalogue of classic wrong ones."""

import math

import pytest
import torch
import torch.nn.functional as F

from attnreg.attention import MultiHeadAttention
from attnreg.exercises import (check_cached_step, check_cross_attention, check_decoder_block, check_decoding_scores,
                               check_unmasked_training_prediction)


def feedback(result) -> str:
    return " | ".join(case.feedback for case in result.cases if not case.passed)


def stub(*args, **kwargs):
    raise NotImplementedError


def heads(x, h):
    B, n, E = x.shape
    return x.reshape(B, n, h, E // h).transpose(1, 2)


def merge(x):
    B, h, n, d = x.shape
    return x.transpose(1, 2).reshape(B, n, h * d)


# ---------------------------------------------------------------- exercise 1: predict

MEASURED = {"causal": (0.96, 0.62), "no mask": (0.99, 0.01)}


def test_no_mask_prediction_verdicts():
    assert check_unmasked_training_prediction("B", MEASURED, verbose=False).passed
    assert check_unmasked_training_prediction(" b ", MEASURED, verbose=False).passed
    assert "the training numbers look fine, but decoding does not" in feedback(check_unmasked_training_prediction("A", MEASURED, verbose=False))
    assert "training does not suffer" in feedback(check_unmasked_training_prediction("C", MEASURED, verbose=False))
    assert "it is the other way round" in feedback(check_unmasked_training_prediction("D", MEASURED, verbose=False))
    assert "must be one of" in feedback(check_unmasked_training_prediction("E", MEASURED, verbose=False))
    for not_a_choice in (2, "", "B or C", ("B",)):
        assert "must be one of" in feedback(check_unmasked_training_prediction(not_a_choice, MEASURED, verbose=False))
    # the verdict follows the measurement, whatever it is
    other = {"causal": (0.96, 0.62), "no mask": (0.95, 0.60)}
    assert check_unmasked_training_prediction("A", other, verbose=False).passed
    assert "supports choice A" in feedback(check_unmasked_training_prediction("B", other, verbose=False))
    assert "0.950" in feedback(check_unmasked_training_prediction("B", other, verbose=False))


def test_no_mask_prediction_not_attempted(capsys):
    assert not check_unmasked_training_prediction(None, MEASURED).implemented
    assert "not attempted yet" in capsys.readouterr().out
    assert not check_unmasked_training_prediction(..., MEASURED, verbose=False).implemented
    with pytest.raises(ValueError, match="measured must map"):
        check_unmasked_training_prediction("B", {"causal": 1}, verbose=False)


# ---------------------------------------------------------------- exercise 2: derive


def decoding_scores(T):
    return T * (T + 1) * (2 * T + 1) / 6, T * (T + 1) / 2


@pytest.mark.parametrize("wrong, message", [
    (lambda T: (T * (T + 1) / 2, T * (T + 1) * (2 * T + 1) / 6), "wrong order"),
    (lambda T: (T * (T + 1) * (T + 2) / 6, T * (T + 1) / 2), "only the lower triangle"),
    (lambda T: (T**3, T * (T + 1) / 2), "n^3 counts"),
    (lambda T: ((T - 1) * T * (2 * T - 1) / 6, T * (T + 1) / 2), "the last step is missing"),
    (lambda T: (T**2, T * (T + 1) / 2), "one forward pass over the whole target"),
    (lambda T: (T * (T + 1) * (2 * T + 1) / 6, T), "not one: the cache saves"),
    (lambda T: (T * (T + 1) * (2 * T + 1) / 6, T * (T - 1) / 2), "the newest key is missing"),
    (lambda T: (T * (T + 1) * (2 * T + 1) / 6, T**2), "only t keys exist"),
    (lambda T: (T * (T + 1) * (2 * T + 1) / 3, T * (T + 1) / 2), "too large"),
    (lambda T: T, "must return a pair"),
])
def test_decoding_scores_rejects_wrong_formulas(wrong, message):
    result = check_decoding_scores(wrong, verbose=False)
    assert not result.passed and message in feedback(result)


def test_decoding_scores_never_prints_the_right_values(capsys):
    assert check_decoding_scores(decoding_scores, verbose=False).passed
    check_decoding_scores(lambda T: (0.0, 0.0))
    out = capsys.readouterr().out
    assert "385" not in out and "55" not in out and "too small" in out
    check_decoding_scores(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_decoding_scores(None, verbose=False).implemented


# ---------------------------------------------------------------- exercise 3: cross-attention


def cross_attention(y, memory, keep, W_q, W_k, W_v, W_o, num_heads, *, scale=None, dim=-1, mask="keep",
                    project=True, causal=False, swap=False, in_place=False):
    if in_place:
        y *= 1.0
        y += 0.0
        memory.mul_(2.0)
    if swap:
        y, memory = memory, y
    q, k, v = heads(y @ W_q, num_heads), heads(memory @ W_k, num_heads), heads(memory @ W_v, num_heads)
    scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    if swap:  # the mask no longer fits the keys: dropped
        keep, mask = torch.ones(memory.shape[:2], dtype=torch.bool), "keep"
    allowed = {"keep": keep, "ignore": torch.ones_like(keep), "inverted": ~keep}[mask][:, None, None, :]
    if causal:
        allowed = allowed & torch.ones(y.shape[1], memory.shape[1], dtype=torch.bool).tril()
    weights = torch.softmax(scores.masked_fill(~allowed, torch.finfo(scores.dtype).min), dim=dim).masked_fill(~allowed, 0)
    out = merge(weights @ v)
    return (out @ W_o if project else out), weights


@pytest.mark.parametrize("kwargs, message", [
    ({"scale": 1.0}, "no scaling"),
    ({"scale": 1 / math.sqrt(8)}, "you scaled by sqrt(d_model)"),
    ({"dim": -2}, "softmax over the wrong axis"),
    ({"mask": "ignore"}, "the padding mask is ignored"),
    ({"mask": "inverted"}, "the mask is inverted"),
    ({"causal": True}, "a causal mask does not belong in cross-attention"),
    ({"project": False}, "the output projection W_o is missing"),
    ({"swap": True}, "the queries must come from the decoder"),
    ({"in_place": True}, "changed y or memory in place"),
])
def test_cross_attention_rejects_classic_bugs(kwargs, message):
    result = check_cross_attention(lambda *a: cross_attention(*a, **kwargs), verbose=False)
    assert not result.passed and message in feedback(result)


def test_cross_attention_passes_and_reports(capsys):
    assert check_cross_attention(cross_attention, verbose=False).passed
    assert "did you forget a `return`" in feedback(check_cross_attention(lambda *a: (None, None), verbose=False))
    assert "return a tuple" in feedback(check_cross_attention(lambda *a: cross_attention(*a)[0], verbose=False))
    check_cross_attention(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_cross_attention(None, verbose=False).implemented


# ---------------------------------------------------------------- exercise 4: cached step


def cached_step(x, keys, values, W_q, W_k, W_v, W_o, num_heads, *, mode="right", scale=None, project=True):
    q, k, v = heads(x @ W_q, num_heads), heads(x @ W_k, num_heads), heads(x @ W_v, num_heads)
    if mode == "in_place":
        keys.add_(0.0)
        keys.mul_(1.5)
    new_keys = {"front": torch.cat([k, keys], 2), "no_grow": keys}.get(mode, torch.cat([keys, k], 2))
    new_values = {"front": torch.cat([v, values], 2), "no_grow": values}.get(mode, torch.cat([values, v], 2))
    att_k, att_v = {"past_only": (keys, values), "self_only": (k, v)}.get(mode, (new_keys, new_values))
    if mode == "past_only" and keys.shape[2] == 0:
        att_k, att_v = k, v  # nothing cached yet: fall back to itself
    scores = q @ att_k.transpose(-2, -1) * (1 / math.sqrt(q.shape[-1]) if scale is None else scale)
    out = merge(torch.softmax(scores, -1) @ att_v)
    return (out @ W_o if project else out), new_keys, new_values


@pytest.mark.parametrize("kwargs, message", [
    ({"mode": "past_only"}, "attended only to the cached keys"),
    ({"mode": "self_only"}, "attended only to itself"),
    ({"mode": "front"}, "the newest key went in front"),
    ({"mode": "no_grow"}, "the cache did not grow"),
    ({"mode": "in_place"}, "changed the cache it was given in place"),
    ({"scale": 1.0}, "no scaling"),
    ({"project": False}, "the output projection W_o is missing"),
])
def test_cached_step_rejects_classic_bugs(kwargs, message):
    result = check_cached_step(lambda *a: cached_step(*a, **kwargs), verbose=False)
    assert not result.passed and message in feedback(result)


@pytest.mark.shows_learner_source
def test_cached_step_more_wrong_answers(capsys):
    assert check_cached_step(cached_step, verbose=False).passed
    assert "return a tuple (output, keys, values)" in feedback(check_cached_step(lambda *a: cached_step(*a)[0], verbose=False))
    assert "did you forget a `return`" in feedback(check_cached_step(lambda *a: (None, None, None), verbose=False))
    def on_the_wrong_axis(*a):  # keys appended along the feature axis: the learner's own line is shown
        out, k, v = cached_step(*a)
        return out, torch.cat([a[1], k[:, :, -1:]], dim=3), v
    assert "in on_the_wrong_axis: return out, torch.cat" in feedback(check_cached_step(on_the_wrong_axis, verbose=False))
    def keys_for_values(*a):  # the values cached as keys
        out, k, v = cached_step(*a)
        return out, k, k
    assert "values differs from the reference" in feedback(check_cached_step(keys_for_values, verbose=False))
    check_cached_step(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_cached_step(..., verbose=False).implemented


# ---------------------------------------------------------------- exercise 5: decoder block


def decoder_block(layer, y, memory, keep, *, bug=None):
    sa, ca = MultiHeadAttention.from_torch(layer.self_attn), MultiHeadAttention.from_torch(layer.multihead_attn)
    T = y.shape[1]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    if bug == "no_causal":
        causal = None
    if bug == "pytorch_causal":
        causal = ~causal
    cross = None if keep is None or bug == "no_padding" else keep[:, None, :]
    act = layer.activation
    if bug == "relu_always":
        act = F.relu

    def ff(h):
        return layer.linear2(act(layer.linear1(h)))

    norm_first = layer.norm_first if bug != "always_post" else False
    if bug == "call_layer":
        return layer(y, memory)
    if norm_first:
        h = layer.norm1(y)
        y = y + sa(h, h, h, mask=causal)[0]
        h = layer.norm2(y)
        mem = layer.norm2(memory) if bug == "normed_memory" else memory
        y = y + ca(h, mem, mem, mask=cross)[0]
        return y + ff(layer.norm3(y))
    y = layer.norm1(y + sa(y, y, y, mask=causal)[0])
    if bug == "self_twice":
        y = layer.norm2(y + ca(y, y, y, mask=causal)[0])
    else:
        y = layer.norm2(y + ca(y, memory, memory, mask=cross)[0])
    if bug == "norm_swap":
        return layer.norm2(y + ff(y))
    if bug == "no_residual":
        return layer.norm3(ff(y))
    return layer.norm3(y + ff(y))


@pytest.mark.parametrize("bug, message", [
    ("always_post", "post-norm and pre-norm are swapped"),
    ("no_causal", "no causal mask in the self-attention"),
    ("no_padding", "the source padding mask is missing"),
    ("self_twice", "the cross-attention attended to y"),
    ("normed_memory", "the memory was normalised too"),
    ("relu_always", "the activation is wrong"),
    ("call_layer", "you called the PyTorch layer itself"),
    ("norm_swap", "differs from the reference"),
    ("no_residual", "differs from the reference"),
])
def test_decoder_block_rejects_classic_bugs(bug, message):
    result = check_decoder_block(lambda *a: decoder_block(*a, bug=bug), verbose=False)
    assert not result.passed and message in feedback(result)


def test_decoder_block_passes_and_reports(capsys):
    assert check_decoder_block(decoder_block, verbose=False).passed
    result = check_decoder_block(lambda *a: decoder_block(*a, bug="pytorch_causal"), verbose=False)
    assert not result.passed  # PyTorch's convention (True = blocked) in our mask: a fully masked first row
    check_decoder_block(stub)
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_decoder_block(None, verbose=False).implemented


@pytest.mark.parametrize("checker", [check_unmasked_training_prediction, check_decoding_scores, check_cross_attention,
                                     check_cached_step, check_decoder_block])
def test_every_exercise_has_hints(checker):
    assert len(checker.exercise.hints) >= 2 and checker.exercise.chapter == "02b_transformer_decoder"
