import math

import pytest
import torch
import torch.nn.functional as F

from attnreg.attention import causal_mask, merge_heads, scaled_dot_product_attention, split_heads
from attnreg.exercises import (
    check_causal_mask,
    check_encoder_block,
    check_head_cost,
    check_merge_heads,
    check_no_mask_prediction,
    check_scaled_dot_product_attention,
    check_split_heads,
)

MEASURED = {"causal": (0.60, 0.59), "no mask": (0.99, 0.98), "no mask, future hidden": 0.31}


def feedback_of(result) -> str:
    return " | ".join(case.feedback for case in result.cases if not case.passed)


def stub(*args, **kwargs):
    raise NotImplementedError


FUNCTION_CHECKERS = [check_split_heads, check_merge_heads, check_causal_mask, check_head_cost,
                     check_scaled_dot_product_attention, check_encoder_block]


@pytest.mark.parametrize("checker", FUNCTION_CHECKERS)
def test_stub_is_not_implemented(checker, capsys):
    result = checker(stub, record=False)
    assert not result.passed and not result.implemented
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("checker", FUNCTION_CHECKERS)
@pytest.mark.parametrize("answer", [None, ...])
def test_none_is_not_attempted(checker, answer, capsys):
    result = checker(answer, record=False)
    assert not result.passed and not result.implemented
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("answer", [None, ...])
def test_prediction_none_is_not_attempted(answer, capsys):
    result = check_no_mask_prediction(answer, MEASURED, record=False)
    assert not result.passed and not result.implemented
    assert "not attempted yet" in capsys.readouterr().out


@pytest.mark.parametrize("checker", FUNCTION_CHECKERS + [check_no_mask_prediction])
def test_every_exercise_has_hints_and_its_place(checker):
    info = checker.exercise
    assert len(info.hints) >= 2 and info.chapter == "02_self_attention_transformer"


def test_exercises_go_from_easy_to_hard_with_all_three_kinds():
    from attnreg.exercises import catalogue

    chapter = [e for e in catalogue() if e.chapter == "02_self_attention_transformer"]
    assert [e.number for e in chapter] == list(range(1, len(chapter) + 1)) and len(chapter) >= 5
    assert [e.stars for e in chapter] == sorted(e.stars for e in chapter) and chapter[-1].stars == 3
    assert {e.kind for e in chapter} == {"implement", "derive", "predict"}


# --- scaled dot-product attention --------------------------------------------------------------------

def attention_with(*, scale=None, dim=-1, fill=None, invert=False, ignore_mask=False, zero_after=True, after_softmax=False,
                   additive=False):
    """An attention function with one classic bug switched on."""
    def attention(q, k, v, mask=None):
        d_k = q.shape[-1]
        scores = q @ k.transpose(-2, -1) * (1 / math.sqrt(d_k) if scale is None else scale(q, k, v))
        if mask is not None and not ignore_mask:
            keep = ~mask if invert else mask
            if after_softmax:
                weights = torch.softmax(scores, dim=dim) * keep
                return weights @ v, weights
            if additive:  # PyTorch's float-mask style: add 0 where allowed, -inf where blocked
                scores = scores + torch.zeros_like(scores).masked_fill(~keep, float("-inf"))
            else:
                scores = scores.masked_fill(~keep, torch.finfo(scores.dtype).min if fill is None else fill)
            weights = torch.softmax(scores, dim=dim)
            if zero_after:
                weights = weights.masked_fill(~keep, 0.0)
        else:
            weights = torch.softmax(scores, dim=dim)
        return weights @ v, weights
    return attention


def test_sdpa_checker_accepts_correct_versions():
    assert check_scaled_dot_product_attention(attention_with(), verbose=False).passed
    assert check_scaled_dot_product_attention(lambda q, k, v, mask=None: scaled_dot_product_attention(q, k, v, mask), verbose=False).passed


