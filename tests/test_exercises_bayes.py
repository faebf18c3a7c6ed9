import re

import numpy as np
import pytest
import torch

from attnreg.exercises import (
    check_laplace_alpha,
    check_log_posterior,
    check_posterior_width,
    check_prior_lambda,
    check_ridge_from_scratch,
)


def stub(*args):
    raise NotImplementedError


def failed(result):
    return [case for case in result.cases if not case.passed]


@pytest.mark.parametrize("checker, correct", [
    (check_laplace_alpha, lambda sigma, kappa, n: sigma**2 / (n * kappa)),
    (check_prior_lambda, lambda sigma, tau: sigma**2 / tau**2),
])
def test_derive_correct_stub_none_and_hints(checker, correct, capsys):
    assert checker(correct).passed
    assert "checks passed. Well done!" in capsys.readouterr().out
    result = checker(stub)
    assert not result.passed and not result.implemented
    assert "not implemented yet" in capsys.readouterr().out
    for unanswered in (None, ...):
        result = checker(unanswered)
        assert not result.passed and not result.implemented
        assert "not attempted yet" in capsys.readouterr().out
    assert len(checker.exercise.hints) >= 2


def test_numpy_float_is_accepted():
    assert check_prior_lambda(lambda sigma, tau: np.float64(sigma) ** 2 / np.float64(tau) ** 2, verbose=False).passed
    assert check_laplace_alpha(lambda s, k, n: np.float64(s) ** 2 / (n * k), verbose=False).passed


# ------------------------------------------------------------------ exercise 1: Lasso's alpha for a Laplace prior

@pytest.mark.parametrize("buggy, hint", [
    (lambda s, k, n: 2 * s**2 / k, "that is the chapter's lambda = 2 sigma^2 / kappa"),
    (lambda s, k, n: 2 * s**2 / (n * k), "you divided lambda by n but not by 2"),
    (lambda s, k, n: s**2 / (2 * n * k), "you halved once too often"),
    (lambda s, k, n: s / (n * k), "sigma enters squared"),
    (lambda s, k, n: s**2 * k / n, "the scale kappa divides"),
    (lambda s, k, n: 1 / (n * k), "you dropped the noise variance"),
    (lambda s, k, n: s**2 / (n * k**2), "kappa is not squared"),
])
def test_laplace_alpha_bugs_get_their_hint(buggy, hint):
    result = check_laplace_alpha(buggy, verbose=False)
    assert not result.passed
    # The first three points separate every bug: each is named there.
    assert all(not case.passed and case.feedback.startswith(hint) for case in result.cases[:3]), result.cases


@pytest.mark.parametrize("wrong", [
    lambda s, k, n: s + k + n,
    lambda s, k, n: s**2 / (n * k) * 1.01,
    lambda s, k, n: 2 * s**2 / k if n < 50 else s**2 / (n * k),  # a bug's value at some points only
])
def test_laplace_alpha_other_values_only_say_too_large_or_small(wrong):
    result = check_laplace_alpha(wrong, verbose=False)
    assert not result.passed
    for case in failed(result):
        assert re.fullmatch(r"lasso_alpha\([^)]*\) = \S+ is not right: it is too (large|small)\. .*", case.feedback)


def test_laplace_alpha_never_prints_the_right_value():
    for wrong in (lambda s, k, n: s + k + n, lambda s, k, n: 2 * s**2 / k):
        for case in failed(check_laplace_alpha(wrong, verbose=False)):
            assert "0.45" not in case.feedback and "expected" not in case.feedback  # 9 / (20 * 0.5) = 0.9


# ------------------------------------------------------------------ exercise 2: the ridge strength of a Gaussian prior

