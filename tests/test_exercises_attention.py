import pytest
import torch

from attnreg.attention import masked_softmax
from attnreg.exercises import check_masked_softmax


def feedback_of(result) -> str:
    return " | ".join(case.feedback for case in result.cases if not case.passed)


def stub(scores, mask):
    raise NotImplementedError


def test_stub_is_not_implemented(capsys):
    result = check_masked_softmax(stub)
    assert not result.passed and not result.implemented
    assert "not implemented yet" in capsys.readouterr().out


def lowest_fill(scores, mask):
    weights = torch.softmax(scores.masked_fill(~mask, torch.finfo(scores.dtype).min), dim=-1)
    return weights.masked_fill(~mask, 0.0)


def exp_with_max(scores, mask):
    """A correct version by hand: subtract the row maximum over the kept entries, exponentiate, normalise."""
    kept = scores.masked_fill(~mask, float("-inf"))
    row_max = kept.amax(-1, keepdim=True)
    row_max = torch.where(torch.isfinite(row_max), row_max, torch.zeros_like(row_max))  # a row with no key
    e = torch.exp(kept - row_max)
    return e / e.sum(-1, keepdim=True).clamp_min(torch.finfo(scores.dtype).tiny)


@pytest.mark.parametrize("correct", [lambda s, m: masked_softmax(s, m), lowest_fill, exp_with_max])
def test_accepts_correct_versions(correct, capsys):
    result = check_masked_softmax(correct)
    assert result.passed, feedback_of(result)
    assert "6 of 6 checks passed. Well done!" in capsys.readouterr().out


def no_max_subtraction(scores, mask):
    e = torch.exp(scores) * mask
    return e / e.sum(-1, keepdim=True).clamp_min(1e-30)


def boolean_indexing(scores, mask):
    scores = scores.clone()
    scores[~mask] = torch.finfo(scores.dtype).min  # needs a mask of the scores' exact shape
    return torch.softmax(scores, dim=-1) * mask


def in_place(scores, mask):
    scores.masked_fill_(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=-1).masked_fill(~mask, 0.0)


def additive_minus_inf(scores, mask):
    """Zeros in the forward pass, but adding -inf makes the backward pass of a fully masked row NaN."""
    blocked = torch.zeros_like(scores).masked_fill(~mask, float("-inf"))
    return torch.softmax(scores + blocked, dim=-1).masked_fill(~mask, 0.0)


@pytest.mark.parametrize("buggy, hint", [
    (lambda s, m: lowest_fill(s.transpose(-2, -1), m.expand_as(s).transpose(-2, -1)).transpose(-2, -1) if s.ndim == 3
     else lowest_fill(s, m), "softmax over the wrong axis"),
    (lambda s, m: lowest_fill(s, ~m), "the mask is inverted"),
    (lambda s, m: torch.softmax(s.masked_fill(~m, 0.0), dim=-1), "masked scores were set to 0"),
    (lambda s, m: torch.softmax(s, dim=-1).masked_fill(~m, 0.0), "you zeroed the weights after the softmax"),
    (lambda s, m: torch.softmax(s, dim=-1), "the mask is ignored"),
    (lambda s, m: torch.softmax(s.masked_fill(~m, float("-inf")), dim=-1), "a query whose keys are all masked gives NaN"),
    (lambda s, m: torch.softmax(s.masked_fill(~m, torch.finfo(s.dtype).min), dim=-1), "a fully masked row got uniform weights"),
    (no_max_subtraction, "scores of size 1000 give NaN or inf"),
    (boolean_indexing, "a mask of shape (2, 1, 5), one row of keys for every query, raised IndexError"),
    (lambda s, m: lowest_fill(s, m)[..., :1, :] * m, "the weights have shape (2, 1, 5) (the shape of the mask), expected"),
    (in_place, "your function changed the scores it was given"),
    (additive_minus_inf, "the gradient contains NaN with a fully masked row"),
    (lambda s, m: lowest_fill(s, m).detach(), "no gradient reaches the scores"),
    (lambda s, m: None, "did you forget a `return`?"),
])
def test_catches_classic_bugs(buggy, hint):
    result = check_masked_softmax(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result), feedback_of(result)


def test_wrong_axis_is_named_even_without_mask():
    result = check_masked_softmax(lambda s, m: torch.softmax(s.masked_fill(~m, -1e9), dim=-2) * m, verbose=False)
    assert "softmax over the wrong axis" in result.cases[0].feedback


def test_not_a_function():
    result = check_masked_softmax("masked_softmax", verbose=False)
    assert not result.passed and not result.implemented