@pytest.mark.parametrize(
    "buggy, hint",
    [
        (attention_with(dim=-2), "softmax over the wrong axis"),
        (attention_with(scale=lambda q, k, v: 1.0), "the scores are not scaled"),
        (attention_with(scale=lambda q, k, v: 1 / q.shape[-1]), "you divided by d_k = 4; divide by its square root"),
        (attention_with(scale=lambda q, k, v: 1 / math.sqrt(v.shape[-1])), "you scaled by sqrt(d_v)"),
        (attention_with(scale=lambda q, k, v: 1 / math.sqrt(k.shape[-2])), "you scaled by sqrt(n_k)"),
        (attention_with(scale=lambda q, k, v: math.sqrt(q.shape[-1])), "you multiplied by sqrt(d_k)"),
        (attention_with(invert=True), "the mask is inverted"),
        (attention_with(ignore_mask=True), "the mask is ignored"),
        (attention_with(after_softmax=True), "you zeroed the weights after the softmax"),
        (attention_with(fill=0.0, zero_after=False), "masked scores were set to 0"),
        (attention_with(fill=float("-inf"), zero_after=False), "a query whose keys are all masked gives NaN"),
        (attention_with(additive=True), "the gradient with respect to q contains NaN"),
        (attention_with(zero_after=False), "a fully masked row got uniform weights"),
    ],
)
def test_sdpa_checker_catches_classic_bugs(buggy, hint):
    result = check_scaled_dot_product_attention(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result)


def test_sdpa_checker_nan_bugs_pass_the_cases_without_empty_rows():
    result = check_scaled_dot_product_attention(attention_with(fill=float("-inf"), zero_after=False), verbose=False)
    assert [case.passed for case in result.cases] == [True] * 6 + [False, False]
    # -inf added to the scores, then the masked weights set to 0: the forward pass is right, the backward pass is NaN.
    result = check_scaled_dot_product_attention(attention_with(additive=True), verbose=False)
    assert [case.passed for case in result.cases] == [True] * 7 + [False]
    # masked_fill with -inf, then the masked weights set to 0: masked_fill blocks the NaN gradient, so this one is right.
    assert check_scaled_dot_product_attention(attention_with(fill=float("-inf")), verbose=False).passed


def test_sdpa_checker_detached_output():
    result = check_scaled_dot_product_attention(
        lambda q, k, v, mask=None: tuple(t.detach() for t in scaled_dot_product_attention(q, k, v, mask)), verbose=False)
    assert not result.passed
    assert "raised RuntimeError" in feedback_of(result)


def test_sdpa_checker_wants_output_and_weights():
    result = check_scaled_dot_product_attention(lambda q, k, v, mask=None: scaled_dot_product_attention(q, k, v, mask)[0], verbose=False)
    assert "return a tuple (output, weights), got Tensor" in feedback_of(result)


def test_sdpa_checker_reports_errors_without_raising(capsys):
    result = check_scaled_dot_product_attention(lambda q, k, v: (q, k), verbose=True)  # no mask argument
    assert not result.passed
    assert "raised TypeError" in capsys.readouterr().out


# --- split and merge heads ---------------------------------------------------------------------------

