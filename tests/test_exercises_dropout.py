"""The dropout checkers pass correct implementations and name each classic bug."""

import math
import re

import numpy as np
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
    assert "10 of 10 checks passed. Well done!" in capsys.readouterr().out


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


# ---------------------------------------------------------------------------------------------
# Wrong implementations that the first catalogue missed: self-seeded masks, cut gradients,
# in-place scaling at inference, swapped keep and drop probabilities.


def self_seeded_generator(x, p, training):
    if not training:
        return x
    if p == 1:
        return torch.zeros_like(x)
    generator = torch.Generator().manual_seed(0)  # the same mask on every call
    return (torch.rand(x.shape, generator=generator) >= p).float() * x / (1 - p)


def global_reseed(x, p, training):
    torch.manual_seed(42)
    return correct_upscale(x, p, training)


def unseeded_local_generator(x, p, training):
    if not training:
        return x
    if p == 1:
        return torch.zeros_like(x)
    return (torch.rand(x.shape, generator=torch.Generator()) >= p).float() * x / (1 - p)


def detached(x, p, training):
    return correct_upscale(x.detach(), p, training)


def under_no_grad(x, p, training):
    with torch.no_grad():
        return correct_upscale(x, p, training)


def through_numpy(x, p, training):  # NumPy's masks are fresh, but the graph ends at .numpy()
    if not training:
        return x
    if p == 1:
        return torch.zeros_like(x)
    values = x.detach().numpy()
    return torch.from_numpy(values * (np.random.rand(*values.shape) >= p) / (1 - p)).to(x.dtype)


def swapped_keep_and_drop(x, p, training):  # keeps with probability p, rescales by 1 - p
    if not training:
        return x
    if p == 1:
        return torch.zeros_like(x)
    return (torch.rand(x.shape) < p).float() * x / (1 - p)


def downscale_in_place_at_inference(x, p, training):
    if not training:
        return x.mul_(1 - p)
    return (torch.rand(x.shape) > p).float() * x


def downscale_self_seeded(x, p, training):
    if not training:
        return (1 - p) * x
    return (torch.rand(x.shape, generator=torch.Generator().manual_seed(1)) > p).float() * x


def downscale_detached(x, p, training):
    return correct_downscale(x.detach(), p, training)


def downscale_swapped(x, p, training):
    if not training:
        return (1 - p) * x
    return (torch.rand(x.shape) < p).float() * x


@pytest.mark.parametrize("fn, case_name, hint", [
    (self_seeded_generator, "every call draws a fresh mask", "seeds its own random numbers"),
    (global_reseed, "every call draws a fresh mask", "same mask over 1,000 units"),
    (unseeded_local_generator, "every call draws a fresh mask", "starts from the same seed on every call"),
    (detached, "the gradient reaches x", "the gradient to x is cut"),
    (under_no_grad, "the gradient reaches x", "the gradient to x is cut"),
    (through_numpy, "the gradient reaches x", "the gradient to x is cut"),
    (swapped_keep_and_drop, "keeps a fraction 1 - p of the units (p = 0.2)", "p is the DROP probability"),
    (swapped_keep_and_drop, "E[training output]", "p is the DROP probability"),
])
def test_the_strengthened_checks_reject_each_bug(fn, case_name, hint):
    result = check_dropout(fn, verbose=False)
    assert not result.passed
    case = feedback(result, case_name)
    assert not case.passed and hint in case.feedback, case.feedback


@pytest.mark.parametrize("fn, case_name, hint", [
    (downscale_in_place_at_inference, "x is left unchanged", "changed its input x in place at inference"),
    (downscale_self_seeded, "every call draws a fresh mask", "seeds its own random numbers"),
    (downscale_detached, "the gradient reaches x", "the gradient to x is cut"),
    (downscale_swapped, "keeps a fraction 1 - p of the units (p = 0.2)", "p is the DROP probability"),
    (downscale_swapped, "E[training output]", "p is the DROP probability"),
    (correct_upscale, "the gradient reaches x", "should be 1 on the kept units"),
])
def test_the_strengthened_downscale_checks_reject_each_bug(fn, case_name, hint):
    result = check_downscale_dropout(fn, verbose=False)
    assert not result.passed
    case = feedback(result, case_name)
    assert not case.passed and hint in case.feedback, case.feedback


