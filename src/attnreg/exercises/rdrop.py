"""Checker for the exercise of chapter 08: the symmetric KL divergence of R-Drop."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from ..rdrop import symmetric_kl
from ._framework import CheckResult, Feedback, clone_args, expect_close, expect_tensor, run_check
from ._registry import exercise

SymmetricKL = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _kl_terms(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """What ``F.kl_div(first, second, reduction="sum")`` computes: ``sum second * (log second - first)``."""
    return (second * (second.log() - first)).sum()


def _classic_bugs(logits_p: torch.Tensor, logits_q: torch.Tensor) -> dict[str, torch.Tensor]:
    """The value each classic mistake produces on these logits, keyed by the hint it deserves."""
    batch, classes = logits_p.shape
    log_p, log_q = F.log_softmax(logits_p, dim=-1), F.log_softmax(logits_q, dim=-1)
    p, q = log_p.exp(), log_q.exp()
    kl_pq = (p * (log_p - log_q)).sum() / batch  # KL(P || Q), batchmean
    kl_qp = (q * (log_q - log_p)).sum() / batch
    symmetric = 0.5 * (kl_pq + kl_qp)
    bugs = {
        "you computed one direction only (KL(P || Q)); R-Drop averages both: 1/2 (KL(P || Q) + KL(Q || P))": kl_pq,
        "you computed one direction only (KL(Q || P)); R-Drop averages both: 1/2 (KL(P || Q) + KL(Q || P))": kl_qp,
        "you added both directions but forgot the factor 1/2": 2 * symmetric,
        f"you used reduction='mean', which divides by batch x classes ({batch} x {classes}); use 'batchmean', "
        "which divides by the batch size only and gives the mean per-example KL": symmetric / classes,
        f"you used reduction='sum', which adds up the {batch} examples; use 'batchmean' for the mean per-example KL":
            symmetric * batch,
        "F.kl_div's first argument must be log-probabilities: you passed probabilities (softmax); use "
        "F.log_softmax": 0.5 * (_kl_terms(q, p) + _kl_terms(p, q)) / batch,
        "F.kl_div's first argument must be log-probabilities: you passed raw logits; use F.log_softmax":
            0.5 * (_kl_terms(logits_q, p) + _kl_terms(logits_p, q)) / batch,
    }
    if batch > 1:  # a softmax over the batch (dim=0) instead of the classes
        log_p0, log_q0 = F.log_softmax(logits_p, dim=0), F.log_softmax(logits_q, dim=0)
        bugs["take the softmax over the classes (dim=-1), not over the batch (dim=0)"] = 0.5 * (
            (log_p0.exp() * (log_p0 - log_q0)).sum() + (log_q0.exp() * (log_q0 - log_p0)).sum()) / batch
    return bugs


@exercise(chapter='08_rdrop', number=1, title='the symmetric KL with `F.kl_div`', stars=2, kind='implement', practises="F.kl_div's argument order and reductions",
          hints=['`F.kl_div(input, target)` computes KL(target || input) and wants `input` as log-probabilities: pass `F.log_softmax(logits, dim=-1)`.',
                 "KL(P || Q) is `F.kl_div(log_q, log_p, reduction='batchmean', log_target=True)`; average it with the other direction."])
def check_symmetric_kl(fn: SymmetricKL, verbose: bool = True) -> CheckResult:
    """Check ``fn(logits_p, logits_q) -> 1/2 (KL(P || Q) + KL(Q || P))``, batchmean, as a scalar tensor."""
    return _check_symmetric_kl("check_symmetric_kl", fn, verbose)


@exercise(chapter="08_rdrop", number=2, title="without `F.kl_div`", stars=2, kind="implement",
          practises="the KL divergence written out from log-probabilities",
          hints=["KL(P || Q) = sum_c p_c (log p_c - log q_c): take `log_p = F.log_softmax(logits_p, dim=-1)` and "
                 "`p = log_p.exp()` (never `torch.log(softmax)`, which underflows).",
                 "Sum over the classes, average over the batch (batchmean), and average the two directions."])
def check_symmetric_kl_by_hand(fn: SymmetricKL, verbose: bool = True) -> CheckResult:
    """Check the same ``fn(logits_p, logits_q)`` as :func:`check_symmetric_kl`, written without ``F.kl_div``."""
    return _check_symmetric_kl("check_symmetric_kl_by_hand", fn, verbose)


def _check_symmetric_kl(topic: str, fn: SymmetricKL, verbose: bool) -> CheckResult:
    generator = torch.Generator().manual_seed(0)
    batch_logits = (2 * torch.randn(4, 5, generator=generator), 2 * torch.randn(4, 5, generator=generator))
    one_example = (torch.tensor([[2.0, 0.5, -1.0]]), torch.tensor([[0.0, 1.5, 0.5]]))
    confident = (torch.tensor([[0.0, 120.0, 0.0], [3.0, 0.0, 1.0]]), torch.tensor([[120.0, 0.0, 0.0], [0.0, 2.0, 1.0]]))

    swapped = ("the result is NaN: F.kl_div takes log-probabilities first and probabilities second "
               "(F.kl_div(F.log_softmax(q), F.softmax(p)) is KL(P || Q)); did you swap them?")
    underflow = ("the result is NaN for confident logits: log(softmax(...)) underflows to log(0) = -inf; "
                 "compute log-probabilities with F.log_softmax")

    def scalar_value(learner: SymmetricKL, logits_p: torch.Tensor, logits_q: torch.Tensor, nan_hint: str) -> torch.Tensor:
        """The learner's result, checked to be a finite scalar tensor."""
        value = learner(*clone_args(logits_p, logits_q))
        if isinstance(value, float):
            raise Feedback("the result is a Python float: return the tensor itself (no .item()), so that the "
                           "R-Drop loss can be differentiated")
        value = expect_tensor(value, "symmetric KL")
        if value.ndim != 0:
            raise Feedback(f"symmetric KL has shape {tuple(value.shape)}: reduce it to a scalar, the mean "
                           "per-example KL (reduction='batchmean')")
        if torch.isnan(value.detach()):
            raise Feedback(nan_hint)
        if torch.isinf(value.detach()):
            raise Feedback("the result is infinite: log(softmax(...)) underflows to log(0) for confident "
                           "logits; compute log-probabilities with F.log_softmax")
        return value

    def value_case(logits_p: torch.Tensor, logits_q: torch.Tensor, nan_hint: str) -> Callable[[SymmetricKL], None]:
        def run(learner: SymmetricKL) -> None:
            value = scalar_value(learner, logits_p, logits_q, nan_hint)
            expected = symmetric_kl(logits_p, logits_q, reduction="batchmean")
            expect_close(value, expected, what="symmetric KL", known_bugs=_classic_bugs(logits_p, logits_q))
        return run

    def zero_for_equal_logits(learner: SymmetricKL) -> None:
        logits = batch_logits[0]
        value = scalar_value(learner, logits, logits, swapped)
        if value.item() < -1e-6:
            raise Feedback(f"the result is negative ({value.item():.4g}), and a KL divergence never is: "
                           "F.kl_div's first argument must be log-probabilities (F.log_softmax)")
        expect_close(value, torch.tensor(0.0), what="symmetric KL of a distribution with itself", atol=1e-6)

    def keeps_gradient(learner: SymmetricKL) -> None:
        logits_p = batch_logits[0].clone().requires_grad_()
        value = scalar_value(learner, logits_p, batch_logits[1], swapped)
        if not value.requires_grad:
            raise Feedback("the result carries no gradient: keep it a tensor (no .item(), .detach() or NumPy), "
                           "so that the R-Drop loss can be minimised")
        value.backward()
        expected = batch_logits[0].clone().requires_grad_()
        symmetric_kl(expected, batch_logits[1]).backward()
        expect_close(logits_p.grad, expected.grad, what="gradient with respect to logits_p")

    cases = [
        ("4 examples, 5 classes", value_case(*batch_logits, swapped)),
        ("one example, 3 classes", value_case(*one_example, swapped)),
        ("zero for identical logits", zero_for_equal_logits),
        ("very confident logits stay finite", value_case(*confident, underflow)),
        ("the result is differentiable", keeps_gradient),
    ]
    return run_check(topic, fn, cases, verbose)