def split_interleaved(x, num_heads):
    b, n, e = x.shape
    return x.reshape(b, n, e // num_heads, num_heads).permute(0, 3, 1, 2)


def split_reshape_only(x, num_heads):
    b, n, e = x.shape
    return x.reshape(b, num_heads, n, e // num_heads)


def split_no_transpose(x, num_heads):
    b, n, e = x.shape
    return x.reshape(b, n, num_heads, e // num_heads)


def test_split_checker_accepts_correct_version():
    assert check_split_heads(split_heads, verbose=False).passed
    assert check_split_heads(lambda x, h: x.view(x.shape[0], x.shape[1], h, -1).permute(0, 2, 1, 3), verbose=False).passed


@pytest.mark.parametrize(
    "buggy, hint",
    [
        (split_interleaved, "the heads are interleaved"),
        (split_reshape_only, "you reshaped straight to (batch, heads, n, head_dim)"),
        (split_no_transpose, "the result has shape (batch, n, heads, head_dim)"),
    ],
)
def test_split_checker_catches_classic_bugs(buggy, hint):
    result = check_split_heads(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result)


def merge_interleaved(x):
    b, h, n, d = x.shape
    return x.permute(0, 2, 3, 1).reshape(b, n, d * h)


def merge_no_transpose(x):
    b, h, n, d = x.shape
    return x.reshape(b, n, h * d)


def test_merge_checker_accepts_correct_version():
    assert check_merge_heads(merge_heads, verbose=False).passed


@pytest.mark.parametrize(
    "buggy, hint",
    [
        (merge_interleaved, "the heads are interleaved"),
        (merge_no_transpose, "you reshaped without moving the heads axis back"),
        (lambda x: x.transpose(1, 2), "reshape it to (batch, n, heads * head_dim)"),
    ],
)
def test_merge_checker_catches_classic_bugs(buggy, hint):
    result = check_merge_heads(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result)


# --- causal mask -------------------------------------------------------------------------------------

def test_causal_checker_accepts_correct_versions():
    assert check_causal_mask(causal_mask, verbose=False).passed
    assert check_causal_mask(lambda n: torch.arange(n)[None, :] <= torch.arange(n)[:, None], verbose=False).passed


@pytest.mark.parametrize(
    "buggy, hint",
    [
        (lambda n: ~torch.ones(n, n, dtype=torch.bool).tril(), "True marks the future"),
        (lambda n: torch.ones(n, n, dtype=torch.bool).triu(), "query i may attend to the keys j >= i"),
        (lambda n: torch.ones(n, n, dtype=torch.bool).tril(-1), "the diagonal is missing"),
        (lambda n: torch.ones(n, n, dtype=torch.bool), "every position may attend to every other"),
        (lambda n: torch.full((n, n), float("-inf")).triu(1), "this is PyTorch's additive float mask"),
        (lambda n: torch.ones(n, n, dtype=torch.long).tril(), "the mask must be a boolean tensor (dtype torch.bool), got dtype torch.int64"),
        (lambda n: None, "causal_mask(4) is None: did you forget a `return`?"),
    ],
)
def test_causal_checker_catches_classic_bugs(buggy, hint):
    result = check_causal_mask(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result)


def test_causal_checker_one_position():
    result = check_causal_mask(lambda n: torch.ones(n, n, dtype=torch.bool).tril(-1), verbose=False)
    assert "the only position must be allowed to attend to itself" in result.cases[2].feedback


# --- scaled dot-product attention: 4-D input, overflow, masked maxima -----------------------------------

def _masked_weights(scores, mask):
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = torch.softmax(scores, dim=-1)
    return weights if mask is None else weights.masked_fill(~mask, 0.0)


def attention_bmm(q, k, v, mask=None):  # 3-D only
    weights = _masked_weights(torch.bmm(q, k.transpose(1, 2)) / math.sqrt(q.shape[-1]), mask)
    return torch.bmm(weights, v), weights


def attention_transpose_1_2(q, k, v, mask=None):  # right on (batch, n, d), wrong axes on (batch, heads, n, d)
    weights = _masked_weights(q @ k.transpose(1, 2) / math.sqrt(q.shape[-1]), mask)
    return weights @ v, weights


def attention_permute(q, k, v, mask=None):  # 3-D only
    weights = _masked_weights(q @ k.permute(0, 2, 1) / math.sqrt(q.shape[-1]), mask)
    return weights @ v, weights


def attention_naive_exp(q, k, v, mask=None):  # exp without subtracting the maximum: inf above 88
    e = torch.exp(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]))
    if mask is not None:
        e = e * mask
    weights = e / e.sum(dim=-1, keepdim=True).clamp_min(1e-30)
    return weights @ v, weights


def attention_max_over_all_keys(q, k, v, mask=None):  # stabilising maximum includes masked keys
    s = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    e = torch.exp(s - s.max(dim=-1, keepdim=True).values)
    if mask is not None:
        e = e * mask
    weights = e / e.sum(dim=-1, keepdim=True).clamp_min(1e-30)
    return weights @ v, weights


def attention_scales_q_in_place(q, k, v, mask=None):
    q /= math.sqrt(q.shape[-1])  # changes the caller's q
    weights = _masked_weights(q @ k.transpose(-2, -1), mask)
    return weights @ v, weights


def attention_float32(q, k, v, mask=None):
    q, k, v = q.float(), k.float(), v.float()
    weights = _masked_weights(q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1]), mask)
    return weights @ v, weights


