import math

import pytest
import torch
import torch.nn.functional as F

from attnreg.exercises import check_symmetric_kl

# Several buggy versions use F.kl_div(reduction="mean") on purpose; PyTorch warns about it.
pytestmark = pytest.mark.filterwarnings("ignore:reduction:UserWarning")


def correct(logits_p, logits_q):
    log_p, log_q = F.log_softmax(logits_p, dim=-1), F.log_softmax(logits_q, dim=-1)
    return 0.5 * (F.kl_div(log_q, log_p.exp(), reduction="batchmean")
                  + F.kl_div(log_p, log_q.exp(), reduction="batchmean"))


def correct_from_the_formula(logits_p, logits_q):
    log_p, log_q = F.log_softmax(logits_p, dim=-1), F.log_softmax(logits_q, dim=-1)
    return 0.5 * ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=-1).mean()


def stub(logits_p, logits_q):
    raise NotImplementedError


def swapped_arguments(logits_p, logits_q):
    p, q = F.softmax(logits_p, dim=-1), F.softmax(logits_q, dim=-1)
    return 0.5 * (F.kl_div(p, F.log_softmax(logits_q, dim=-1), reduction="batchmean")
                  + F.kl_div(q, F.log_softmax(logits_p, dim=-1), reduction="batchmean"))


def probabilities_as_input(logits_p, logits_q):
    p, q = F.softmax(logits_p, dim=-1), F.softmax(logits_q, dim=-1)
    return 0.5 * (F.kl_div(q, p, reduction="batchmean") + F.kl_div(p, q, reduction="batchmean"))


def logits_as_input(logits_p, logits_q):
    p, q = F.softmax(logits_p, dim=-1), F.softmax(logits_q, dim=-1)
    return 0.5 * (F.kl_div(logits_q, p, reduction="batchmean") + F.kl_div(logits_p, q, reduction="batchmean"))


def with_reduction(reduction):
    def symmetric_kl(logits_p, logits_q):
        log_p, log_q = F.log_softmax(logits_p, dim=-1), F.log_softmax(logits_q, dim=-1)
        return 0.5 * (F.kl_div(log_q, log_p.exp(), reduction=reduction)
                      + F.kl_div(log_p, log_q.exp(), reduction=reduction))
    return symmetric_kl


def one_sided_p_q(logits_p, logits_q):
    return F.kl_div(F.log_softmax(logits_q, dim=-1), F.softmax(logits_p, dim=-1), reduction="batchmean")


def one_sided_twice(logits_p, logits_q):  # the same direction written twice
    term = F.kl_div(F.log_softmax(logits_p, dim=-1), F.softmax(logits_q, dim=-1), reduction="batchmean")
    return 0.5 * (term + term)


def without_one_half(logits_p, logits_q):
    return 2 * correct(logits_p, logits_q)


def softmax_over_the_batch(logits_p, logits_q):
    log_p, log_q = F.log_softmax(logits_p, dim=0), F.log_softmax(logits_q, dim=0)
    return 0.5 * (F.kl_div(log_q, log_p.exp(), reduction="batchmean")
                  + F.kl_div(log_p, log_q.exp(), reduction="batchmean"))


def log_of_softmax(logits_p, logits_q):
    p, q = F.softmax(logits_p, dim=-1), F.softmax(logits_q, dim=-1)
    return 0.5 * (F.kl_div(torch.log(q), p, reduction="batchmean") + F.kl_div(torch.log(p), q, reduction="batchmean"))


def returns_a_float(logits_p, logits_q):
    return correct(logits_p, logits_q).item()


def detached(logits_p, logits_q):
    return correct(logits_p, logits_q).detach()


def per_example(logits_p, logits_q):
    log_p, log_q = F.log_softmax(logits_p, dim=-1), F.log_softmax(logits_q, dim=-1)
    return 0.5 * ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(dim=-1)


def forgets_return(logits_p, logits_q):
    correct(logits_p, logits_q)


@pytest.mark.parametrize("fn", [correct, correct_from_the_formula])
def test_correct_implementations_pass(fn, capsys):
    result = check_symmetric_kl(fn)
    assert result.passed
    assert "6 of 6 checks passed. Well done!" in capsys.readouterr().out


