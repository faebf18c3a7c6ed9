import pytest
import torch

from attnreg.exercises import CheckResult, Feedback, expect_close, expect_tensor, run_check


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
