import pytest
import torch

from attnreg.exercises import check_l2_penalty, check_soft_threshold, check_weight_decay_step
from attnreg.regularization import l2_penalty, soft_threshold, weight_decay_step


def feedback_of(result) -> str:
    return " | ".join(case.feedback for case in result.cases if not case.passed)


def stub(*args):
    raise NotImplementedError


# ---- check_l2_penalty ---------------------------------------------------------------------------

def test_l2_penalty_checker_passes_the_reference_and_a_plain_solution(capsys):
    assert check_l2_penalty(l2_penalty).passed
    assert check_l2_penalty(lambda params: 0.5 * sum((p**2).sum() for p in params)).passed
    assert "3 of 3 checks passed" in capsys.readouterr().out


def test_l2_penalty_checker_reports_a_stub(capsys):
    result = check_l2_penalty(stub)
    assert not result.passed and not result.implemented
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize("buggy, hint", [
    (lambda ps: sum((p**2).sum() for p in ps), "forgot the factor 1/2"),
    (lambda ps: sum((p**2).sum() for p in ps).sqrt(), "you returned the norm ||w||"),
    (lambda ps: 0.5 * sum((p**2).sum() for p in ps).sqrt(), "you returned 1/2 ||w||, the norm"),
    (lambda ps: 0.5 * sum((p**2).mean() for p in ps), "you averaged the squares"),
    (lambda ps: 0.5 * (ps[0]**2).sum(), "used only the first tensor"),
    (lambda ps: sum(p.abs().sum() for p in ps), "the L1 penalty"),
    (lambda ps: 0.5 * sum((p**2).sum().item() for p in ps), "Python float"),
    (lambda ps: torch.tensor(0.5 * sum((p**2).sum().item() for p in ps)), "does not depend on the parameters"),
])
def test_l2_penalty_checker_catches_classic_bugs(buggy, hint):
    result = check_l2_penalty(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result)


def test_l2_penalty_checker_survives_a_crash():
    result = check_l2_penalty(lambda ps: ps.pow(2).sum(), verbose=False)
    assert not result.passed and "raised AttributeError" in feedback_of(result)


# ---- check_weight_decay_step --------------------------------------------------------------------

def test_weight_decay_checker_passes_the_reference_and_torch_sgd():
    assert check_weight_decay_step(weight_decay_step, verbose=False).passed

    def with_sgd(w, grad, lr, weight_decay):
        param = torch.nn.Parameter(w.clone())
        param.grad = grad.clone()
        torch.optim.SGD([param], lr=lr, weight_decay=weight_decay).step()
        return param.detach()

    assert check_weight_decay_step(with_sgd, verbose=False).passed


def test_weight_decay_checker_reports_a_stub():
    result = check_weight_decay_step(stub, verbose=False)
    assert not result.passed and not result.implemented


@pytest.mark.parametrize("buggy, hint", [
    (lambda w, g, lr, wd: (1 - wd) * w - lr * g, "(1 - weight_decay); the factor is (1 - lr * weight_decay)"),
    (lambda w, g, lr, wd: (1 - 2 * lr * wd) * w - lr * g, "twice too strong"),
    (lambda w, g, lr, wd: (1 - lr * wd / 2) * w - lr * g, "half as strong"),
    (lambda w, g, lr, wd: (1 - lr * wd) * w + lr * g, "you stepped up the gradient"),
    (lambda w, g, lr, wd: (1 + lr * wd) * w - lr * g, "added the decay term"),
    (lambda w, g, lr, wd: (1 - lr * wd) * (w - lr * g), "decayed after the gradient step"),
    (lambda w, g, lr, wd: w - lr * g, "weight decay is missing"),
    (lambda w, g, lr, wd: (1 - lr * wd) * w, "gradient step is missing"),
    (lambda w, g, lr, wd: w.mul_(1 - lr * wd).sub_(lr * g), "changed w in place"),
])
def test_weight_decay_checker_catches_classic_bugs(buggy, hint):
    result = check_weight_decay_step(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result)


# ---- check_soft_threshold -----------------------------------------------------------------------

def test_soft_threshold_checker_passes_the_reference_and_a_where_solution():
    assert check_soft_threshold(soft_threshold, verbose=False).passed

    def with_where(x, t):
        return torch.where(x > t, x - t, torch.where(x < -t, x + t, torch.zeros_like(x)))

    assert check_soft_threshold(with_where, verbose=False).passed


def test_soft_threshold_checker_reports_a_stub():
    result = check_soft_threshold(stub, verbose=False)
    assert not result.passed and not result.implemented


@pytest.mark.parametrize("buggy, hint", [
    (lambda x, t: torch.where(x.abs() <= t, torch.zeros_like(x), x), "hard thresholding"),
    (lambda x, t: torch.clamp(x.abs() - t, min=0.0), "negative inputs came out positive"),
    (lambda x, t: x - t * torch.sign(x), "crossed zero"),
    (lambda x, t: torch.where(x.abs() <= t, torch.full_like(x, -t), torch.sign(x) * (x.abs() - t)), "not -threshold"),
    (lambda x, t: torch.clamp(x - t, min=0.0), "only handles the positive side"),
    (lambda x, t: x - t, "subtracted the threshold from every value"),
    (lambda x, t: torch.sign(x) * torch.clamp(x.abs() - t, min=1e-9), "exactly 0.0"),
    (lambda x, t: x.copy_(torch.sign(x) * torch.clamp(x.abs() - t, min=0.0)), "changed x in place"),
    (lambda x, t: torch.sign(x).double() * torch.clamp(x.abs() - t, min=0.0).double(), "float32 input came back as"),
])
def test_soft_threshold_checker_catches_classic_bugs(buggy, hint):
    result = check_soft_threshold(buggy, verbose=False)
    assert not result.passed
    assert hint in feedback_of(result)