def test_stub_is_reported_as_not_implemented(capsys):
    result = check_symmetric_kl(stub)
    assert not result.passed and not result.implemented
    assert "not implemented yet" in capsys.readouterr().out


@pytest.mark.parametrize(
    "fn, hint",
    [
        (swapped_arguments, "did you swap them?"),
        (probabilities_as_input, "you passed probabilities (softmax); use F.log_softmax"),
        (logits_as_input, "you passed raw logits; use F.log_softmax"),
        (with_reduction("mean"), "you used reduction='mean', which divides by batch x classes (4 x 5)"),
        (with_reduction("sum"), "you used reduction='sum', which adds up the 4 examples"),
        (one_sided_p_q, "you computed one direction only (KL(P || Q))"),
        (one_sided_twice, "you computed one direction only (KL(Q || P))"),
        (without_one_half, "forgot the factor 1/2"),
        (softmax_over_the_batch, "not over the batch (dim=0)"),
        (log_of_softmax, "log(softmax(...)) underflows to log(0) = -inf"),
        (returns_a_float, "the result is a Python float: return the tensor itself (no .item())"),
        (detached, "the result carries no gradient"),
        (per_example, "symmetric KL has shape (4,): reduce it to a scalar"),
        (forgets_return, "did you forget a `return`?"),
    ],
)
def test_classic_bugs_fail_with_a_specific_hint(fn, hint):
    result = check_symmetric_kl(fn, verbose=False)
    assert result.implemented and not result.passed
    feedback = [case.feedback for case in result.cases if not case.passed]
    assert any(hint in text for text in feedback), feedback


def test_log_of_softmax_only_fails_on_confident_logits():
    result = check_symmetric_kl(log_of_softmax, verbose=False)
    assert [case.name for case in result.cases if not case.passed] == ["very confident logits stay finite"]


# --------------------------------------------------------------------------------------------
# Exercises 2 and 3: the KL traps named correctly
# --------------------------------------------------------------------------------------------

from attnreg.exercises import (  # noqa: E402
    check_alpha_for_sequences,
    check_consistency_prediction,
    check_kl_value,
    check_rdrop_step,
    check_symmetric_kl_by_hand,
)
from attnreg.exercises.rdrop import HINT_LOG_TARGET, HINT_NO_GRAD_Q, HINT_SWAPPED, STEP_BUGS  # noqa: E402


def log_probabilities_as_target(logits_p, logits_q):
    log_p, log_q = F.log_softmax(logits_p, dim=-1), F.log_softmax(logits_q, dim=-1)
    return 0.5 * (F.kl_div(log_q, log_p, reduction="batchmean") + F.kl_div(log_p, log_q, reduction="batchmean"))


def second_logits_detached(logits_p, logits_q):
    return correct(logits_p, logits_q.detach())


def with_kl_div_loss_module(logits_p, logits_q):
    kl = torch.nn.KLDivLoss(reduction="batchmean", log_target=True)
    log_p, log_q = F.log_softmax(logits_p, dim=-1), F.log_softmax(logits_q, dim=-1)
    return 0.5 * (kl(log_q, log_p) + kl(log_p, log_q))


def test_log_probabilities_as_target_is_named_as_such_not_as_swapped():
    feedback = [c.feedback for c in check_symmetric_kl(log_probabilities_as_target, verbose=False).cases if not c.passed]
    assert feedback and all(text == HINT_LOG_TARGET for text in feedback[:2]), feedback
    assert not any("swap" in text for text in feedback)
    swapped = [c.feedback for c in check_symmetric_kl(swapped_arguments, verbose=False).cases if not c.passed]
    assert HINT_SWAPPED in swapped and HINT_LOG_TARGET not in swapped


def test_a_detached_second_pass_is_rejected_for_missing_gradient():
    result = check_symmetric_kl(second_logits_detached, verbose=False)
    assert [c.feedback for c in result.cases if not c.passed] == [HINT_NO_GRAD_Q]


def test_the_kl_div_loss_module_passes_and_f_kl_div_is_restored():
    original = F.kl_div
    assert check_symmetric_kl(with_kl_div_loss_module, verbose=False).passed
    assert F.kl_div is original
    assert check_symmetric_kl(correct, verbose=False).passed
    assert "6 of 6" not in ""  # the report counts the new case below


