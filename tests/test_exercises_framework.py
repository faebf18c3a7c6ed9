import inspect

import numpy as np
import pytest
import torch

from attnreg.exercises import CheckResult, Feedback, expect_close, expect_derived, expect_number, expect_tensor, run_check

pytestmark = pytest.mark.shows_learner_source  # these tests check the learner's lines in the reports


def passing(fn):
    return None


def failing(fn):
    raise Feedback("row sums are 0.62, expected 1")


def test_run_check_reports_each_case(capsys):
    result = run_check("check_demo", lambda: None, [("first", passing), ("second", failing)])
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["✓ first", "✗ second: row sums are 0.62, expected 1", "check_demo: 1 of 2 checks passed."]
    assert not result.passed and result.implemented
    assert repr(result) == "CheckResult(topic='check_demo', passed 1 of 2 cases)"


def test_all_passing(capsys):
    result = run_check("check_demo", lambda: None, [("first", passing)])
    assert result.passed and "Well done" in capsys.readouterr().out


def test_stub_is_reported_once_as_not_implemented(capsys):
    def stub(x):
        raise NotImplementedError

    result = run_check("check_demo", stub, [("a", lambda fn: fn(1)), ("b", lambda fn: fn(2))])
    out = capsys.readouterr().out
    assert "not implemented yet" in out and out.count("\n") == 1
    assert not result.passed and not result.implemented
    assert "not implemented yet" in repr(result)


def test_learner_exceptions_never_escape(capsys):
    def broken(x):
        return x / 0

    result = run_check("check_demo", broken, [("divide", lambda fn: fn(1))])
    assert not result.passed
    assert "✗ divide: raised ZeroDivisionError: division by zero" in capsys.readouterr().out


def test_not_a_function_and_quiet_mode(capsys):
    assert not run_check("check_demo", 3, [("a", passing)]).passed
    assert "expected a function, got int" in capsys.readouterr().out
    run_check("check_demo", lambda: None, [("a", passing)], verbose=False)
    assert capsys.readouterr().out == ""


def test_check_result_has_no_display_of_its_own():
    assert CheckResult("t")._ipython_display_() is None
    assert not CheckResult("t").passed  # no case run: not passed


def test_expect_close_explains_the_difference():
    expected = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    expect_close(expected + 1e-7, expected)
    with pytest.raises(Feedback, match=r"has shape \(2,\), expected \(2, 2\)"):
        expect_close(torch.ones(2), expected)
    with pytest.raises(Feedback, match="contains NaN"):
        expect_close(torch.full((2, 2), float("nan")), expected)
    with pytest.raises(Feedback, match=r"differs from the reference by up to 0.5, at index \(1, 0\) \(3.5 instead of 3\)"):
        expect_close(expected + torch.tensor([[0.0, 0.0], [0.5, 0.0]]), expected)
    with pytest.raises(Feedback, match="is 2, expected 1"):
        expect_close(2.0, 1.0, what="the value")
    with pytest.raises(Feedback, match="did you forget a `return`"):
        expect_close(None, 1.0)
    with pytest.raises(Feedback, match="must be a number or a tensor, got str"):
        expect_close("x", 1.0)


def test_expect_close_recognises_known_bugs():
    with pytest.raises(Feedback, match="^you forgot the square root$"):
        expect_close(torch.tensor(4.0), torch.tensor(2.0), known_bugs={"you forgot the square root": 4.0})


def test_expect_tensor():
    with pytest.raises(Feedback, match="must be a torch.Tensor, got list"):
        expect_tensor([1.0])
    with pytest.raises(Feedback, match="is None"):
        expect_tensor(None)
    t = torch.ones(1)
    assert expect_tensor(t) is t


def test_answers_left_as_none_or_ellipsis_are_not_attempted(capsys):
    for answer in (None, ...):
        result = run_check("check_demo", answer, [("a", passing)], expects="value")
        assert not result.implemented and not result.passed
    assert capsys.readouterr().out.count("not attempted yet") == 2


def test_value_answers_reach_the_cases():
    seen = []
    result = run_check("check_demo", 2.5, [("a", seen.append)], verbose=False, expects="value")
    assert result.passed and seen == [2.5]
    with pytest.raises(ValueError, match="expects must be 'function' or 'value', got 'number'"):
        run_check("check_demo", 2.5, [], expects="number")


def learner_helper(x):
    return x["missing"]


def learner_function(x):
    y = {"value": x}
    return learner_helper(y)


def test_tracebacks_end_at_the_learners_own_line(capsys):
    result = run_check("check_demo", learner_function, [("a", lambda fn: fn(1))])
    outer = inspect.getsourcelines(learner_function)[1] + 2  # the line of `return learner_helper(y)`
    inner = inspect.getsourcelines(learner_helper)[1] + 1
    assert result.cases[0].feedback.splitlines() == [
        "raised KeyError: 'missing'",
        f"    line {outer} in learner_function: return learner_helper(y)",
        f"    line {inner} in learner_helper: return x[\"missing\"]",
    ]
    assert "line" in capsys.readouterr().out


def test_errors_inside_library_code_are_reported_as_checking_errors():
    # the learner's result is fine to return, but the checker cannot use it (a list, not a tensor)
    result = run_check("check_demo", lambda: [1.0], [("a", lambda fn: torch.as_tensor(fn()).sum().backward())],
                       verbose=False)
    assert result.cases[0].feedback.startswith("checking your function raised RuntimeError: element 0 of tensors")


def test_a_known_bug_that_equals_the_right_answer_is_never_named():
    # at this input the "forgot the square root" value coincides with the answer: the bug is invisible
    with pytest.raises(Feedback, match="is 3, expected 1"):
        expect_close(3.0, 1.0, known_bugs={"you forgot the square root": 1.0})
    with pytest.raises(Feedback, match="^you forgot the square root$"):
        expect_close(3.0, 1.0, known_bugs={"you forgot the square root": 3.0})


def test_expect_derived_never_prints_the_right_value():
    with pytest.raises(Feedback) as info:
        expect_derived(9.0, 2.25, what="Var(q.k)")
    assert str(info.value).startswith("Var(q.k) = 9 is not right: it is too large")
    assert "2.25" not in str(info.value)
    with pytest.raises(Feedback, match="too small"):
        expect_derived(1.0, 2.25)
    with pytest.raises(Feedback, match="^you squared the scale$"):
        expect_derived(9.0, 2.25, known_bugs={"you squared the scale": 9.0})
    expect_derived(2.25 * (1 + 1e-9), 2.25)
    with pytest.raises(Feedback, match="must be a number, got str"):
        expect_derived("2.25", 2.25)
    with pytest.raises(Feedback, match="must be one number, got a tensor of shape \\(2,\\)"):
        expect_derived(torch.ones(2), 2.25)
    with pytest.raises(Feedback, match="expected a finite number"):
        expect_derived(float("nan"), 2.25)


@pytest.mark.parametrize("answer", [3, 3.0, np.int64(3), np.float32(3.0), np.float64(3.0), torch.tensor(3)])
def test_expect_number_accepts_python_numpy_and_torch_numbers(answer):
    assert expect_number(answer) == 3.0


@pytest.mark.parametrize("answer, message", [
    (True, "must be a number, got bool"),
    (np.bool_(True), "must be a number, got bool"),
    ("3", "must be a number, got str"),
    (float("nan"), "expected a finite number"),
    (np.float64("inf"), "expected a finite number"),
])
def test_expect_number_rejects_what_is_not_a_finite_number(answer, message):
    with pytest.raises(Feedback, match=message):
        expect_number(answer)