@pytest.mark.parametrize("buggy, hint", [
    (lambda sigma, tau: tau**2 / sigma**2, "you inverted the ratio: lambda is the noise variance"),
    (lambda sigma, tau: sigma / tau, "you forgot the squares"),
    (lambda sigma, tau: tau / sigma, "you inverted the ratio and forgot the squares"),
    (lambda sigma, tau: 2 * sigma**2 / tau**2, "a factor 2 too many"),
    (lambda sigma, tau: sigma**2 / (2 * tau**2), "a factor 2 too few"),
    (lambda sigma, tau: 2 * sigma**2 / tau, "that is the shape of the Laplace prior's strength"),
    (lambda sigma, tau: 1 / tau**2, "you dropped the noise variance"),
])
def test_prior_lambda_bugs_get_their_hint(buggy, hint):
    result = check_prior_lambda(buggy, verbose=False)
    assert not result.passed
    assert len(failed(result)) >= 3
    for case in failed(result):
        if case.name != "the result is a Python number":
            assert case.feedback.startswith(hint), case.feedback


def test_twice_sigma_squared_over_tau_is_never_told_it_forgot_the_squares():
    # 2 sigma^2 / tau equals sigma / tau at sigma = 0.5, tau = 0.1: a coincidence, not the learner's bug.
    for case in check_prior_lambda(lambda sigma, tau: 2 * sigma**2 / tau, verbose=False).cases:
        assert "forgot the squares" not in case.feedback


def test_prior_lambda_never_prints_the_right_value():
    result = check_prior_lambda(lambda sigma, tau: sigma + tau, verbose=False)
    assert not result.passed
    assert result.cases[0].feedback == ("prior_lambda(3, 2) = 5 is not right: it is too large. Check each step of the "
                                        "derivation (a hint is available)")
    assert all("2.25" not in case.feedback and "expected" not in case.feedback for case in result.cases)


def test_missing_return():
    result = check_prior_lambda(lambda sigma, tau: None, verbose=False)
    assert not result.passed
    assert all("did you forget a `return`?" in case.feedback for case in result.cases)


def test_tensor_result_is_flagged_but_value_cases_pass():
    result = check_prior_lambda(lambda sigma, tau: torch.tensor(sigma) ** 2 / tau**2, verbose=False)
    assert not result.passed
    assert [case.passed for case in result.cases] == [True, True, True, True, False]
    assert result.cases[-1].feedback == "prior_lambda must return a Python number, got Tensor"


@pytest.mark.shows_learner_source
def test_learner_exception_is_reported_not_raised():
    result = check_prior_lambda(lambda sigma, tau: sigma / 0, verbose=False)
    assert not result.passed
    assert re.fullmatch(r"raised ZeroDivisionError: float division by zero\n    line \d+ in <lambda>: "
                        r"result = check_prior_lambda\(lambda sigma, tau: sigma / 0, verbose=False\)", result.cases[0].feedback)


def test_not_a_function():
    assert not check_prior_lambda(2.25, verbose=False).passed


# ------------------------------------------------------------------ exercise 3: the log posterior, Laplace prior

def log_posterior(theta, X, y, sigma, kappa):
    return -(y - theta @ X.T).pow(2).sum(-1) / (2 * sigma**2) - theta.abs().sum(-1) / kappa


def test_log_posterior_correct_up_to_any_constant(capsys):
    assert check_log_posterior(log_posterior).passed
    assert "6 of 6 checks passed. Well done!" in capsys.readouterr().out
    # With every constant kept, it passes too.
    from attnreg.bayes import neg_log_posterior
    assert check_log_posterior(lambda t, X, y, s, k: -neg_log_posterior(t, X, y, s, "laplace", k) + 3.0,
                               verbose=False).passed


def test_log_posterior_stub_none_and_hints(capsys):
    assert not check_log_posterior(stub).implemented
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_log_posterior(None).implemented
    assert "not attempted yet" in capsys.readouterr().out
    assert len(check_log_posterior.exercise.hints) >= 2