@pytest.mark.parametrize(
    "buggy, hint, failing",
    [
        (attention_bmm, "your function fails on 4-D input (batch, heads, n, d)", [3]),
        (attention_transpose_1_2, "your function fails on 4-D input (batch, heads, n, d)", [3]),
        (attention_permute, "your function fails on 4-D input (batch, heads, n, d)", [3]),
        (attention_naive_exp, "NaN with scores above 88: exp(score) overflows to inf", [4]),
        (attention_max_over_all_keys, "the maximum you subtracted before exp came from a masked key", [4]),
        (attention_with(invert=True), "the mask is inverted", [1, 2, 3, 4, 5]),
        (attention_scales_q_in_place, "your function changed its argument q in place", [0]),
        (attention_float32, "with float64 inputs the output came back as torch.float32", [5]),
        (attention_with(scale=lambda q, k, v: 1 / math.sqrt(q.shape[1])), "you scaled by sqrt(n_q) = sqrt(3)", [0]),
    ],
)
def test_sdpa_checker_catches_rank_overflow_and_inverted_masks(buggy, hint, failing):
    result = check_scaled_dot_product_attention(buggy, verbose=False, record=False)
    assert [i for i, case in enumerate(result.cases) if not case.passed][:len(failing)] == failing
    assert hint in result.cases[failing[-1]].feedback


def test_sdpa_checker_cases_include_heads_and_large_scores():
    names = [case.name for case in check_scaled_dot_product_attention(attention_with(), verbose=False, record=False).cases]
    assert any("4-D" in name for name in names) and any("150" in name for name in names)


# --- split and merge heads: dtype, gradient, in-place, shapes the demo uses -----------------------------

@pytest.mark.parametrize(
    "buggy, hint",
    [
        (lambda x, h: split_heads(x, h).transpose(-2, -1), "the last two axes are swapped"),
        (lambda x, h: split_heads(x, h).float(), "the result has dtype torch.float32, but x had dtype torch.float64"),
        (lambda x, h: split_heads(x, h).detach(), "no gradient flows from split_heads back to x"),
        (lambda x, h: torch.tensor(split_heads(x, h).tolist(), dtype=x.dtype), "no gradient flows from split_heads back to x"),
        (lambda x, h: x.reshape(x.shape[0], x.shape[1], 3, -1).transpose(1, 2),  # the demo's 3 heads, hard-coded
         "split_heads(x) has shape (1, 3, 4, 2), expected (1, 2, 4, 3)"),
        (lambda x, h: None, "split_heads(x) is None: did you forget a `return`?"),
    ],
)
def test_split_checker_catches_more_bugs(buggy, hint):
    result = check_split_heads(buggy, verbose=False, record=False)
    assert not result.passed
    assert hint in feedback_of(result)


def merge_with_view(x):
    b, h, n, d = x.shape
    return x.transpose(1, 2).view(b, n, h * d)


def merge_in_place(x):
    b, h, n, d = x.shape
    x.transpose_(1, 2)  # changes the caller's tensor
    return x.reshape(b, n, h * d)


@pytest.mark.parametrize(
    "buggy, hint",
    [
        (lambda x: x.mean(dim=1), "you averaged the heads"),
        (merge_with_view, "view() fails on the transposed tensor"),
        (merge_in_place, "merge_heads changed its input x in place"),
        (lambda x: merge_heads(x).detach(), "no gradient flows from merge_heads back to x"),
        (lambda x: merge_heads(x).float(), "the result has dtype torch.float32, but x had dtype torch.float64"),
        (lambda x: x.transpose(1, 2).reshape(1, x.shape[2], -1), "has shape (1, 5, 24), expected (2, 5, 12)"),  # batch 1, as in the demo
        (lambda x: x.transpose(2, 3).reshape(x.shape[0], x.shape[2], -1), "merge_heads(x) differs from the reference"),
    ],
)
def test_merge_checker_catches_more_bugs(buggy, hint):
    result = check_merge_heads(buggy, verbose=False, record=False)
    assert not result.passed
    assert hint in feedback_of(result)


