"""Checkers for the exercises of chapter 08: the KL divergence, R-Drop's symmetric KL and its training step.

Exercises 2 and 3 check ``fn(logits_p, logits_q)``, the batchmean symmetric KL. Calls of
``F.kl_div`` made while the learner's function runs are recorded, so that a NaN is traced to its
cause (probabilities passed first, or log-probabilities passed as the target without
``log_target=True``) instead of guessed. Exercise 6 runs the learner's R-Drop training step next
to a reference step from the same seeds and compares the parameters after it; the classic
mistakes are recognised by the parameters they produce.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..rdrop import symmetric_kl
from ._framework import CheckResult, Feedback, clone_args, expect_close, expect_derived, expect_tensor, run_check
from ._registry import exercise

HINT_SWAPPED = ("the result is NaN: you passed probabilities as F.kl_div's first argument and log-probabilities as "
                "its second; F.kl_div takes log-probabilities first and probabilities second "
                "(F.kl_div(F.log_softmax(q), F.softmax(p)) is KL(P || Q)): did you swap them?")
HINT_LOG_TARGET = ("the result is NaN: you passed log-probabilities as F.kl_div's target (second argument) without "
                   "log_target=True, so F.kl_div took them for probabilities and computed log of a negative number; "
                   "pass log_target=True, or pass probabilities (F.softmax) as the target")
HINT_NO_GRAD_Q = ("no gradient reaches logits_q: R-Drop trains both passes through the KL term; a .detach() (or "
                  "torch.no_grad) on one side turns it into a one-sided teacher-student penalty")
HINT_NO_GRAD_P = ("no gradient reaches logits_p: R-Drop trains both passes through the KL term; a .detach() (or "
                  "torch.no_grad) on one side turns it into a one-sided teacher-student penalty")


@contextlib.contextmanager
def _recording_kl_div() -> Iterator[list[dict[str, Any]]]:
    """Record every call of ``torch.nn.functional.kl_div`` (its input, target and log_target) meanwhile."""
    calls: list[dict[str, Any]] = []
    original = F.kl_div

    def recording(input: torch.Tensor, target: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        log_target = kwargs.get("log_target", args[4] if len(args) > 4 else False)
        if isinstance(input, torch.Tensor) and isinstance(target, torch.Tensor):
            calls.append({"input": input.detach(), "target": target.detach(), "log_target": bool(log_target)})
        return original(input, target, *args, **kwargs)

    F.kl_div = recording
    try:
        yield calls
    finally:
        F.kl_div = original


def _looks_like(t: torch.Tensor) -> str:
    """"probabilities", "log-probabilities" or "other", for the rows of a tensor."""
    t = t.double()
    if (t >= 0).all() and torch.allclose(t.sum(-1), torch.ones(()).double(), atol=1e-4):
        return "probabilities"
    if (t <= 0).all() and torch.allclose(t.logsumexp(-1), torch.zeros(()).double(), atol=1e-4):
        return "log-probabilities"
    return "other"


def _nan_cause(calls: list[dict[str, Any]]) -> str | None:
    """The hint for a NaN that a recorded F.kl_div call explains, if one does."""
    for call in calls:
        target_kind = _looks_like(call["target"])
        if call["log_target"] or target_kind != "log-probabilities":
            continue
        input_kind = _looks_like(call["input"])
        if input_kind == "probabilities":
            return HINT_SWAPPED
        if input_kind == "log-probabilities":
            return HINT_LOG_TARGET
    return None

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


@exercise(chapter='08_rdrop', number=2, title='the symmetric KL with `F.kl_div`', stars=2, kind='implement', practises="F.kl_div's argument order and reductions",
          hints=['`F.kl_div(input, target)` computes KL(target || input) and wants `input` as log-probabilities: pass `F.log_softmax(logits, dim=-1)`.',
                 "KL(P || Q) is `F.kl_div(log_q, log_p, reduction='batchmean', log_target=True)`; average it with the other direction."])
def check_symmetric_kl(fn: SymmetricKL, verbose: bool = True) -> CheckResult:
    """Check ``fn(logits_p, logits_q) -> 1/2 (KL(P || Q) + KL(Q || P))``, batchmean, as a scalar tensor."""
    return _check_symmetric_kl("check_symmetric_kl", fn, verbose)


@exercise(chapter="08_rdrop", number=3, title="without `F.kl_div`", stars=2, kind="implement",
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

    swapped = ("the result is NaN: F.kl_div takes log-probabilities first, and probabilities second unless "
               "log_target=True; check both arguments")
    underflow = ("the result is NaN for confident logits: log(softmax(...)) underflows to log(0) = -inf; "
                 "compute log-probabilities with F.log_softmax")

    def scalar_value(learner: SymmetricKL, logits_p: torch.Tensor, logits_q: torch.Tensor, nan_hint: str) -> torch.Tensor:
        """The learner's result, checked to be a finite scalar tensor."""
        with _recording_kl_div() as calls:
            value = learner(*clone_args(logits_p, logits_q))
        if isinstance(value, torch.Tensor) and value.numel() == 1 and torch.isnan(value.detach()).any():
            cause = _nan_cause(calls)
            if cause is not None:
                raise Feedback(cause)
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
        if logits_p.grad is None or not logits_p.grad.abs().sum() > 0:
            raise Feedback(HINT_NO_GRAD_P)
        expect_close(logits_p.grad, expected.grad, what="gradient with respect to logits_p")

    def gradient_to_both_passes(learner: SymmetricKL) -> None:
        logits_q = batch_logits[1].clone().requires_grad_()
        value = scalar_value(learner, batch_logits[0], logits_q, swapped)
        if not value.requires_grad:
            raise Feedback(HINT_NO_GRAD_Q)
        value.backward()
        if logits_q.grad is None or not logits_q.grad.abs().sum() > 0:
            raise Feedback(HINT_NO_GRAD_Q)
        expected = batch_logits[1].clone().requires_grad_()
        symmetric_kl(batch_logits[0], expected).backward()
        expect_close(logits_q.grad, expected.grad, what="gradient with respect to logits_q")

    cases = [
        ("4 examples, 5 classes", value_case(*batch_logits, swapped)),
        ("one example, 3 classes", value_case(*one_example, swapped)),
        ("zero for identical logits", zero_for_equal_logits),
        ("very confident logits stay finite", value_case(*confident, underflow)),
        ("the result is differentiable", keeps_gradient),
        ("gradients reach both passes: logits_q too", gradient_to_both_passes),
    ]
    return run_check(topic, fn, cases, verbose)