@pytest.mark.parametrize("buggy, hint", [
    (lambda t, X, y, s, k: -log_posterior(t, X, y, s, k), "you returned the negative log posterior"),
    (lambda t, X, y, s, k: -(y - t @ X.T).pow(2).sum(-1) / (2 * s**2) - t.pow(2).sum(-1) / (2 * k**2),
     "that is the Gaussian prior's term"),
    (lambda t, X, y, s, k: -(y - t @ X.T).pow(2).sum(-1) / s**2 - t.abs().sum(-1) / k, "the 1/2 of the Gaussian"),
    (lambda t, X, y, s, k: -(y - t @ X.T).pow(2).sum(-1) / (2 * s) - t.abs().sum(-1) / k, "sigma enters squared"),
    (lambda t, X, y, s, k: -(y - t @ X.T).pow(2).mean(-1) / (2 * s**2) - t.abs().sum(-1) / k,
     "you averaged the squared errors"),
    (lambda t, X, y, s, k: -(y - t @ X.T).pow(2).sum(-1) / (2 * s**2) - t.abs().sum(-1) / (2 * k),
     "the 2 of the Laplace density"),
    (lambda t, X, y, s, k: -(y - t @ X.T).pow(2).sum(-1) / (2 * s**2), "the prior's term is missing"),
    (lambda t, X, y, s, k: -(y - t @ X.T).pow(2).sum(-1) - 2 * s**2 / k * t.abs().sum(-1), "that is -J(theta)"),
])
def test_log_posterior_value_bugs_get_their_hint(buggy, hint):
    result = check_log_posterior(buggy, verbose=False)
    assert not result.passed
    value_cases = [c for c in result.cases if c.name.startswith(("one theta", "a batch", "float32"))]
    # sigma = 1 makes some bugs equal the right answer there: they are then not named (and not wrong)
    assert any(not c.passed for c in value_cases)
    for case in value_cases:
        assert case.passed or case.feedback.startswith(hint), case.feedback


def test_log_posterior_for_one_theta_only_fails_on_batches():
    def one_d(t, X, y, s, k):  # X @ t works for t of shape (d,) only
        return -(y - X @ t).pow(2).sum() / (2 * s**2) - t.abs().sum() / k
    result = check_log_posterior(one_d, verbose=False)
    assert result.cases[0].passed
    assert result.cases[1].feedback.startswith("raised RuntimeError"), result.cases[1].feedback


def test_log_posterior_summed_over_the_batch_is_a_shape_error():
    result = check_log_posterior(lambda t, X, y, s, k: log_posterior(t, X, y, s, k).sum(), verbose=False)
    assert result.cases[0].passed
    assert result.cases[1].feedback.startswith("for theta of shape (6, 3) the result has shape (), expected (6,)")


def test_log_posterior_detached_or_item():
    result = check_log_posterior(lambda *a: log_posterior(*a).detach(), verbose=False)
    assert [c.passed for c in result.cases] == [True, True, True, True, False, True]
    assert result.cases[4].feedback.startswith("no gradient reaches theta")
    result = check_log_posterior(lambda *a: log_posterior(*a).sum().item(), verbose=False)
    assert result.cases[0].feedback == "log_posterior(theta, ...) must be a torch.Tensor, got float"


def test_log_posterior_in_place_mutation():
    def in_place(t, X, y, s, k):
        fit = -(y - t @ X.T).pow(2).sum(-1) / (2 * s**2)
        return fit - t.abs_().sum(-1) / k
    result = check_log_posterior(in_place, verbose=False)
    assert not result.passed
    assert result.cases[-1].feedback.startswith("your function changed its input theta in place")


def test_log_posterior_float64_constants_upcast_float32():
    def upcast(t, X, y, s, k):
        return log_posterior(t.double(), X.double(), y.double(), s, k)
    result = check_log_posterior(upcast, verbose=False)
    assert [c.passed for c in result.cases] == [True, True, True, False, True, True]
    assert result.cases[3].feedback == ("for torch.float32 inputs the result is torch.float64: compute in the "
                                        "inputs' dtype")