def test_the_by_hand_checker_shares_the_cases(capsys):
    assert check_symmetric_kl_by_hand(correct_from_the_formula).passed
    assert "6 of 6 checks passed. Well done!" in capsys.readouterr().out
    assert not check_symmetric_kl_by_hand(second_logits_detached, verbose=False).passed


# --------------------------------------------------------------------------------------------
# Exercise 1: a KL divergence by hand
# --------------------------------------------------------------------------------------------

P1, Q1 = (0.7, 0.2, 0.1), (0.2, 0.5, 0.3)


def kl(p, q, log=math.log):
    return sum(a * (log(a) - log(b)) for a, b in zip(p, q))


@pytest.mark.parametrize(
    "answer, message",
    [
        (kl(Q1, P1), "that is KL(Q || P)"),
        (kl(P1, Q1, math.log2), "that is in bits"),
        (-sum(a * math.log(b) for a, b in zip(P1, Q1)), "that is the cross-entropy"),
        (-kl(P1, Q1), "the sign is flipped"),
        (0.5 * (kl(P1, Q1) + kl(Q1, P1)), "that is the symmetric KL"),
        (sum(math.log(a / b) for a, b in zip(P1, Q1)), "you left out the weight P_c"),
        (2.0, "too large"),
        (0.3, "too small"),
    ],
)
def test_kl_value_misconceptions(answer, message):
    result = check_kl_value(answer, verbose=False)
    assert result.implemented and not result.passed
    assert message in result.cases[0].feedback
    assert f"{kl(P1, Q1):.4f}" not in result.cases[0].feedback


def test_kl_value_right_and_not_attempted(capsys):
    assert check_kl_value(kl(P1, Q1)).passed
    assert not check_kl_value(None).implemented and not check_kl_value(...).implemented
    assert "not attempted yet" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Exercise 4: the same alpha for sequences
# --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "fn, message",
    [
        (lambda a, b, t: a * b, "alpha times the number of sentences"),
        (lambda a, b, t: a * t, "alpha times the length"),
        (lambda a, b, t: a / (b * t), "you divided by the number of tokens"),
        (lambda a, b, t: a * b * t / 2, "no factor 1/2"),
        (lambda a, b, t: a, "alpha must change"),
        (lambda a, b, t: a * b * t * 10, "too large"),
        (lambda a, b, t: a * (b + t), "too small"),
        (lambda a, b, t: None, "did you forget a `return`"),
    ],
)
def test_alpha_conversion_misconceptions(fn, message):
    result = check_alpha_for_sequences(fn, verbose=False)
    assert result.implemented and not result.passed
    assert all(message in c.feedback for c in result.cases), [c.feedback for c in result.cases]


def test_alpha_conversion_right_stub_and_numpy_ints(capsys):
    assert check_alpha_for_sequences(lambda a, b, t: a * b * t).passed

    def stub(a, b, t):
        raise NotImplementedError

    assert not check_alpha_for_sequences(stub).implemented
    assert "not implemented yet" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# Exercise 5: consistency on the training images
# --------------------------------------------------------------------------------------------

TRAIN, TEST = [0.115, 0.112, 0.118], [0.172, 0.168, 0.175]


def test_consistency_prediction_follows_the_measurement(capsys):
    assert check_consistency_prediction("lower", TRAIN, TEST).passed
    assert "a ratio of 0.67 (lower)" in capsys.readouterr().out
    for wrong in ("about the same", "higher"):
        result = check_consistency_prediction(wrong, TRAIN, TEST, verbose=False)
        assert result.implemented and not result.passed and "(lower)" in result.cases[0].feedback
    assert check_consistency_prediction("about the same", TEST, TEST, verbose=False).passed
    assert check_consistency_prediction("higher", [0.3] * 3, TEST, verbose=False).passed


def test_consistency_prediction_not_attempted_or_invalid(capsys):
    assert not check_consistency_prediction(None, TRAIN, TEST).implemented
    assert "not attempted yet" in capsys.readouterr().out
    assert "must be one of" in check_consistency_prediction("less", TRAIN, TEST, verbose=False).cases[0].feedback
    with pytest.raises(ValueError, match="one consistency KL per model"):
        check_consistency_prediction("lower", TRAIN, TEST[:1])


# --------------------------------------------------------------------------------------------
# Exercise 6: one R-Drop training step
# --------------------------------------------------------------------------------------------