# --------------------------------------------------------------------------------------------
# Exercise 1: a KL divergence by hand (derive)
# --------------------------------------------------------------------------------------------

KL_P = (0.7, 0.2, 0.1)
KL_Q = (0.2, 0.5, 0.3)


def _kl(p: Sequence[float], q: Sequence[float], log: Callable[[float], float] = math.log) -> float:
    return sum(a * (log(a) - log(b)) for a, b in zip(p, q))


@exercise(chapter="08_rdrop", number=1, title="a KL divergence by hand", stars=1, kind="derive",
          practises="the definition of KL(P || Q): which distribution weighs the log-ratios, natural logarithms",
          hints=["KL(P || Q) = sum_c P_c log(P_c / Q_c): the weights are P's probabilities, the log-ratio has P on top.",
                 "Use the natural logarithm (math.log): the chapter measures KL in nats."])
def check_kl_value(kl: Any, verbose: bool = True) -> CheckResult:
    """Check ``KL(P || Q)`` in nats for ``P = (0.7, 0.2, 0.1)`` and ``Q = (0.2, 0.5, 0.3)``, entered as a number."""
    right = _kl(KL_P, KL_Q)
    bugs = {
        "that is KL(Q || P): the divergence of Q from P weighs the log-ratios by P, sum_c P_c log(P_c / Q_c)":
            _kl(KL_Q, KL_P),
        "that is in bits (log base 2): the chapter measures KL in nats, with the natural logarithm": _kl(KL_P, KL_Q, math.log2),
        "that is the cross-entropy H(P, Q) = -sum_c P_c log Q_c; KL subtracts the entropy H(P) from it":
            -sum(a * math.log(b) for a, b in zip(KL_P, KL_Q)),
        "the sign is flipped: log(Q_c / P_c) instead of log(P_c / Q_c); a KL divergence is never negative": -right,
        "that is the symmetric KL 1/2 (KL(P || Q) + KL(Q || P)), which R-Drop uses; the exercise asks for KL(P || Q)":
            0.5 * (right + _kl(KL_Q, KL_P)),
        "each term is P_c log(P_c / Q_c): you left out the weight P_c": sum(math.log(a / b) for a, b in zip(KL_P, KL_Q)),
    }

    def value(answer: Any) -> None:
        expect_derived(answer, right, what="KL(P || Q)", known_bugs=bugs, rtol=1e-4)

    return run_check("check_kl_value", kl, [("KL(P || Q) for P = (0.7, 0.2, 0.1), Q = (0.2, 0.5, 0.3), in nats", value)],
                     verbose, expects="value")