def test_log_posterior_exception_is_reported():
    result = check_log_posterior(lambda t, X, y, s, k: t / 0 + undefined_name, verbose=False)  # noqa: F821
    assert result.cases[0].feedback.startswith("raised NameError")


# ------------------------------------------------------------------ exercise 4: predict the posterior's width

def test_posterior_width_right_prediction(capsys):
    for prediction in (0.25, "1/4", 0.3, torch.tensor(0.25)):
        assert check_posterior_width(prediction, measured=0.27, verbose=False).passed
    assert check_posterior_width(0.25, measured=0.27).passed
    assert "1 of 1 checks passed. Well done!" in capsys.readouterr().out
    assert len(check_posterior_width.exercise.hints) >= 2


def test_posterior_width_not_attempted(capsys):
    for unanswered in (None, ...):
        result = check_posterior_width(unanswered, measured=0.27)
        assert not result.passed and not result.implemented
        assert "not attempted yet" in capsys.readouterr().out


def test_the_verdict_follows_the_measurement():
    # the same prediction, judged against what the machine measured
    assert not check_posterior_width(0.25, measured=0.5, verbose=False).passed
    assert check_posterior_width(0.5, measured=0.5, verbose=False).passed


@pytest.mark.parametrize("prediction, message", [
    (1, "the prior does not fix the width"),
    (1.0, "the prior does not fix the width"),
    (1 / 16, "1/16 is how the posterior variance shrinks"),
    ("1/16", "1/16 is how the posterior variance shrinks"),
    (4, "a factor above 1 would make the posterior wider"),
    (16, "a factor above 1 would make the posterior wider"),
    (0.5, "your factor would shrink too little"),
    (0.1, "your factor would shrink too much"),
    (-0.25, "prediction is -0.25, but a width is positive"),
    (0, "prediction is 0, but a width is positive"),
    (float("nan"), "prediction is nan, but a width is positive"),
    ("a quarter", "prediction must be a number such as 0.5 or '1/2', got 'a quarter'"),
    (True, "prediction must be a number such as 0.5 or '1/2', got bool"),
    ([0.25], "prediction must be a number such as 0.5 or '1/2', got list"),
])
def test_posterior_width_wrong_predictions(prediction, message):
    result = check_posterior_width(prediction, measured=0.27, verbose=False)
    assert not result.passed
    assert message in result.cases[0].feedback, result.cases[0].feedback
    if type(prediction) in (int, float) and 0 < prediction < 1e3:
        assert "measured 0.270" in result.cases[0].feedback


@pytest.mark.parametrize("measured", [None, "0.27", -1.0, True])
def test_posterior_width_needs_the_measurement(measured):
    result = check_posterior_width(0.25, measured=measured, verbose=False)
    assert not result.passed
    assert result.cases[0].feedback.startswith("measured must be the factor the experiment cell printed")


# ------------------------------------------------------------------ exercise 5: ridge from the normal equations

def ridge(X, y, sigma, tau):
    d = X.shape[1]
    return torch.linalg.solve(X.T @ X + sigma**2 / tau**2 * torch.eye(d, dtype=X.dtype), X.T @ y)


def with_lambda(lam_of):
    def fit(X, y, sigma, tau):
        d, n = X.shape[1], X.shape[0]
        return torch.linalg.solve(X.T @ X + lam_of(sigma, tau, n) * torch.eye(d, dtype=X.dtype), X.T @ y)
    return fit


def test_ridge_correct_passes(capsys):
    assert check_ridge_from_scratch(ridge).passed
    assert "5 of 5 checks passed. Well done!" in capsys.readouterr().out
    # an explicit inverse and the chapter's own solver pass too
    assert check_ridge_from_scratch(lambda X, y, s, t: torch.linalg.inv(
        X.T @ X + s**2 / t**2 * torch.eye(X.shape[1], dtype=X.dtype)) @ X.T @ y, verbose=False).passed
    from attnreg.bayes import ridge_map
    assert check_ridge_from_scratch(ridge_map, verbose=False).passed


