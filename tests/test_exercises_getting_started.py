import pytest

from attnreg.exercises import check_accuracy


def correct(logits, targets):
    return (logits.argmax(dim=-1) == targets).float().mean().item()


def test_correct_solution_passes():
    assert check_accuracy(correct, verbose=False).passed


def test_stub_is_not_implemented(capsys):
    def stub(logits, targets):
        raise NotImplementedError

    result = check_accuracy(stub)
    assert not result.implemented and "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "buggy, hint",
    [
        (lambda l, t: (l.argmax(dim=0) == t).float().mean().item(), "not over the batch (dim=0)"),
        (lambda l, t: (l.argmax(dim=-1) == t).sum().item(), "number of correct predictions"),
        (lambda l, t: 100 * (l.argmax(dim=-1) == t).float().mean().item(), "percentage"),
        (lambda l, t: (l.argmax(dim=-1) != t).float().mean().item(), "error rate"),
        (lambda l, t: (l.argmax(dim=-1) == t).float().mean(), "use .item()"),
        (lambda l, t: None, "forget a `return`"),
    ],
)
def test_classic_bugs_fail_with_a_specific_hint(buggy, hint, capsys):
    result = check_accuracy(buggy)
    assert not result.passed
    assert hint in capsys.readouterr().out


def test_learner_cannot_corrupt_the_cases():
    def mutating(logits, targets):
        value = correct(logits, targets)
        logits.zero_()
        targets.fill_(-1)
        return value

    assert check_accuracy(mutating, verbose=False).passed
    assert check_accuracy(correct, verbose=False).passed
