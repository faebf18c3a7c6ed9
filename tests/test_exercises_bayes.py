import re

import pytest
import torch

from attnreg.exercises import check_prior_lambda


def correct(sigma, tau):
    return sigma**2 / tau**2


def stub(sigma, tau):
    raise NotImplementedError


def test_correct_solution_passes(capsys):
    result = check_prior_lambda(correct)
    assert result.passed
    assert "5 of 5 checks passed. Well done!" in capsys.readouterr().out


def test_numpy_float_is_accepted():
    import numpy as np

    assert check_prior_lambda(lambda sigma, tau: np.float64(sigma) ** 2 / np.float64(tau) ** 2, verbose=False).passed


def test_stub_is_not_implemented(capsys):
    result = check_prior_lambda(stub)
    assert not result.passed and not result.implemented
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("buggy, hint", [
    (lambda sigma, tau: tau**2 / sigma**2, "you inverted the ratio: lambda = sigma^2 / tau^2"),
    (lambda sigma, tau: sigma / tau, "you forgot the squares"),
    (lambda sigma, tau: tau / sigma, "you inverted the ratio and forgot the squares"),
    (lambda sigma, tau: 2 * sigma**2 / tau**2, "a factor 2 too many"),
    (lambda sigma, tau: sigma**2 / (2 * tau**2), "a factor 2 too few"),
    (lambda sigma, tau: 1 / tau**2, "you dropped the noise variance"),
])
def test_classic_bugs_get_their_hint(buggy, hint):
    result = check_prior_lambda(buggy, verbose=False)
    assert not result.passed
    failed = [case for case in result.cases if not case.passed]
    # The first three cases are built so that every bug gives a distinct value: each names the bug.
    assert len(failed) >= 3
    for case in failed[:3]:
        assert case.feedback.startswith(hint), case.feedback


def test_other_wrong_value_reports_the_numbers():
    result = check_prior_lambda(lambda sigma, tau: sigma + tau, verbose=False)
    assert not result.passed
    assert result.cases[0].feedback == "prior_lambda(3.0, 2.0) is 5, expected 2.25"


def test_missing_return():
    result = check_prior_lambda(lambda sigma, tau: None, verbose=False)
    assert not result.passed
    assert all("did you forget a `return`?" in case.feedback for case in result.cases)


def test_tensor_result_is_flagged_but_value_cases_pass():
    result = check_prior_lambda(lambda sigma, tau: torch.tensor(sigma) ** 2 / tau**2, verbose=False)
    assert not result.passed
    assert [case.passed for case in result.cases] == [True, True, True, True, False]
    assert result.cases[-1].feedback == "prior_lambda must return a Python number, got Tensor"


def test_learner_exception_is_reported_not_raised():
    result = check_prior_lambda(lambda sigma, tau: sigma / 0, verbose=False)
    assert not result.passed
    assert re.fullmatch(r"raised ZeroDivisionError: float division by zero\n    line \d+ in <lambda>: "
                        r"result = check_prior_lambda\(lambda sigma, tau: sigma / 0, verbose=False\)", result.cases[0].feedback)


def test_not_a_function():
    assert not check_prior_lambda(2.25, verbose=False).passed