@pytest.mark.parametrize(
    "buggy, hint",
    [
        (lambda n: torch.ones(n, n).tril(), "the mask must be a boolean tensor (dtype torch.bool), got dtype torch.float32"),
        (lambda n: torch.ones(4, 4, dtype=torch.bool).tril(), "causal_mask(7) has shape (4, 4), expected (7, 7)"),
        (lambda n: torch.ones(1, n, n, dtype=torch.bool).tril(), "causal_mask(4) has shape (1, 4, 4), expected (4, 4)"),
    ],
)
def test_causal_checker_catches_more_bugs(buggy, hint):
    result = check_causal_mask(buggy, verbose=False, record=False)
    assert not result.passed
    assert hint in feedback_of(result)


# --- the cost of heads (derive) -------------------------------------------------------------------------

def head_cost(n_q, n_k, d_model, num_heads):
    return 2 * n_q * n_k * d_model, num_heads * n_q * n_k


def test_head_cost_checker_accepts_the_right_formula_in_any_number_type():
    assert check_head_cost(head_cost, verbose=False, record=False).passed
    assert check_head_cost(lambda q, k, d, h: (float(2 * q * k * d), torch.tensor(h * q * k)), verbose=False, record=False).passed
    assert check_head_cost(lambda q, k, d, h: [2 * q * k * d, h * q * k], verbose=False, record=False).passed


@pytest.mark.parametrize(
    "buggy, hint",
    [
        (lambda q, k, d, h: (2 * q * k * d * h, h * q * k), "you gave every head the full width"),
        (lambda q, k, d, h: (2 * q * k * d / h, h * q * k), "that is one head's count: add up the n_h heads"),
        (lambda q, k, d, h: (q * k * d, h * q * k), "you counted the scores Q K^T only"),
        (lambda q, k, d, h: (2 * q * k * d + 2 * q * d * d + 2 * k * d * d, h * q * k), "you included the projections"),
        (lambda q, k, d, h: (2 * q * q * d, h * q * k), "n_q n_k dot products, not n_q^2"),
        (lambda q, k, d, h: (2 * q * k * d, q * k), "that is one head's weight matrix"),
        (lambda q, k, d, h: (2 * q * k * d, q * k * d), "the weights do not depend on the width d_k"),
        (lambda q, k, d, h: (2 * q * k * d, h * k * k), "n_q x n_k, not n_k x n_k"),
        (lambda q, k, d, h: (h * q * k, 2 * q * k * d), "the two numbers are in the wrong order"),
        (lambda q, k, d, h: 2 * q * k * d, "must return a pair (multiply_adds, weights), got int"),
        (lambda q, k, d, h: (2 * q * k * d, h * q * k, 0), "got a tuple of length 3"),
        (lambda q, k, d, h: ("2 n^2 d", "h n^2"), "(multiply-adds) must be a number, got str"),
        (lambda q, k, d, h: (3 * q * k * d, h * q * k), "is not right: it is too large"),
        (lambda q, k, d, h: (2 * q * k * d, h * q), "is not right: it is too small"),
    ],
)
def test_head_cost_checker_names_each_misconception_without_the_answer(buggy, hint):
    result = check_head_cost(buggy, verbose=False, record=False)
    assert not result.passed
    feedback = feedback_of(result)
    assert hint in feedback
    for q, k, d, h in ((10, 10, 64, 8), (100, 30, 32, 4), (12, 50, 48, 6)):  # the right values are never printed
        assert f"{2 * q * k * d:.6g}" not in feedback and f"{h * q * k:.6g} " not in feedback