def test_the_gradient_is_checked_value_by_value():
    def doubled_gradient(x, p, training):
        out = correct_upscale(x, p, training)
        return out + (out - out.detach())  # the same values, twice the gradient
    case = feedback(check_dropout(doubled_gradient, verbose=False), "the gradient reaches x")
    assert "should be 1.667 on the kept units" in case.feedback


def test_correct_solutions_pass_every_new_case():
    assert check_dropout(correct_upscale, verbose=False).passed
    assert check_downscale_dropout(correct_downscale, verbose=False).passed
    assert len(check_dropout(correct_upscale, verbose=False).cases) == 10


@pytest.mark.parametrize("checker", [check_dropout, check_downscale_dropout])
def test_not_attempted_and_hints(checker, capsys):
    assert not checker(None).implemented
    assert "not attempted yet" in capsys.readouterr().out
    assert len(checker.exercise.hints) >= 2


# ---------------------------------------------------------------------------------------------
# check_mask_moments (derive): mean and variance of m / (1 - p)

from torch import nn  # noqa: E402

from attnreg.exercises import check_dropout_mlp, check_logit_variance, check_mask_moments, check_variance_ratio  # noqa: E402


@pytest.mark.parametrize("fn, hint", [
    (lambda p: (1 - p, p / (1 - p)), "that is the mean of the 0/1 mask m itself"),
    (lambda p: (1 / (1 - p), p / (1 - p)), "weigh it by that probability"),
    (lambda p: (1.0, p * (1 - p)), "1 / (1 - p)^2 (Var[cX] = c^2 Var[X])"),
    (lambda p: (1.0, p), "you divided the variance p (1 - p) of m by 1 - p once"),
    (lambda p: (1.0, 1 / (1 - p)), "that is E[(m / (1 - p))^2], the second moment"),
    (lambda p: (1.0, (1 - p) / p), "you swapped the keep and drop probabilities"),
    (lambda p: (1.0, math.sqrt(p / (1 - p))), "that is the standard deviation"),
    (lambda p: (p / (1 - p), p / (1 - p)), "you used p as the keep probability"),
    (lambda p: (1.0, 2 * p / (1 - p)), "is not right: it is too large"),
    (lambda p: (1.0, p / (1 - p) / 3), "is not right: it is too small"),
    (lambda p: p / (1 - p), "must return two numbers, (mean, variance), got float"),
    (lambda p: (1.0, None), "is None"),
])
def test_mask_moments_rejects_each_slip_with_its_message(fn, hint):
    result = check_mask_moments(fn, verbose=False)
    assert not result.passed
    assert any(hint in case.feedback for case in result.cases), [c.feedback for c in result.cases]


def test_mask_moments_never_prints_the_expected_values(capsys):
    check_mask_moments(lambda p: (1.0, 0.123))
    out = capsys.readouterr().out
    assert "0.25" not in out and "too" in out  # p / (1 - p) = 0.25 at p = 0.2 stays hidden


def test_mask_moments_correct_stub_none_and_hints(capsys):
    assert check_mask_moments(lambda p: (1.0, p / (1 - p)), verbose=False).passed
    assert check_mask_moments(lambda p: [torch.tensor(1.0), torch.tensor(p / (1 - p))], verbose=False).passed
    assert not check_mask_moments(stub_1, verbose=False).implemented
    assert not check_mask_moments(None).implemented
    assert "not attempted yet" in capsys.readouterr().out
    assert len(check_mask_moments.exercise.hints) >= 2


def stub_1(p):
    raise NotImplementedError


# ---------------------------------------------------------------------------------------------
# check_variance_ratio (derive): Var_infer / Var_train in downscale_in_infer


def right_ratio(p, c, v):
    return (1 - p) * v / (v + p * c * c)