# --------------------------------------------------------------------------------------------
# Exercise 4: alpha under the README snippet's convention, for sequences (derive)
# --------------------------------------------------------------------------------------------

AlphaConversion = Callable[[float, int, int], float]


@exercise(chapter="08_rdrop", number=4, title="the same alpha for sequences", stars=2, kind="derive",
          practises="how a reduction rescales the weight of a loss term",
          hints=["Write both losses for one batch: the snippet's CE is a mean over all tokens, its KL a sum over all "
                 "tokens; this course's CE and KL are both means over the tokens.",
                 "A sum over N tokens is N times the mean over them: equate the two alpha terms."])
def check_alpha_for_sequences(alpha_course: AlphaConversion, verbose: bool = True) -> CheckResult:
    """Check ``alpha_course(alpha_snippet, batch, length) -> float``: this course's alpha for the snippet's alpha."""
    cases = []
    for alpha, batch, length in ((1.0, 32, 20), (0.5, 8, 50), (4.0, 3, 7), (2.0, 16, 3)):
        def value(fn: AlphaConversion, alpha: float = alpha, batch: int = batch, length: int = length) -> None:
            answer = fn(alpha, batch, length)
            tokens = batch * length
            bugs = {
                "that is alpha times the number of sentences: the snippet sums the KL over every token, "
                "batch x length of them": alpha * batch,
                "that is alpha times the length: the KL is summed over the sentences too": alpha * length,
                "you divided by the number of tokens: a sum is larger than a mean, so this course's alpha must be "
                "larger to weigh the same": alpha / tokens,
                "the snippet's loss already averages the two cross-entropies like ours: no factor 1/2": alpha * tokens / 2,
                "the snippet's KL is a sum over tokens, ours a mean: alpha must change": alpha,
            }
            expect_derived(answer, alpha * tokens, what=f"alpha_course({alpha:g}, {batch}, {length})", known_bugs=bugs)
        cases.append((f"alpha = {alpha:g}, {batch} sentences of {length} tokens", value))
    return run_check("check_alpha_for_sequences", alpha_course, cases, verbose)


# --------------------------------------------------------------------------------------------
# Exercise 5: consistency on the training images (predict)
# --------------------------------------------------------------------------------------------

CONSISTENCY_CHOICES = ("lower", "about the same", "higher")
#: Ratios of training to test consistency KL within which the two count as "about the same".
SAME_RATIO = (0.8, 1.25)


@exercise(chapter="08_rdrop", number=5, title="consistency on the training images", stars=2, kind="predict",
          practises="what the consistency KL measures, and how fitting the training set shapes it",
          hints=["The consistency KL compares the class distributions of two dropout passes: confident predictions "
                 "that put almost all mass on one class leave little room for disagreement.",
                 "The cross-entropy model fits about 99 % of its 1,000 training images; how confident is it on them, "
                 "compared with images it has never seen?"])
def check_consistency_prediction(prediction: Any, train: Sequence[float], test: Sequence[float],
                                 verbose: bool = True) -> CheckResult:
    """Compare ``prediction`` ("lower", "about the same", "higher") with the measured consistency KLs.

    ``train`` and ``test`` hold the consistency KL of the cross-entropy models (one per seed) on the
    training and on the test images; the prediction is about the first relative to the second.
    """
    train, test = [float(v) for v in train], [float(v) for v in test]
    if len(train) != len(test) or not train:
        raise ValueError(f"train and test must hold one consistency KL per model, got {len(train)} and {len(test)}")
    ratio = sum(train) / sum(test)
    measured = "lower" if ratio < SAME_RATIO[0] else "higher" if ratio > SAME_RATIO[1] else "about the same"
    why = {
        "lower": "the network fitted its training images, and fits them confidently: most of the mass of both passes "
                 "sits on the right class, which leaves the sub-networks little to disagree about; on unseen images "
                 "they are less sure, and their dropout masks lead them apart. The consistency KL that matters for "
                 "R-Drop is the one on unseen data",
        "higher": "the sub-networks disagreed more on the images they were trained on",
        "about the same": "the sub-networks disagreed about as much on seen as on unseen images",
    }[measured]
    reports: list[str] = []

    def compare(answer: Any) -> None:
        if not isinstance(answer, str) or answer.strip().lower() not in CONSISTENCY_CHOICES:
            raise Feedback(f"the prediction must be one of {', '.join(repr(c) for c in CONSISTENCY_CHOICES)}, got {answer!r}")
        report = (f"measured over {len(train)} models: {sum(train) / len(train):.4f} nats on the training images "
                  f"against {sum(test) / len(test):.4f} on the test images, a ratio of {ratio:.2f} ({measured}): {why}")
        if answer.strip().lower() != measured:
            raise Feedback(f"you predicted {answer.strip().lower()!r}; {report}")
        reports.append(report)

    result = run_check("check_consistency_prediction", prediction,
                       [("consistency KL on the training images against the test images", compare)], verbose,
                       expects="value")
    if verbose and reports:
        print(reports[0][0].upper() + reports[0][1:])
    return result