def test_head_cost_checker_skips_a_misconception_where_it_gives_the_right_number():
    result = check_head_cost(lambda q, k, d, h: (2 * q * k * d * h, h * q * k), verbose=False, record=False)
    assert [case.passed for case in result.cases] == [False, False, True, False]  # one head: the same number
    result = check_head_cost(lambda q, k, d, h: (2 * q * q * d, h * q * k), verbose=False, record=False)
    assert [case.passed for case in result.cases] == [True, False, True, False]  # n_q = n_k in self-attention


# --- what removing the causal mask does (predict) -------------------------------------------------------

def test_prediction_checker_accepts_a_close_prediction_and_explains(capsys):
    assert check_no_mask_prediction((1.0, 0.95), MEASURED, record=False).passed
    out = capsys.readouterr().out
    assert "Well done!" in out and "Why: the unmasked model reads the answer" in out and "0.31" in out


@pytest.mark.parametrize(
    "prediction, hint",
    [
        ((0.6, 0.6), "you predicted about what the causal model reaches"),
        ((0.55, 0.62), "you predicted about what the causal model reaches"),
        ((1.0, 0.3), "no overfitting here"),
        ((0.1, 0.1), "your training accuracy 0.10 is too low"),
        ((0.75, 0.75), "is too low: measured 0.99 without the mask"),
        ((100, 95), "give the accuracies as fractions in [0, 1], not percentages"),
        ((-0.2, 0.5), "an accuracy lies between 0 and 1"),
        (0.99, "prediction_6 must be a pair (train accuracy, test accuracy), got float"),
        ((0.99, 0.98, 0.5), "got a tuple of length 3"),
        (("high", "high"), "prediction_6[0] must be a number, got str"),
        ("c", "must be a pair (train accuracy, test accuracy), got str"),
    ],
)
def test_prediction_checker_rejects_wrong_predictions_with_their_message(prediction, hint):
    result = check_no_mask_prediction(prediction, MEASURED, verbose=False, record=False)
    assert not result.passed and result.implemented
    assert hint in feedback_of(result)


def test_prediction_verdict_follows_what_was_measured():
    # Had the experiment shown no difference, predicting the causal model's numbers would be right.
    same = {"causal": (0.6, 0.6), "no mask": (0.62, 0.6), "no mask, future hidden": 0.6}
    assert check_no_mask_prediction((0.6, 0.6), same, verbose=False, record=False).passed
    assert not check_no_mask_prediction((1.0, 1.0), same, verbose=False, record=False).passed


# --- an encoder block assembled from its parts (assemble) -----------------------------------------------

def block_from_parts(*, norm_first=None, invert=False, interleave=False, scale_by_model=False, transposed=False,
                     no_out_proj=False, no_residual=False, activation=None, softmax_dim=-1, plain_norm=False):
    """A learner's encoder block, with at most one classic bug switched on."""
    def linear(h, w, b):
        return h @ w + b if transposed and w.shape[0] == w.shape[1] else F.linear(h, w, b)

    def norm(h, ln):
        return F.layer_norm(h, ln.normalized_shape, eps=ln.eps) if plain_norm else ln(h)

    def block(x, layer, mask=None):
        attn = layer.self_attn
        heads, E = attn.num_heads, attn.embed_dim
        head_dim = E // heads

        def self_attention(h):
            b, n, _ = h.shape
            projected = [linear(h, w, bias) for w, bias in zip(attn.in_proj_weight.chunk(3), attn.in_proj_bias.chunk(3))]
            if interleave:
                q, k, v = (p.reshape(b, n, head_dim, heads).permute(0, 3, 1, 2) for p in projected)
            else:
                q, k, v = (split_heads(p, heads) for p in projected)
            scores = q @ k.transpose(-2, -1) / math.sqrt(E if scale_by_model else head_dim)
            if mask is not None:
                scores = scores.masked_fill(mask if invert else ~mask, float("-inf"))
            out = torch.softmax(scores, dim=softmax_dim) @ v
            merged = out.permute(0, 2, 3, 1).reshape(b, n, E) if interleave else merge_heads(out)
            return merged if no_out_proj else linear(merged, attn.out_proj.weight, attn.out_proj.bias)

        def ffn(h):
            act = layer.activation if activation is None else activation
            return layer.linear2(act(layer.linear1(h)))

        r = 0.0 if no_residual else 1.0
        first = layer.norm_first if norm_first is None else norm_first(layer)
        if first:
            x = r * x + self_attention(norm(x, layer.norm1))
            return r * x + ffn(norm(x, layer.norm2))
        x = norm(r * x + self_attention(x), layer.norm1)
        return norm(r * x + ffn(x), layer.norm2)
    return block