def skl(logits1, logits2):
    log_p, log_q = F.log_softmax(logits1, dim=-1), F.log_softmax(logits2, dim=-1)
    return 0.5 * ((log_p.exp() - log_q.exp()) * (log_p - log_q)).sum(-1).mean()


def step_two_calls(model, optimizer, x, y, alpha):
    optimizer.zero_grad()
    logits1, logits2 = model(x), model(x)
    loss = 0.5 * (F.cross_entropy(logits1, y) + F.cross_entropy(logits2, y)) + alpha * skl(logits1, logits2)
    loss.backward()
    optimizer.step()
    return loss.item()


def step_with_the_library(model, optimizer, x, y, alpha):
    from attnreg.rdrop import rdrop_forward, rdrop_loss
    optimizer.zero_grad()
    loss = rdrop_loss(*rdrop_forward(model, x), y, alpha)
    loss.backward()
    optimizer.step()
    return loss


def make_step(change):
    def step(model, optimizer, x, y, alpha):
        if change != "no zero_grad":
            optimizer.zero_grad()
        if change == "evaluation mode":
            model.eval()
        logits1 = model(x)
        logits2 = logits1 if change == "one pass" else model(x)
        if change == "detached second pass":
            logits2 = logits2.detach()
        ce1, ce2 = F.cross_entropy(logits1, y), F.cross_entropy(logits2, y)
        ce = ce1 if change == "first CE only" else ce1 + ce2 if change == "CE summed" else 0.5 * (ce1 + ce2)
        log_p, log_q = F.log_softmax(logits1, -1), F.log_softmax(logits2, -1)
        if change == "one direction":
            kl_term = F.kl_div(log_q, log_p, reduction="batchmean", log_target=True)
        elif change == "KL summed":
            kl_term = skl(logits1, logits2) * len(x)
        else:
            kl_term = skl(logits1, logits2)
        loss = ce + alpha * kl_term
        loss.backward()
        if change != "no step":
            optimizer.step()
        model.train()
        return loss.item()
    return step


def returns_the_loss_after_the_step(model, optimizer, x, y, alpha):
    step_two_calls(model, optimizer, x, y, alpha)
    with torch.no_grad():
        return F.cross_entropy(model(x), y).item()


def mutates_x(model, optimizer, x, y, alpha):
    x.mul_(1.0)
    x.add_(0.0)
    x[0, 0] += 1.0
    return step_two_calls(model, optimizer, x, y, alpha)


@pytest.mark.parametrize("fn", [step_two_calls, step_with_the_library])
def test_correct_steps_pass(fn, capsys):
    assert check_rdrop_step(fn).passed
    assert "4 of 4 checks passed. Well done!" in capsys.readouterr().out


@pytest.mark.parametrize("bug", list(STEP_BUGS))
def test_each_step_bug_is_named(bug):
    result = check_rdrop_step(make_step(bug), verbose=False)
    assert result.implemented and not result.passed
    feedback = [c.feedback for c in result.cases if not c.passed]
    assert STEP_BUGS[bug] in feedback, feedback
    assert all(STEP_BUGS[bug] in text for text in feedback), feedback


def test_step_return_value_and_in_place_edit():
    feedback = [c.feedback for c in check_rdrop_step(returns_the_loss_after_the_step, verbose=False).cases if not c.passed]
    assert any("not the R-Drop loss it minimised" in text for text in feedback)
    feedback = [c.feedback for c in check_rdrop_step(mutates_x, verbose=False).cases if not c.passed]
    assert any("changed x in place" in text for text in feedback)

    def returns_nothing(model, optimizer, x, y, alpha):
        step_two_calls(model, optimizer, x, y, alpha)

    feedback = [c.feedback for c in check_rdrop_step(returns_nothing, verbose=False).cases if not c.passed]
    assert any("returned None" in text for text in feedback)


def test_step_stub_and_hints(capsys):
    def stub(model, optimizer, x, y, alpha):
        raise NotImplementedError

    assert not check_rdrop_step(stub).implemented
    assert "not implemented yet" in capsys.readouterr().out
    for check in (check_kl_value, check_symmetric_kl, check_symmetric_kl_by_hand, check_alpha_for_sequences,
                  check_consistency_prediction, check_rdrop_step):
        assert len(check.exercise.hints) >= 2
