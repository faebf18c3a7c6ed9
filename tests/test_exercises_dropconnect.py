"""The DropConnect checker passes correct implementations and names each classic bug."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnreg.exercises import (
    check_dropconnect_forward,
    check_dropconnect_layer,
    check_dropconnect_variance,
    check_relu_gaussian_average,
    check_thinned_network_prediction,
)
from attnreg.exercises.dropconnect import (
    HINT_BIAS,
    HINT_DIVIDE_P,
    HINT_DTYPE,
    HINT_EVAL_DOWNSCALED,
    HINT_EVAL_RANDOM,
    HINT_GENERATOR,
    HINT_GRAD_MASK,
    HINT_GRADIENT,
    HINT_IN_PLACE,
    HINT_INPUTS,
    HINT_KEEP_P,
    HINT_MULTIPLY,
    HINT_NO_RESCALE,
    HINT_NOT_A_MASK,
    HINT_OUTPUTS,
    HINT_OWN_GENERATOR,
    HINT_PARAMETER,
    HINT_SAME_MASKS,
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


def seeds_its_own_generator(x, weight, bias, p, generator):
    return correct(x, weight, bias, p, torch.Generator().manual_seed(0))


def gaussian_with_matching_moments(x, weight, bias, p, generator):
    mean = x @ weight.T + bias
    std = (p / (1 - p) * (x.square() @ weight.square().T + bias.square())).sqrt()
    return mean + std * torch.randn(mean.shape, generator=generator, dtype=mean.dtype)


def masks_the_weight_in_place(x, weight, bias, p, generator):
    keep = 1 - p
    weight_mask = torch.rand(x.shape[0], *weight.shape, generator=generator) < keep
    bias_mask = torch.rand(x.shape[0], *bias.shape, generator=generator) < keep
    weight /= keep  # rescales the caller's weight
    return torch.einsum("boi,bi->bo", weight_mask * weight, x) + bias_mask * bias / keep


def detached(x, weight, bias, p, generator):
    with torch.no_grad():
        return correct(x, weight, bias, p, generator)


def casts_to_float32(x, weight, bias, p, generator):
    return correct(x.float(), weight.float(), bias.float(), p, generator)


@pytest.mark.parametrize("fn", [correct, correct_with_bernoulli, correct_with_a_loop])
def test_correct_implementations_pass(fn, capsys):
    result = check_dropconnect_forward(fn)
    assert result.passed
    assert "10 of 10 checks passed" in capsys.readouterr().out


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
        (seeds_its_own_generator, HINT_OWN_GENERATOR),
        (gaussian_with_matching_moments, HINT_NOT_A_MASK),
        (masks_the_weight_in_place, HINT_IN_PLACE.format(name="weight")),
        (detached, HINT_GRADIENT.format(name="x, the weight or the bias")),
        (casts_to_float32, HINT_DTYPE.format(dtype=torch.float32)),
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


def test_gaussian_noise_passes_the_moment_cases_and_fails_only_on_the_mask_values():
    result = check_dropconnect_forward(gaussian_with_matching_moments, verbose=False)
    assert [case.name for case in result.cases if not case.passed] == ["every output is one that a 0/1 mask gives"]


def test_the_not_a_mask_message_is_only_for_continuous_values():
    for buggy in (no_rescale, multiplied_by_keep, divided_by_p, mask_on_outputs, mask_on_inputs, kept_with_probability_p):
        feedback = [case.feedback for case in check_dropconnect_forward(buggy, verbose=False).cases]
        assert HINT_NOT_A_MASK not in feedback, buggy.__name__


# --------------------------------------------------------------------------------------------
# Exercise 1: the variance of a pre-activation
# --------------------------------------------------------------------------------------------

X, W, B1, B3, P = (2.0, -1.0, 0.5), (0.5, 1.0, -2.0), 1.0, 1.5, 0.3
SQUARES = sum(w * w * x * x for w, x in zip(W, X))


def right_variance():
    return P / (1 - P) * (SQUARES + B1 ** 2)


@pytest.mark.parametrize(
    "answer, message",
    [
        (P * (1 - P) * (SQUARES + B1 ** 2), "without the rescaling by 1 / (1 - p)"),
        (P * (SQUARES + B1 ** 2), "divided the variance by 1 - p once"),
        ((1 - P) / P * (SQUARES + B1 ** 2), "you used (1 - p) / p"),
        (P / (1 - P) * SQUARES, "the bias is masked too"),
        (P / (1 - P) * (sum(w * w * abs(x) for w, x in zip(W, X)) + B1 ** 2), "square x_j too"),
        (math.sqrt(right_variance()), "that is the standard deviation"),
        (2.5, "too large"),
        (1.0, "too small"),
    ],
)
def test_variance_misconceptions_are_named(answer, message):
    result = check_dropconnect_variance(answer, verbose=False)
    assert result.implemented and not result.passed
    assert message in result.cases[0].feedback
    assert f"{right_variance():.4g}"[:5] not in result.cases[0].feedback  # the answer is never printed


def test_variance_row_mask_bug_is_named():
    # w . x + b = 0 for this unit, so dropout on the output has variance 0
    result = check_dropconnect_variance(0.0, verbose=False)
    assert "dropout on the unit's output" in result.cases[0].feedback


def test_variance_right_answer_none_and_ellipsis(capsys):
    assert check_dropconnect_variance(right_variance()).passed
    assert check_dropconnect_variance(torch.tensor(right_variance())).passed
    for empty in (None, ...):
        result = check_dropconnect_variance(empty)
        assert not result.implemented
    assert "not attempted yet" in capsys.readouterr().out
    assert "expected a finite number" in check_dropconnect_variance(float("nan"), verbose=False).cases[0].feedback
    assert "must be a number" in check_dropconnect_variance("1.7", verbose=False).cases[0].feedback


# --------------------------------------------------------------------------------------------
# Exercise 3: the Gaussian average of a ReLU unit
# --------------------------------------------------------------------------------------------

def phi(z):
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


def Phi(z):
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def relu_average(mean, variance):
    s = math.sqrt(variance)
    return mean * Phi(mean / s) + s * phi(mean / s)


MEAN3 = sum(w * x for w, x in zip(W, X)) + B3
VAR3 = P / (1 - P) * (SQUARES + B3 ** 2)


@pytest.mark.parametrize(
    "answer, message",
    [
        (max(0.0, MEAN3), "the mean pass"),
        (MEAN3 * Phi(MEAN3 / VAR3) + VAR3 * phi(MEAN3 / VAR3), "you used the variance where"),
        (relu_average(MEAN3, P * (1 - P) * (SQUARES + B3 ** 2)), "lacks the rescaling"),
        (relu_average(MEAN3, P / (1 - P) * SQUARES), "b^2 belongs in the variance"),
        (relu_average(MEAN3, (1 - P) / P * (SQUARES + B3 ** 2)), "you used (1 - p) / p"),
        (MEAN3 * Phi(MEAN3 / math.sqrt(VAR3)) + math.sqrt(VAR3), "not sigma alone"),
        (5.0, "too large"),
        (0.1, "too small"),
    ],
)
def test_relu_average_misconceptions_are_named(answer, message):
    result = check_relu_gaussian_average(answer, verbose=False)
    assert result.implemented and not result.passed
    assert message in result.cases[0].feedback


def test_relu_average_right_answer_passes_and_stub_is_not_attempted(capsys):
    assert check_relu_gaussian_average(relu_average(MEAN3, VAR3)).passed
    assert not check_relu_gaussian_average(None).implemented
    assert "not attempted yet" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Exercise 4: one thinned network against the mean pass
# --------------------------------------------------------------------------------------------

MEAN_PASS, ONE_MASK = [9.2, 8.8, 9.0], [10.3, 9.7, 10.1]


def test_prediction_matching_the_measurement_passes_and_explains(capsys):
    result = check_thinned_network_prediction("higher", MEAN_PASS, ONE_MASK)
    assert result.passed
    out = capsys.readouterr().out
    assert "a mean difference of +1.03 points (higher)" in out and "decision boundary" in out


@pytest.mark.parametrize("wrong", ["lower", "about the same", " About the same "])
def test_wrong_predictions_are_told_the_measurement(wrong):
    result = check_thinned_network_prediction(wrong, MEAN_PASS, ONE_MASK, verbose=False)
    assert result.implemented and not result.passed
    assert "(higher)" in result.cases[0].feedback


def test_the_verdict_follows_the_measurement_not_a_fixed_answer():
    assert check_thinned_network_prediction("about the same", MEAN_PASS, [9.3, 8.7, 9.1], verbose=False).passed
    assert check_thinned_network_prediction("lower", MEAN_PASS, [8.2, 8.0, 8.4], verbose=False).passed


def test_prediction_not_attempted_or_not_a_choice(capsys):
    assert not check_thinned_network_prediction(None, MEAN_PASS, ONE_MASK).implemented
    assert "not attempted yet" in capsys.readouterr().out
    for bad in ("worse", 1.0):
        feedback = check_thinned_network_prediction(bad, MEAN_PASS, ONE_MASK, verbose=False).cases[0].feedback
        assert "must be one of 'lower', 'about the same', 'higher'" in feedback
    with pytest.raises(ValueError, match="one error per network"):
        check_thinned_network_prediction("higher", MEAN_PASS, ONE_MASK[:2])


# --------------------------------------------------------------------------------------------
# Exercise 5: a DropConnect layer trained on MNIST
# --------------------------------------------------------------------------------------------

class GoodLayer(nn.Module):
    def __init__(self, in_features, out_features, p):
        super().__init__()
        self.p = p
        bound = 1 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(out_features, in_features).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(out_features).uniform_(-bound, bound))

    def masks(self, batch):
        keep = 1 - self.p
        return (torch.rand(batch, *self.weight.shape) < keep), (torch.rand(batch, *self.bias.shape) < keep)

    def forward(self, x):
        if not self.training:
            return F.linear(x, self.weight, self.bias)
        weight_mask, bias_mask = self.masks(x.shape[0])
        return (torch.einsum("boi,bi->bo", weight_mask * self.weight, x) + bias_mask * self.bias) / (1 - self.p)


class NotParameters(GoodLayer):
    def __init__(self, in_features, out_features, p):
        super().__init__(in_features, out_features, p)
        weight, bias = self.weight.detach().clone(), self.bias.detach().clone()
        del self.weight, self.bias
        self.weight, self.bias = weight.requires_grad_(), bias.requires_grad_()


class TransposedWeight(GoodLayer):
    def __init__(self, in_features, out_features, p):
        super().__init__(in_features, out_features, p)
        self.weight = nn.Parameter(self.weight.detach().T.clone())


class MaskedInEvaluation(GoodLayer):
    def forward(self, x):
        self.train()
        return super().forward(x)


class DownscaledInEvaluation(GoodLayer):
    def forward(self, x):
        out = super().forward(x)
        return out if self.training else (1 - self.p) * out


class OneMaskPerBatch(GoodLayer):
    def masks(self, batch):
        weight_mask, bias_mask = super().masks(1)
        return weight_mask.expand(batch, -1, -1), bias_mask.expand(batch, -1)


class OwnGenerator(GoodLayer):
    def masks(self, batch):
        generator, keep = torch.Generator().manual_seed(0), 1 - self.p
        return (torch.rand(batch, *self.weight.shape, generator=generator) < keep,
                torch.rand(batch, *self.bias.shape, generator=generator) < keep)


class GaussianNoise(GoodLayer):
    def forward(self, x):
        mean = F.linear(x, self.weight, self.bias)
        if not self.training:
            return mean
        std = (self.p / (1 - self.p) * F.linear(x.square(), self.weight.square(), self.bias.square())).sqrt()
        return mean + std * torch.randn_like(mean)


class NoRescale(GoodLayer):
    def forward(self, x):
        out = super().forward(x)
        return out * (1 - self.p) if self.training else out


class Detached(GoodLayer):
    def forward(self, x):
        return super().forward(x).detach()


class BadInitialisation(GoodLayer):
    def __init__(self, in_features, out_features, p):
        super().__init__(in_features, out_features, p)
        with torch.no_grad():
            self.weight.normal_(0, 3.0)


def test_a_correct_layer_passes_and_trains(capsys):
    result = check_dropconnect_layer(GoodLayer)
    assert result.passed, result.cases
    out = capsys.readouterr().out
    assert "6 of 6 checks passed" in out and "Your DropConnect network's test accuracy: 0.8" in out


def test_the_library_layer_passes():
    from attnreg.dropconnect import DropConnectLinear
    assert check_dropconnect_layer(lambda i, o, p: DropConnectLinear(i, o, p=p), verbose=False).passed


@pytest.mark.parametrize(
    "buggy, message",
    [
        (NotParameters, HINT_PARAMETER.format(name="self.weight")),
        (TransposedWeight, "expected (4, 6) as in nn.Linear"),
        (MaskedInEvaluation, HINT_EVAL_RANDOM),
        (DownscaledInEvaluation, HINT_EVAL_DOWNSCALED),
        (OneMaskPerBatch, HINT_SHARED),
        (OwnGenerator, HINT_SAME_MASKS),
        (GaussianNoise, HINT_GRAD_MASK),
        (NoRescale, HINT_NO_RESCALE),
        (Detached, HINT_GRADIENT.format(name="the layer's parameters")),
        (BadInitialisation, "check the initialisation"),
    ],
)
def test_each_wrong_layer_is_rejected_with_its_message(buggy, message):
    result = check_dropconnect_layer(buggy, verbose=False)
    assert result.implemented and not result.passed
    feedback = [case.feedback for case in result.cases if not case.passed]
    assert any(message in text for text in feedback), feedback


def test_the_layer_stub_is_not_implemented(capsys):
    class Stub(nn.Module):
        def __init__(self, in_features, out_features, p):
            raise NotImplementedError

    result = check_dropconnect_layer(Stub)
    assert not result.implemented and "not implemented yet" in capsys.readouterr().out
    assert not check_dropconnect_layer(None, verbose=False).implemented


def test_hints_exist_for_every_chapter_07_checker(capsys):
    for check in (check_dropconnect_variance, check_dropconnect_forward, check_relu_gaussian_average,
                  check_thinned_network_prediction, check_dropconnect_layer):
        assert len(check.exercise.hints) >= 2
        check.hint()
        assert "Hint 1 of" in capsys.readouterr().out
