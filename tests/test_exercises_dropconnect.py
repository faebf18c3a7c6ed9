"""The DropConnect checker passes correct implementations and names each classic bug."""

import pytest
import torch

from attnreg.exercises import check_dropconnect_forward
from attnreg.exercises.dropconnect import (
    HINT_BIAS,
    HINT_DIVIDE_P,
    HINT_GENERATOR,
    HINT_INPUTS,
    HINT_KEEP_P,
    HINT_MULTIPLY,
    HINT_NO_RESCALE,
    HINT_OUTPUTS,
    HINT_SHARED,
)


def correct(x, weight, bias, p, generator):
    keep = 1 - p
    weight_mask = torch.rand(x.shape[0], *weight.shape, generator=generator) < keep
    bias_mask = torch.rand(x.shape[0], *bias.shape, generator=generator) < keep
    return (torch.einsum("boi,bi->bo", weight_mask * weight, x) + bias_mask * bias) / keep


def correct_with_bernoulli(x, weight, bias, p, generator):
    weight_mask = torch.bernoulli(torch.full((x.shape[0], *weight.shape), 1 - p), generator=generator)
    bias_mask = torch.bernoulli(torch.full((x.shape[0], *bias.shape), 1 - p), generator=generator)
    return ((weight_mask * weight) @ x.unsqueeze(-1)).squeeze(-1).add(bias_mask * bias).div(1 - p)


def correct_with_a_loop(x, weight, bias, p, generator):
    rows = []
    for row in x:
        weight_mask = (torch.rand(weight.shape, generator=generator) >= p).float()
        bias_mask = (torch.rand(bias.shape, generator=generator) >= p).float()
        rows.append(((weight_mask * weight) @ row + bias_mask * bias) / (1 - p))
    return torch.stack(rows)


def mask_shared_across_the_batch(x, weight, bias, p, generator):
    weight_mask = torch.rand(weight.shape, generator=generator) >= p
    bias_mask = torch.rand(bias.shape, generator=generator) >= p
    return (x @ (weight_mask * weight).T + bias_mask * bias) / (1 - p)


def mask_on_outputs(x, weight, bias, p, generator):
    mask = torch.rand(x.shape[0], weight.shape[0], generator=generator) >= p
    return mask * (x @ weight.T + bias) / (1 - p)


def mask_on_inputs(x, weight, bias, p, generator):
    mask = torch.rand(x.shape, generator=generator) >= p
    bias_mask = torch.rand(x.shape[0], *bias.shape, generator=generator) >= p
    return ((mask * x) @ weight.T + bias_mask * bias) / (1 - p)


def bias_not_masked(x, weight, bias, p, generator):
    weight_mask = torch.rand(x.shape[0], *weight.shape, generator=generator) >= p
    return torch.einsum("boi,bi->bo", weight_mask * weight, x) / (1 - p) + bias


def bias_rescaled_but_not_masked(x, weight, bias, p, generator):
    weight_mask = torch.rand(x.shape[0], *weight.shape, generator=generator) >= p
    return (torch.einsum("boi,bi->bo", weight_mask * weight, x) + bias) / (1 - p)


def no_rescale(x, weight, bias, p, generator):
    return correct(x, weight, bias, p, generator) * (1 - p)


def multiplied_by_keep(x, weight, bias, p, generator):
    return correct(x, weight, bias, p, generator) * (1 - p) ** 2


def divided_by_p(x, weight, bias, p, generator):
    return correct(x, weight, bias, p, generator) * ((1 - p) / p if p > 0 else 1.0)


def kept_with_probability_p(x, weight, bias, p, generator):
    weight_mask = torch.rand(x.shape[0], *weight.shape, generator=generator) < p
    bias_mask = torch.rand(x.shape[0], *bias.shape, generator=generator) < p
    return (torch.einsum("boi,bi->bo", weight_mask * weight, x) + bias_mask * bias) / (1 - p)


def ignores_the_generator(x, weight, bias, p, generator):
    return correct(x, weight, bias, p, None)


@pytest.mark.parametrize("fn", [correct, correct_with_bernoulli, correct_with_a_loop])
def test_correct_implementations_pass(fn, capsys):
    result = check_dropconnect_forward(fn)
    assert result.passed
    assert "6 of 6 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "buggy, hint",
    [
        (mask_shared_across_the_batch, HINT_SHARED),
        (mask_on_outputs, HINT_OUTPUTS),
        (mask_on_inputs, HINT_INPUTS),
        (bias_not_masked, HINT_BIAS),
        (bias_rescaled_but_not_masked, HINT_BIAS),
        (no_rescale, HINT_NO_RESCALE),
        (multiplied_by_keep, HINT_MULTIPLY),
        (divided_by_p, HINT_DIVIDE_P),
        (kept_with_probability_p, HINT_KEEP_P),
        (ignores_the_generator, HINT_GENERATOR),
    ],
)
def test_each_classic_bug_fails_with_its_hint(buggy, hint, capsys):
    result = check_dropconnect_forward(buggy)
    assert not result.passed
    feedback = [case.feedback for case in result.cases if not case.passed]
    assert hint in feedback, feedback
    assert hint in capsys.readouterr().out


def test_the_stub_is_reported_as_not_implemented(capsys):
    def stub(x, weight, bias, p, generator):
        raise NotImplementedError

    result = check_dropconnect_forward(stub)
    assert not result.passed and not result.implemented
    assert "not implemented yet" in capsys.readouterr().out


def test_wrong_shape_and_missing_return_are_explained():
    def transposed(x, weight, bias, p, generator):
        return correct(x, weight, bias, p, generator).T

    def no_return(x, weight, bias, p, generator):
        correct(x, weight, bias, p, generator)

    shape_feedback = [case.feedback for case in check_dropconnect_forward(transposed, verbose=False).cases]
    assert any("expected (batch, out)" in text for text in shape_feedback)
    none_feedback = [case.feedback for case in check_dropconnect_forward(no_return, verbose=False).cases]
    assert any("did you forget a `return`" in text for text in none_feedback)


def test_the_checker_is_deterministic_for_a_given_implementation():
    first = check_dropconnect_forward(bias_not_masked, verbose=False)
    second = check_dropconnect_forward(bias_not_masked, verbose=False)
    assert first.cases == second.cases