@pytest.mark.parametrize("fn, hint", [
    (lambda p, c, v: 1 - p, "you left out the mean c"),
    (lambda p, c, v: 1 / right_ratio(p, c, v), "that is Var_train / Var_infer"),
    (lambda p, c, v: (1 - p) * v / (v + c * c), "you took E[a^2] for the training variance"),
    (lambda p, c, v: v / ((1 - p) * (v + p * c * c)), "its variance is (1 - p)^2 v, not v"),
    (lambda p, c, v: p * v / (v + (1 - p) * c * c), "you swapped the keep and drop probabilities"),
    (lambda p, c, v: math.sqrt(right_ratio(p, c, v)), "a ratio of standard deviations"),
    (lambda p, c, v: 1.1 * right_ratio(p, c, v), "is not right: it is too large"),
    (lambda p, c, v: 0.5 * right_ratio(p, c, v), "is not right: it is too small"),
    (lambda p, c, v: None, "is None"),
    (lambda p, c, v: "0.5", "must be a number, got str"),
])
def test_variance_ratio_rejects_each_slip_with_its_message(fn, hint):
    result = check_variance_ratio(fn, verbose=False)
    assert not result.passed
    assert any(hint in case.feedback for case in result.cases), [c.feedback for c in result.cases]


def test_variance_ratio_messages_only_for_their_misconception():
    # at c = 0 leaving out the mean is harmless: that case passes and says nothing about c
    result = check_variance_ratio(lambda p, c, v: 1 - p, verbose=False)
    zero_mean = feedback(result, "p = 0.3, input mean 0")
    assert zero_mean.passed


def test_variance_ratio_correct_stub_none_and_hints(capsys):
    assert check_variance_ratio(right_ratio, verbose=False).passed
    assert not check_variance_ratio(lambda p, c, v: (_ for _ in ()).throw(NotImplementedError), verbose=False).implemented
    assert not check_variance_ratio(...).implemented
    assert "not attempted yet" in capsys.readouterr().out
    check_variance_ratio(lambda p, c, v: 0.0)
    assert "0.333" not in capsys.readouterr().out  # the value at p = 0.5, c = v = 1 is never shown
    assert len(check_variance_ratio.exercise.hints) >= 2


# ---------------------------------------------------------------------------------------------
# check_logit_variance (predict)


@pytest.mark.parametrize("prediction, var_train, var_eval, hint", [
    ("the same", 2.0, 1.5, "the mean is the same (inverted dropout keeps it)"),
    ("larger", 2.0, 1.5, "noise only adds variance"),
    ("bigger", 2.0, 1.5, "prediction must be one of 'smaller', 'the same', 'larger', got 'bigger'"),
    (0.75, 2.0, 1.5, "prediction must be one of"),
    ("smaller", None, 1.5, "var_train must be the variance the experiment cell measured"),
    ("smaller", 2.0, -1.0, "var_eval must be the variance the experiment cell measured"),
    ("smaller", 2.0, 2.5, "does not behave as the chapter's derivation says"),
    ("smaller", 2.0, 2.01, "does not behave as the chapter's derivation says"),
])
def test_logit_variance_rejects_each_wrong_prediction(prediction, var_train, var_eval, hint):
    result = check_logit_variance(prediction, var_train, var_eval, verbose=False)
    assert not result.passed
    assert hint in result.cases[0].feedback, result.cases[0].feedback


def test_logit_variance_verdict_comes_from_the_measurement(capsys):
    assert check_logit_variance("smaller", 2.0, 1.5, verbose=False).passed
    assert check_logit_variance(" Smaller ", 2.0, 1.5, verbose=False).passed
    result = check_logit_variance("the same", 2.0, 1.5, verbose=False)
    assert "Var_eval / Var_train = 0.750" in result.cases[0].feedback
    assert not check_logit_variance(None, 2.0, 1.5).implemented
    assert "not attempted yet" in capsys.readouterr().out
    assert len(check_logit_variance.exercise.hints) >= 2


# ---------------------------------------------------------------------------------------------
# check_dropout_mlp (assemble): the learner's dropout layer inside an MLP, trained against its twin


def layer(forward):
    class Layer(nn.Module):
        def __init__(self, p):
            super().__init__()
            self.p = p

        def forward(self, x):
            return forward(self, x)
    return Layer


def builder(layer_type, *, on_input=False, on_output=False, relu=True, hidden_layers=None):
    def build(sizes, p):
        layers = [layer_type(p)] if on_input else []
        pairs = list(zip(sizes[:-2], sizes[1:-1]))[:hidden_layers]
        for n_in, n_out in pairs:
            layers += [nn.Linear(n_in, n_out)] + ([nn.ReLU()] if relu else []) + [layer_type(p)]
        layers.append(nn.Linear(pairs[-1][1], sizes[-1]))
        return nn.Sequential(*layers, *([layer_type(p)] if on_output else []))
    return build