# --------------------------------------------------------------------------------------------
# Exercise 6: one R-Drop training step (implement, end to end)
# --------------------------------------------------------------------------------------------

RDropStep = Callable[[nn.Module, torch.optim.Optimizer, torch.Tensor, torch.Tensor, float], Any]
_STEP_LR = 0.5


def _step_model(seed: int) -> nn.Module:
    from ..models import mlp

    torch.manual_seed(seed)
    return mlp([6, 16, 16, 3], (0.3, 0.3)).double().train()


def _step_batch(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(8, 6, generator=generator, dtype=torch.float64), torch.randint(0, 3, (8,), generator=generator)


def _two_passes(model: nn.Module, x: torch.Tensor, concatenated: bool) -> tuple[torch.Tensor, torch.Tensor]:
    if concatenated:
        logits = model(torch.cat([x, x]))
        return logits[:len(x)], logits[len(x):]
    return model(x), model(x)


def _reference_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                    alpha: float, concatenated: bool, bug: str | None = None) -> float:
    """The right step (``bug=None``), or the step with one classic mistake."""
    if bug != "no zero_grad":
        optimizer.zero_grad()
    if bug == "evaluation mode":
        model.eval()
    if bug == "one pass":
        logits1 = model(x)
        logits2 = logits1
    else:
        logits1, logits2 = _two_passes(model, x, concatenated)
    if bug == "detached second pass":
        logits2 = logits2.detach()
    ce1, ce2 = F.cross_entropy(logits1, y), F.cross_entropy(logits2, y)
    cross_entropy = {"first CE only": ce1, "CE summed": ce1 + ce2}.get(bug or "", 0.5 * (ce1 + ce2))
    log_p, log_q = F.log_softmax(logits1, dim=-1), F.log_softmax(logits2, dim=-1)
    kl_pq = (log_p.exp() * (log_p - log_q)).sum(-1).mean()
    kl_qp = (log_q.exp() * (log_q - log_p)).sum(-1).mean()
    kl = {"KL summed": 0.5 * (kl_pq + kl_qp) * len(x), "one direction": kl_pq}.get(bug or "", 0.5 * (kl_pq + kl_qp))
    loss = cross_entropy + alpha * kl
    loss.backward()
    if bug != "no step":
        optimizer.step()
    if bug == "evaluation mode":
        model.train()
    return loss.item()


STEP_BUGS = {
    "no zero_grad": "the update includes gradients left from before: call optimizer.zero_grad() before backward()",
    "no step": "the parameters did not change: call optimizer.step() after loss.backward()",
    "one pass": ("you used one forward pass for both logits, so the KL term is 0: R-Drop needs two passes with "
                 "independent dropout masks (model(x) twice, or model(cat([x, x])) split in two)"),
    "evaluation mode": ("the model ran in evaluation mode: without dropout both passes are the same and the KL is 0; "
                        "R-Drop's passes run in training mode"),
    "detached second pass": ("no gradient reached the second pass through the KL term (.detach() or torch.no_grad on "
                             "it): R-Drop trains both passes, the KL pulls each towards the other"),
    "first CE only": "the cross-entropy must cover both passes: 1/2 (CE(logits1, y) + CE(logits2, y))",
    "CE summed": ("you added the two cross-entropies (the paper's CE1 + CE2): this course averages them, "
                  "1/2 (CE1 + CE2), so that alpha means the same as in rdrop_loss"),
    "KL summed": "the KL term must be the mean over the batch (batchmean), not the sum over its examples",
    "one direction": "the KL term is symmetric: 1/2 (KL(P1 || P2) + KL(P2 || P1)), not one direction",
}


