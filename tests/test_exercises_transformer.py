import math

import pytest
import torch

from attnreg.attention import causal_mask, merge_heads, scaled_dot_product_attention, split_heads
from attnreg.exercises import check_causal_mask, check_merge_heads, check_scaled_dot_product_attention, check_split_heads


def feedback_of(result) -> str:
    return " | ".join(case.feedback for case in result.cases if not case.passed)


def stub(*args, **kwargs):
    raise NotImplementedError


@pytest.mark.parametrize("checker", [check_scaled_dot_product_attention, check_split_heads, check_merge_heads, check_causal_mask])
def test_stub_is_not_implemented(checker, capsys):
    result = checker(stub)
    assert not result.passed and not result.implemented
    assert "not implemented yet" in capsys.readouterr().out


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
    assert [case.passed for case in result.cases] == [True, True, True, False, False]
    # -inf added to the scores, then the masked weights set to 0: the forward pass is right, the backward pass is NaN.
    result = check_scaled_dot_product_attention(attention_with(additive=True), verbose=False)
    assert [case.passed for case in result.cases] == [True, True, True, True, False]
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
