"""The exercise catalogue: registration, hints one at a time, and the learner's progress file."""

import json

import pytest

from attnreg.exercises import CheckResult, Exercise, catalogue, check_accuracy, exercise, hint, progress, progress_file, run_check
from attnreg.exercises import _registry


@pytest.fixture
def demo_checker(monkeypatch):
    """A checker registered as exercise 99.1, removed from the catalogue afterwards."""
    monkeypatch.setattr(_registry, "_EXERCISES", dict(_registry._EXERCISES))
    monkeypatch.setattr(_registry, "_HINTS_SHOWN", {})

    @exercise(chapter="99_demo", number=1, title="add one", stars=1, kind="implement",
              practises="calling a function", hints=["look at the input", "return x + 1"])
    def check_add_one(fn, verbose=True):
        def case(f):
            from attnreg.exercises import expect_close
            expect_close(f(1), 2, "add_one(1)")
        return run_check("check_add_one", fn, [("add_one(1)", case)], verbose)

    return check_add_one


def test_registration_keeps_name_signature_and_result(demo_checker):
    assert demo_checker.__name__ == "check_add_one"
    result = demo_checker(lambda x: x + 1, verbose=False)
    assert isinstance(result, CheckResult) and result.passed
    info = demo_checker.exercise
    assert info == Exercise("99_demo", 1, "add one", 1, "implement", "calling a function",
                            ("look at the input", "return x + 1"), "check_add_one")
    assert info.id == "99.1" and info.heading == "Exercise 1: add one ★"
    assert info in catalogue()


def test_hints_come_one_at_a_time(demo_checker, capsys):
    demo_checker.hint()
    hint("99.1")
    hint(demo_checker)
    assert capsys.readouterr().out.splitlines() == [
        "Hint 1 of 2 (exercise 99.1): look at the input",
        "Hint 2 of 2 (exercise 99.1): return x + 1",
        'No more hints for exercise 99.1: the solution is in the hidden cell below the exercise ("Show solution").',
    ]
    with pytest.raises(ValueError, match="which must be a checker such as check_dropout or an exercise id"):
        hint("99.7")


def test_progress_records_attempts_but_not_stubs_or_solutions(demo_checker, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNREG_DATA", str(tmp_path))
    def stub(x):
        raise NotImplementedError

    demo_checker(stub)  # not attempted: nothing recorded
    assert not progress_file().exists()
    demo_checker(lambda x: x + 2, verbose=False)  # tried, wrong
    state = progress("99", verbose=False)
    assert state.tried == ("99.1",) and state.passed == () and state.total == 1
    demo_checker(lambda x: x + 1, verbose=False)
    demo_checker(lambda x: x, verbose=False)  # a later wrong try keeps the pass
    demo_checker(lambda x: x + 1, verbose=False, record=False)  # a solution cell: not counted
    stored = json.loads((tmp_path / "progress.json").read_text())["exercises"]["99.1"]
    assert stored["passed"] and stored["attempts"] == 3
    capsys.readouterr()
    state = progress("99_demo")
    assert state.passed == ("99.1",)
    assert capsys.readouterr().out.splitlines() == [
        "chapter 99_demo",
        "  ✓ 99.1   ★   implement add one",
        "1 of 1 exercises passed, 0 tried and not passed yet.",
    ]


def test_progress_survives_an_unreadable_file_and_an_unwritable_folder(demo_checker, tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNREG_DATA", str(tmp_path))
    (tmp_path / "progress.json").write_text("not json")
    assert progress("99", verbose=False).passed == ()
    blocked = tmp_path / "file"
    blocked.write_text("")
    monkeypatch.setenv("ATTNREG_DATA", str(blocked))  # a file where the folder should be
    assert demo_checker(lambda x: x + 1, verbose=False).passed  # no error, nothing stored


def test_progress_of_an_unknown_chapter():
    with pytest.raises(ValueError, match="chapter must be a chapter with exercises such as '06', got '42'"):
        progress("42")


@pytest.mark.parametrize("kwargs, message", [
    ({"chapter": "dropout"}, "chapter must be a notebook stem such as '06_dropout', got 'dropout'"),
    ({"stars": 4}, "stars must be 1, 2 or 3, got 4"),
    ({"kind": "prove"}, "kind must be one of"),
    ({"hints": []}, "needs at least one hint, got none"),
])
def test_bad_registrations(kwargs, message):
    base = dict(chapter="99_demo", number=1, title="t", stars=1, kind="implement", practises="p", hints=["h"])
    with pytest.raises(ValueError, match=message):
        exercise(**{**base, **kwargs})


def test_an_exercise_id_cannot_be_registered_twice(demo_checker):
    with pytest.raises(ValueError, match="exercise 99.1 is registered twice: check_add_one and check_other"):
        @exercise(chapter="99_demo", number=1, title="t", stars=1, kind="implement", practises="p", hints=["h"])
        def check_other(fn, verbose=True):
            return CheckResult("check_other")


def test_a_checker_name_cannot_serve_two_exercises(demo_checker):
    # Two chapters' checkers with one name would shadow each other in attnreg.exercises.
    with pytest.raises(ValueError, match="checker name check_add_one is registered twice: exercises 99.1 and 99.2"):
        @exercise(chapter="99_demo", number=2, title="t", stars=1, kind="implement", practises="p", hints=["h"])
        def check_add_one(fn, verbose=True):
            return CheckResult("check_add_one")


def test_every_exported_checker_is_a_registered_exercise():
    import attnreg.exercises as exercises

    checkers = [name for name in exercises.__all__ if name.startswith("check_")]
    registered = {e.checker for e in catalogue()}
    assert sorted(set(checkers) - registered) == []
    assert check_accuracy.exercise.id == "00.1"