def block_in_place(x, layer, mask=None):
    h = block_from_parts()(x, layer, mask)
    x += 0.0 * x + 1.0  # an in-place update of the caller's tensor
    return h


def test_encoder_block_checker_accepts_correct_versions():
    assert check_encoder_block(block_from_parts(), verbose=False, record=False).passed

    def with_library_parts(x, layer, mask=None):  # attnreg's pieces are allowed too
        attn = layer.self_attn
        q, k, v = (split_heads(p, attn.num_heads) for p in F.linear(x if not layer.norm_first else layer.norm1(x),
                                                                    attn.in_proj_weight, attn.in_proj_bias).chunk(3, -1))
        a = attn.out_proj(merge_heads(scaled_dot_product_attention(q, k, v, mask)[0]))
        if layer.norm_first:
            x = x + a
            return x + layer.linear2(layer.activation(layer.linear1(layer.norm2(x))))
        x = layer.norm1(x + a)
        return layer.norm2(x + layer.linear2(layer.activation(layer.linear1(x))))
    assert check_encoder_block(with_library_parts, verbose=False, record=False).passed


@pytest.mark.parametrize(
    "buggy, hint",
    [
        (block_from_parts(norm_first=lambda layer: not layer.norm_first), "the layer is post-norm (norm_first=False)"),
        (block_from_parts(norm_first=lambda layer: False), "the layer is pre-norm (norm_first=True)"),
        (block_from_parts(invert=True), "the mask is inverted"),
        (block_from_parts(interleave=True), "the heads are interleaved"),
        (block_from_parts(scale_by_model=True), "you scaled the scores by 1/sqrt(d_model)"),
        (block_from_parts(transposed=True), "the weights are used transposed"),
        (block_from_parts(no_out_proj=True), "the output projection is missing"),
        (block_from_parts(no_residual=True), "the residual connections are missing"),
        (block_from_parts(activation=lambda h: h), "the activation is missing between linear1 and linear2"),
        (block_from_parts(activation=F.relu), "this layer's activation is GELU: use layer.activation"),
        (block_from_parts(softmax_dim=-2), "softmax over the wrong axis"),
        (block_from_parts(plain_norm=True), "the LayerNorms' own weight and bias are missing"),
        (lambda x, layer, mask=None: layer(x, src_mask=None if mask is None else ~mask), "you called layer(x)"),
        (lambda x, layer, mask=None: layer.self_attn(x, x, x)[0], "you called layer.self_attn(...)"),
        (lambda x, layer, mask=None: None, "is None: did you forget a `return`?"),
        (block_in_place, "your function changed its input x in place"),
    ],
)
def test_encoder_block_checker_catches_classic_bugs(buggy, hint):
    result = check_encoder_block(buggy, verbose=False, record=False)
    assert not result.passed
    assert hint in feedback_of(result)


def test_encoder_block_checker_reference_is_pytorch():
    from attnreg.exercises.transformer import _encoder_block, _make_layer

    x = torch.randn(2, 6, 16, generator=torch.Generator().manual_seed(5))
    for norm_first in (False, True):
        layer = _make_layer(norm_first, "gelu", 0)
        mask = causal_mask(6)
        assert torch.allclose(_encoder_block(x, layer, mask), layer(x, src_mask=~mask), atol=1e-5)