def test_ridge_stub_none_and_hints(capsys):
    assert not check_ridge_from_scratch(stub).implemented
    assert "not implemented yet" in capsys.readouterr().out
    assert not check_ridge_from_scratch(None).implemented
    assert "not attempted yet" in capsys.readouterr().out
    assert len(check_ridge_from_scratch.exercise.hints) >= 2


@pytest.mark.parametrize("buggy, hint", [
    (with_lambda(lambda s, t, n: s / t), "lambda = sigma / tau"),
    (with_lambda(lambda s, t, n: t**2 / s**2), "lambda = tau^2 / sigma^2 is inverted"),
    (with_lambda(lambda s, t, n: s**2 / t**2 / n), "that is lambda / n"),
    (with_lambda(lambda s, t, n: 2 * s**2 / t**2), "lambda = 2 sigma^2 / tau^2"),
    (with_lambda(lambda s, t, n: s**2 / t**2 / 2), "lambda / 2"),
    (with_lambda(lambda s, t, n: 1 / t**2), "lambda = 1 / tau^2 forgets the noise variance"),
    (lambda X, y, s, t: torch.linalg.solve(X.T @ X + s**2 / t**2, X.T @ y), "you added lambda to every entry"),
    (lambda X, y, s, t: torch.linalg.lstsq(X, y.unsqueeze(-1)).solution.squeeze(-1), "that is the least-squares"),
])
def test_ridge_value_bugs_get_their_hint(buggy, hint):
    result = check_ridge_from_scratch(buggy, verbose=False)
    assert not result.passed
    assert result.cases[1].feedback.startswith(hint), result.cases[1].feedback  # sigma = 2: every bug differs
    for case in failed(result):
        assert case.feedback.startswith(hint) or "differs from the reference" in case.feedback \
            or case.feedback.startswith("raised"), case.feedback


def test_ridge_gram_matrix_the_wrong_way_round():
    result = check_ridge_from_scratch(lambda X, y, s, t: torch.linalg.solve(
        X @ X.T + s**2 / t**2 * torch.eye(X.shape[0], dtype=X.dtype), X.T @ y), verbose=False)
    assert all(not c.passed for c in result.cases)
    assert result.cases[0].feedback.startswith("raised RuntimeError")


def test_ridge_in_place_mutation_of_X():
    def in_place(X, y, sigma, tau):
        X.mul_(2)  # the learner's "rescaling" edits the caller's X
        return ridge(X / 2, y, sigma, tau)
    result = check_ridge_from_scratch(in_place, verbose=False)
    assert result.cases[0].feedback.startswith("your function changed X or y in place")


def test_ridge_float32_and_shape():
    result = check_ridge_from_scratch(lambda X, y, s, t: ridge(X.double(), y.double(), s, t), verbose=False)
    assert [c.passed for c in result.cases] == [True, True, True, True, False]
    assert result.cases[-1].feedback == "for torch.float32 data the result is torch.float64: build the identity with dtype=X.dtype"
    result = check_ridge_from_scratch(lambda X, y, s, t: ridge(X, y, s, t).unsqueeze(-1), verbose=False)
    assert result.cases[0].feedback == "the result has shape (5, 1), expected (5,): one coefficient per feature"


def test_ridge_computed_in_float32_is_not_precise_enough():
    result = check_ridge_from_scratch(lambda X, y, s, t: ridge(X.float(), y.float(), s, t).to(X.dtype), verbose=False)
    assert not result.passed and result.cases[-1].passed
    assert "differs from the reference" in result.cases[0].feedback


def test_ridge_without_the_prior_fails_when_n_is_below_d():
    result = check_ridge_from_scratch(lambda X, y, s, t: torch.linalg.pinv(X) @ y, verbose=False)
    assert result.cases[0].feedback.startswith("that is the least-squares")
    assert not result.cases[2].passed  # n = 4 < d = 10: the minimum-norm solution is not the MAP estimate