def _parameters(model: nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return len(a) == len(b) and all(torch.allclose(u, v, atol=1e-7, rtol=1e-6) for u, v in zip(a, b))


def _outcome(alpha: float, seed: int, steps: int, bug: str | None, concatenated: bool) -> tuple[list[torch.Tensor], list[float]]:
    """Parameters after ``steps`` reference steps (with ``bug``) and the losses they returned."""
    model = _step_model(seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=_STEP_LR)
    _stale_gradients(model)
    losses = []
    for step in range(steps):
        x, y = _step_batch(seed + step)
        torch.manual_seed(1000 * seed + step)
        losses.append(_reference_step(model, optimizer, x, y, alpha, concatenated, bug))
    return _parameters(model), losses


def _stale_gradients(model: nn.Module) -> None:
    """Gradients left over from an earlier backward pass, which a step must clear first."""
    for parameter in model.parameters():
        parameter.grad = torch.full_like(parameter, 0.1)


@exercise(chapter="08_rdrop", number=6, title="one R-Drop training step", stars=3, kind="implement",
          practises="assembling R-Drop: two dropout passes, both cross-entropies, the symmetric KL, one optimizer step",
          hints=["Clear the gradients, run the model twice on x in training mode (two calls, or one call on "
                 "torch.cat([x, x]) split in two), and keep both logits in the graph.",
                 "loss = 1/2 (CE(logits1, y) + CE(logits2, y)) + alpha * symmetric KL (batchmean, both directions); "
                 "then loss.backward(), optimizer.step(), and return loss.item()."])
def check_rdrop_step(rdrop_step: RDropStep, verbose: bool = True) -> CheckResult:
    """Check ``rdrop_step(model, optimizer, x, y, alpha) -> float`` (the loss before the update).

    The learner's step runs on a dropout MLP with gradients left over from before, from the same
    torch seed as a reference step; the parameters after it must match the reference's for either
    way of running the two passes (two calls, or one call on the doubled batch).
    """

    def run_learner(fn: RDropStep, alpha: float, seed: int, steps: int) -> tuple[list[torch.Tensor], list[Any]]:
        model = _step_model(seed)
        optimizer = torch.optim.SGD(model.parameters(), lr=_STEP_LR)
        _stale_gradients(model)
        returned = []
        for step in range(steps):
            x, y = _step_batch(seed + step)
            x_copy = x.clone()
            torch.manual_seed(1000 * seed + step)
            returned.append(fn(model, optimizer, x, y, alpha))
            if not torch.equal(x, x_copy):
                raise Feedback("your step changed x in place: leave the batch as it is")
        return _parameters(model), returned

    def diagnose(parameters: list[torch.Tensor], alpha: float, seed: int, steps: int) -> None:
        for concatenated in (True, False):
            if _same(parameters, _outcome(alpha, seed, steps, None, concatenated)[0]):
                return
        matches = [hint for bug, hint in STEP_BUGS.items()
                   if any(_same(parameters, _outcome(alpha, seed, steps, bug, concatenated)[0])
                          for concatenated in (True, False))]
        if len(matches) == 1:
            raise Feedback(matches[0])
        if matches:  # at alpha = 0 some mistakes give the same update: name them all
            raise Feedback("your step gives the update of more than one classic mistake; either "
                           + "; or ".join(matches))
        raise Feedback("the parameters after your step differ from those after a reference R-Drop step from the same "
                       "seed (two calls of the model or one call on torch.cat([x, x]) are both accepted): check each "
                       "part of the loss")

    def one_step(alpha: float, seed: int) -> Callable[[RDropStep], None]:
        def run(fn: RDropStep) -> None:
            parameters, returned = run_learner(fn, alpha, seed, 1)
            diagnose(parameters, alpha, seed, 1)
            value = returned[0]
            if value is None:
                raise Feedback("the step returned None: return the loss (loss.item())")
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                value = value.item()
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise Feedback(f"the step must return the loss as a number, got {type(value).__name__}")
            losses = [_outcome(alpha, seed, 1, None, concatenated)[1][0] for concatenated in (True, False)]
            if not any(math.isclose(value, loss, rel_tol=1e-6, abs_tol=1e-9) for loss in losses):
                raise Feedback(f"the step returned {value:.6g}, which is not the R-Drop loss it minimised: return "
                               "loss.item(), the value before the update")
        return run

    def three_steps(fn: RDropStep) -> None:
        parameters, _ = run_learner(fn, 1.0, 3, 3)
        diagnose(parameters, 1.0, 3, 3)

    cases = [
        ("one step, alpha = 1: parameters and returned loss as the reference's", one_step(1.0, 0)),
        ("one step, alpha = 4", one_step(4.0, 1)),
        ("alpha = 0: two passes, cross-entropy only", one_step(0.0, 2)),
        ("three steps in a row match three reference steps", three_steps),
    ]
    return run_check("check_rdrop_step", rdrop_step, cases, verbose)
