"""The dropout checkers pass correct implementations and name each classic bug."""

import math
import re

import pytest
import torch
import torch.nn.functional as F

from attnreg.dropout import dropout
from attnreg.exercises import check_downscale_dropout, check_dropout


# ---------------------------------------------------------------------------------------------
# Implementations a learner might write: correct ones and the classic bugs.


def correct_upscale(x, p, training):
    if not training:
        return x
    if p == 1:
        return torch.zeros_like(x)
    mask = (torch.rand(x.shape) > p).float()
    return mask * x / (1 - p)


def correct_downscale(x, p, training):
    if not training:
        return (1 - p) * x
    return (torch.rand(x.shape) > p).float() * x


def randn_mask(x, p, training):  # the from-scratch code of source 002
    if not training:
        return x
    if p == 1:
        return torch.zeros_like(x)
    mask = (torch.randn(x.shape) > p).float()
    return mask * x / (1 - p)


def missing_rescale(x, p, training):
    if not training:
        return x
    return (torch.rand(x.shape) > p).float() * x


def multiplies_at_inference(x, p, training):
    if not training:
        return (1 - p) * x
    return correct_upscale(x, p, training)


def divides_at_inference(x, p, training):
    if not training:
        return x / (1 - p)
    return correct_upscale(x, p, training)


def p_as_keep_probability(x, p, training):
    if not training:
        return x
    if p == 0:
        return torch.zeros_like(x)
    mask = (torch.rand(x.shape) < p).float()
    return mask * x / p


def nan_at_p_one(x, p, training):
    if not training:
        return x
    mask = (torch.rand(x.shape) > p).float()
    return mask * x / (1.0 - p)


def zero_division_at_p_one(x, p, training):
    if not training:
        return x
    mask = (torch.rand(x.shape) > p).float()
    return x * mask * (1.0 / (1.0 - p))


def in_place(x, p, training):
    if not training:
        return x
    if p == 1:
        return x.zero_()
    x[torch.rand(x.shape) <= p] = 0
    return x.div_(1 - p)


def masks_at_inference(x, p, training):
    return correct_upscale(x, p, True)


def downscale_without_inference_scale(x, p, training):
    if not training:
        return x
    return (torch.rand(x.shape) > p).float() * x


def downscale_scaled_by_p(x, p, training):
    if not training:
        return p * x
    return (torch.rand(x.shape) > p).float() * x


def downscale_randn(x, p, training):
    if not training:
        return (1 - p) * x
    return (torch.randn(x.shape) > p).float() * x


def stub(x, p, training):
    raise NotImplementedError


def feedback(result, name_start):
    """The feedback of the first case whose name starts with ``name_start``."""
    matches = [case for case in result.cases if case.name.startswith(name_start)]
    assert matches, f"no case named {name_start!r} in {[c.name for c in result.cases]}"
    return matches[0]


# ---------------------------------------------------------------------------------------------
# check_dropout


@pytest.mark.parametrize("fn", [
    correct_upscale,
    lambda x, p, training: dropout(x, p, training),
    lambda x, p, training: F.dropout(x, p, training),
])
def test_correct_upscale_implementations_pass(fn, capsys):
    result = check_dropout(fn)
    assert result.passed, result.cases
    assert "8 of 8 checks passed. Well done!" in capsys.readouterr().out


def test_stub_is_reported_as_not_implemented(capsys):
    result = check_dropout(stub)
    assert not result.implemented and not result.passed
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("fn, case_name, hint", [
    (randn_mask, "keeps a fraction 1 - p of the units (p = 0.2)", "torch.randn(...) > p"),
    (randn_mask, "keeps a fraction 1 - p of the units (p = 0.7)", "torch.randn(...) > p"),
    (randn_mask, "E[training output]", "torch.randn(...) > p"),
    (randn_mask, "p = 0 keeps x unchanged", "torch.randn(...) > 0 is False for half of the draws"),
    (missing_rescale, "kept units are", "the kept units are not rescaled: divide them by 1 - p"),
    (missing_rescale, "E[training output]", "not divided by 1 - p"),
    (multiplies_at_inference, "inference returns", "at inference you multiply by 1 - p"),
    (divides_at_inference, "inference returns", "you rescale at inference"),
    (masks_at_inference, "inference returns", "apply the random mask only when training is True"),
    (p_as_keep_probability, "keeps a fraction 1 - p of the units (p = 0.2)", "p is the DROP probability"),
    (p_as_keep_probability, "kept units are", "you divide by p"),
    (nan_at_p_one, "p = 1 drops every unit", "NaN"),
    (zero_division_at_p_one, "p = 1 drops every unit", "ZeroDivisionError"),
    (in_place, "x is left unchanged", "changed its input x in place"),
])
def test_each_classic_bug_fails_with_its_hint(fn, case_name, hint):
    result = check_dropout(fn, verbose=False)
    assert not result.passed
    case = feedback(result, case_name)
    assert not case.passed
    assert hint in case.feedback, case.feedback


def test_the_randn_bug_reports_the_measured_keep_rate():
    case = feedback(check_dropout(randn_mask, verbose=False), "keeps a fraction 1 - p of the units (p = 0.2)")
    # P(Z > 0.2) = 0.4207 for a standard normal Z, against the 0.8 that was asked for
    measured = float(re.search(r"is (\d\.\d+) instead of 0\.800", case.feedback).group(1))
    assert abs(measured - 0.4207) < 5 * math.sqrt(0.4207 * 0.5793 / 100_000)


def test_the_checker_leaves_the_global_random_state_alone():
    torch.manual_seed(123)
    state = torch.get_rng_state()
    check_dropout(correct_upscale, verbose=False)
    assert torch.equal(torch.get_rng_state(), state)


def test_a_non_tensor_result_is_explained():
    result = check_dropout(lambda x, p, training: x.tolist(), verbose=False)
    assert "must be a torch.Tensor, got list" in result.cases[0].feedback


# ---------------------------------------------------------------------------------------------
# check_downscale_dropout


@pytest.mark.parametrize("fn", [
    correct_downscale,
    lambda x, p, training: dropout(x, p, training, mode="downscale_in_infer"),
])
def test_correct_downscale_implementations_pass(fn):
    assert check_downscale_dropout(fn, verbose=False).passed


def test_downscale_stub_is_reported_as_not_implemented():
    assert not check_downscale_dropout(stub, verbose=False).implemented


@pytest.mark.parametrize("fn, case_name, hint", [
    (correct_upscale, "kept units are", "that is the upscale_in_train convention"),
    (correct_upscale, "inference returns", "at inference multiply by 1 - p"),
    (correct_upscale, "E[training output]", "that is upscale_in_train"),
    (downscale_without_inference_scale, "inference returns", "at inference multiply by 1 - p"),
    (downscale_scaled_by_p, "inference returns", "multiply by 1 - p, not by p"),
    (downscale_randn, "keeps a fraction 1 - p of the units (p = 0.7)", "torch.randn(...) > p"),
    (downscale_randn, "E[training output]", "torch.randn(...) > p"),
])
def test_each_classic_downscale_bug_fails_with_its_hint(fn, case_name, hint):
    result = check_downscale_dropout(fn, verbose=False)
    assert not result.passed
    case = feedback(result, case_name)
    assert not case.passed
    assert hint in case.feedback, case.feedback
