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
    assert "5 of 5 checks passed. Well done!" in capsys.readouterr().out


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