def good_forward(self, x):
    return correct_upscale(x, self.p, self.training)


GOOD = builder(layer(good_forward))


@pytest.mark.parametrize("build, case_name, hint", [
    (builder(layer(lambda self, x: correct_upscale(x, self.p, True))), "eval mode", "still draws masks at inference"),
    (builder(layer(lambda self, x: correct_downscale(x, self.p, self.training))), "eval mode",
     "that is the downscale_in_infer convention"),
    (builder(layer(lambda self, x: missing_rescale(x, self.p, self.training))), "training drops",
     "the kept units are not divided by 1 - p"),
    (builder(layer(lambda self, x: self_seeded_generator(x, self.p, self.training))), "training drops",
     "seeds its own random numbers"),
    (builder(layer(lambda self, x: x * (torch.rand(x.shape[1:]) >= self.p) / (1 - self.p) if self.training else x)),
     "training drops", "every example of the batch gets the same mask"),
    (builder(layer(lambda self, x: swapped_keep_and_drop(x, self.p, self.training))), "training drops",
     "p is the DROP probability"),
    (builder(layer(lambda self, x: x * (torch.rand(x.shape) >= self.p) / self.p if self.training else x)),
     "training drops", "divide by 1 - p, not by p"),
    (builder(layer(lambda self, x: x)), "training drops", "no unit of the last hidden layer is dropped"),
    (builder(layer(lambda self, x: detached(x, self.p, self.training))), "the gradient reaches",
     "your dropout layer cuts the graph"),
    (builder(layer(lambda self, x: under_no_grad(x, self.p, self.training))), "the gradient reaches",
     "your dropout layer cuts the graph"),
    (builder(layer(good_forward), on_output=True), "no dropout on the input or the output", "a dropout layer on the output"),
    (builder(layer(good_forward), on_input=True), "no dropout on the input or the output", "no dropout on the inputs"),
    (builder(layer(good_forward), hidden_layers=1), "builds an MLP", "has 2 nn.Linear layers, expected len(sizes) - 1 = 3"),
    (lambda sizes, p: None, "builds an MLP", "returned None"),
    (lambda sizes, p: [nn.Linear(sizes[0], sizes[-1])], "builds an MLP", "must return a torch.nn.Module, got list"),
])
def test_dropout_mlp_rejects_each_wrong_layer_with_its_message(build, case_name, hint):
    result = check_dropout_mlp(build, verbose=False)
    assert not result.passed
    case = feedback(result, case_name)
    assert not case.passed and hint in case.feedback, case.feedback
    assert "not run: fix the failures above first" in result.cases[-1].feedback  # no training when a layer is wrong


def test_dropout_mlp_trains_the_twins_and_rejects_a_model_that_does_not_beat_its_twin():
    # correct at the p the layer checks use, but no dropout at p >= 0.5: the trained "dropout" model is its twin
    lazy = builder(layer(lambda self, x: correct_upscale(x, self.p if self.p < 0.5 else 0.0, self.training)))
    result = check_dropout_mlp(lazy, verbose=False)
    assert [case.passed for case in result.cases] == [True] * 5 + [False]
    assert "did not beat its no-dropout twin" in result.cases[-1].feedback


def test_dropout_mlp_passes_a_correct_model_and_leaves_the_global_generator_alone(capsys):
    torch.manual_seed(7)
    state = torch.get_rng_state()
    assert check_dropout_mlp(GOOD).passed
    assert torch.equal(torch.get_rng_state(), state)
    out = capsys.readouterr().out
    assert "6 of 6 checks passed. Well done!" in out and "paired gains over 3 seeds" in out


def test_dropout_mlp_stub_none_and_hints(capsys):
    def stub_mlp(sizes, p):
        raise NotImplementedError
    assert not check_dropout_mlp(stub_mlp).implemented
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_dropout_mlp(None).implemented
    assert "not attempted yet" in capsys.readouterr().out
    assert len(check_dropout_mlp.exercise.hints) >= 2
