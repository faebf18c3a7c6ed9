"""Checkers for the exercises of chapter 07: DropConnect's moments, forward pass, inference and training.

Exercise 2: the learner writes ``dropconnect_forward(x, weight, bias, p, generator)`` returning
``y_b = ((M_b * W) x_b + m_b * b) / (1 - p)`` with ``M_b, m_b ~ Bernoulli(1 - p)`` drawn from
``generator`` for every example ``b``. The masks are random, so most cases are statistical: the
function is run on one batch made of thousands of copies of two inputs, and the mean, variance and
correlation of its outputs are compared with the formulas, within 5 standard errors. A classic
bug moves one of them by far more than that, and its own prediction tells which bug it is. Exact
cases add what statistics cannot see: every output is one that some 0/1 mask produces (Gaussian
noise of the same mean and variance is not DropConnect), the generator argument is the only source
of randomness, the arguments are left unchanged and gradients reach ``x``, the weight and the bias.

Exercises 1 and 3 are derivations entered as numbers (never printed back); exercise 4 compares a
prediction with what the chapter measured; exercise 5 checks a learner's DropConnect layer, then
trains it on the MNIST subset.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ._framework import CheckResult, Feedback, clone_args, expect_close, expect_derived, expect_tensor, run_check
from ._registry import exercise

#: How many standard errors an estimate may be from its prediction.
Z_LIMIT = 5.0
#: Copies of each input in the statistical cases.
COPIES = 4000

DropConnectForward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, torch.Generator], torch.Tensor]

_INPUTS = torch.tensor([[1.0, -0.5, 2.0, 0.8, -1.2, 1.5],
                        [-0.7, 1.4, 0.3, -1.6, 0.9, 1.1]])
_WEIGHT = torch.tensor([[0.6, -0.4, 0.5, 0.3, -0.6, 0.4],
                        [0.5, -0.6, 0.3, 0.5, -0.3, 0.6],
                        [-0.4, 0.3, 0.6, -0.5, 0.4, -0.3],
                        [0.3, 0.5, -0.4, -0.6, 0.5, 0.4]])
_BIAS = torch.tensor([1.2, -1.0, 0.8, -1.4])
_SMALL_X = torch.tensor([[1.3, -0.7]])

HINT_SHARED = ("every example got the same mask: draw a fresh mask for each example, "
               "weight mask of shape (batch, out, in) and bias mask of shape (batch, out)")
HINT_NO_RESCALE = "divide the result by 1 - p (the keep probability), so that its mean stays x @ W.T + b"
HINT_KEEP_P = ("you kept each weight with probability p: p is the DROP probability, "
               "keep a weight with probability 1 - p (mask = torch.rand(...) >= p, or < 1 - p)")
HINT_MULTIPLY = "you multiplied by 1 - p: divide by 1 - p instead (upscale in training)"
HINT_DIVIDE_P = "you divided by p: divide by the keep probability 1 - p"
HINT_BIAS = ("the bias must be masked too: draw a mask of shape (batch, out) for it and "
             "add bias_mask * bias before dividing by 1 - p")
HINT_OUTPUTS = ("you masked the outputs (one entry per example and output): that is dropout on the layer's "
                "units; DropConnect masks each weight, with a mask of shape (batch, out, in)")
HINT_INPUTS = ("the outputs are correlated: you masked the inputs (one entry per input feature, shared "
               "by all outputs), which is dropout on x; DropConnect draws one entry per weight, shape (batch, out, in)")
HINT_GENERATOR = ("two calls with generators seeded alike gave different results: draw every random number "
                  "from the generator argument (torch.rand(..., generator=generator))")
HINT_OWN_GENERATOR = ("generators seeded differently gave the same masks: you draw from a generator (or a seed) of "
                      "your own; draw every random number from the generator argument")
HINT_NOT_A_MASK = ("each output takes more different values than 0/1 masks can produce: DropConnect multiplies "
                   "every weight and bias by 0 or 1 (then divides by 1 - p); adding noise of the same mean and "
                   "variance, as the paper's Gaussian inference does, is not the training-time masking")
HINT_IN_PLACE = ("your function changed its argument {name} in place (a masked or rescaled weight written back): "
                 "build new tensors (weight_mask * weight) instead of mul_ / *=")
HINT_GRADIENT = ("no gradient reaches {name}: the masked product must stay in the autograd graph "
                 "(no torch.no_grad, .detach() or .data)")
HINT_DTYPE = "float64 inputs gave a {dtype} output: keep the inputs' dtype (no .float())"


def _moments(x: torch.Tensor, p: float) -> dict[str, torch.Tensor]:
    """The ingredients of every prediction, per input (rows) and output (columns)."""
    weight_x = x @ _WEIGHT.T
    return {"mean": weight_x + _BIAS, "weight_x": weight_x, "weights_sq": x.square() @ _WEIGHT.square().T,
            "bias_sq": _BIAS.square().expand_as(weight_x), "q": torch.tensor(1 - p), "r": torch.tensor(p / (1 - p))}


def _sample(fn: DropConnectForward, p: float, seed: int) -> torch.Tensor:
    """The learner's outputs for COPIES interleaved copies of each input, as (copies, inputs, out)."""
    x = _INPUTS.repeat(COPIES, 1)
    generator = torch.Generator().manual_seed(seed)
    y = expect_tensor(fn(*clone_args(x, _WEIGHT, _BIAS), p, generator), "the output")
    if tuple(y.shape) != (len(x), _WEIGHT.shape[0]):
        raise Feedback(f"the output has shape {tuple(y.shape)} for x of shape {tuple(x.shape)} and weight of "
                       f"shape {tuple(_WEIGHT.shape)}, expected (batch, out) = {(len(x), _WEIGHT.shape[0])}")
    y = y.detach().double().cpu()
    if not torch.isfinite(y).all():
        raise Feedback("the output contains NaN or infinite values")
    y = y.reshape(COPIES, len(_INPUTS), -1)
    if torch.equal(y, y[:1].expand_as(y)):
        raise Feedback(HINT_SHARED)
    return y


def _compare(what: str, estimate: torch.Tensor, error: torch.Tensor, expected: torch.Tensor,
             bugs: dict[str, torch.Tensor]) -> None:
    """Pass when every entry is within Z_LIMIT standard errors of ``expected``; else name the bug."""
    error = error.clamp_min(1e-12)
    if ((estimate - expected).abs() <= Z_LIMIT * error).all():
        return
    for hint, prediction in bugs.items():
        if ((estimate - prediction).abs() <= Z_LIMIT * error).all():
            raise Feedback(hint)
    z = (estimate - expected).abs() / error
    row, col = (int(i) for i in torch.unravel_index(z.argmax(), z.shape))
    raise Feedback(f"the {what} of output {col} for input {row} is {estimate[row, col]:.4g} over {COPIES} masks, "
                   f"expected {expected[row, col]:.4g} ± {error[row, col]:.2g}")


def _mean_case(fn: DropConnectForward) -> None:
    p = 0.3
    y, m = _sample(fn, p, seed=2), _moments(_INPUTS, p)
    q, mean = m["q"], m["mean"]
    _compare("mean", y.mean(0), (y.var(0) / COPIES).sqrt(), mean, {
        HINT_NO_RESCALE: q * mean,
        HINT_KEEP_P: (1 - q) / q * mean,
        HINT_MULTIPLY: q * q * mean,
        HINT_DIVIDE_P: q / (1 - q) * mean,
        HINT_BIAS: m["weight_x"] + _BIAS / q,
    })


def _variance_case(fn: DropConnectForward) -> None:
    p = 0.3
    y, m = _sample(fn, p, seed=3), _moments(_INPUTS, p)
    q, r = m["q"], m["r"]
    variance = y.var(0)
    fourth = (y - y.mean(0)).pow(4).mean(0)
    error = ((fourth - variance.square()).clamp_min(0) / COPIES).sqrt()
    full = m["weights_sq"] + m["bias_sq"]
    _compare("variance", variance, error, r * full, {
        HINT_BIAS: r * m["weights_sq"],
        HINT_OUTPUTS: r * m["mean"].square(),
        HINT_NO_RESCALE: q * q * r * full,
        HINT_MULTIPLY: q ** 4 * r * full,
        HINT_DIVIDE_P: q / (1 - q) * full,
    })


def _correlation_case(fn: DropConnectForward) -> None:
    y = _sample(fn, 0.5, seed=4)
    for row in range(len(_INPUTS)):
        correlation = torch.corrcoef(y[:, row].T)
        off_diagonal = correlation[~torch.eye(len(correlation), dtype=torch.bool)]
        if off_diagonal.abs().max() > Z_LIMIT / COPIES ** 0.5:
            raise Feedback(HINT_INPUTS)


@exercise(chapter='07_dropconnect', number=2, title='a DropConnect forward pass', stars=2, kind='implement', practises='per-example weight masks drawn from a given generator',
          hints=["Every example b needs its own mask M_b of the weight's shape (out, in) and m_b of the bias's shape, drawn with `torch.rand(..., generator=generator)`.",
                 "With masks of shape (batch, out, in), `torch.einsum('boi,bi->bo', masks * weight, x)` gives each example's masked product; add m_b * bias and divide by 1 - p."])
def check_dropconnect_forward(dropconnect_forward: DropConnectForward, verbose: bool = True) -> CheckResult:
    """Check ``dropconnect_forward(x, weight, bias, p, generator) -> Tensor``.

    Expected: ``y_b = ((M_b * W) x_b + m_b * b) / (1 - p)`` for every row ``x_b`` of ``x`` (shape
    ``(batch, in)``), with ``M_b ~ Bernoulli(1 - p)`` of shape ``(out, in)`` and ``m_b`` of shape
    ``(out,)`` drawn afresh for each example from ``generator``; ``p`` is the drop probability.
    """

    def keeps_everything_at_p0(fn: DropConnectForward) -> None:
        x = _INPUTS.clone()
        result = fn(*clone_args(x, _WEIGHT, _BIAS), 0.0, torch.Generator().manual_seed(0))
        expect_close(result, x @ _WEIGHT.T + _BIAS, what="the output at p = 0", known_bugs={
            HINT_KEEP_P: torch.zeros(len(x), _WEIGHT.shape[0]),
            "the bias is missing: add bias_mask * bias": x @ _WEIGHT.T,
        })

    def fresh_mask_per_example(fn: DropConnectForward) -> None:
        x = _INPUTS[:1].repeat(64, 1)
        y = expect_tensor(fn(*clone_args(x, _WEIGHT, _BIAS), 0.5, torch.Generator().manual_seed(1)), "the output")
        if tuple(y.shape) != (64, _WEIGHT.shape[0]):
            raise Feedback(f"the output has shape {tuple(y.shape)}, expected (batch, out) = {(64, _WEIGHT.shape[0])}")
        if torch.equal(y, y[:1].expand_as(y)):
            raise Feedback(HINT_SHARED)

    def reproducible_with_generator(fn: DropConnectForward) -> None:
        x = _INPUTS.repeat(8, 1)
        first = fn(*clone_args(x, _WEIGHT, _BIAS), 0.5, torch.Generator().manual_seed(5))
        second = fn(*clone_args(x, _WEIGHT, _BIAS), 0.5, torch.Generator().manual_seed(5))
        if not torch.equal(expect_tensor(first, "the output"), expect_tensor(second, "the output")):
            raise Feedback(HINT_GENERATOR)

    def values_of_some_mask(fn: DropConnectForward) -> None:
        # Two inputs and a bias: each output can take at most 2^3 values, one per mask of its row.
        x, weight, bias, p = _SMALL_X.repeat(2000, 1), _WEIGHT[:3, :2], _BIAS[:3], 0.5
        y = expect_tensor(fn(*clone_args(x, weight, bias), p, torch.Generator().manual_seed(6)), "the output")
        if tuple(y.shape) != (len(x), 3):
            raise Feedback(f"the output has shape {tuple(y.shape)}, expected (batch, out) = {(len(x), 3)}")
        y = y.detach().double().cpu()
        masks = torch.tensor([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)], dtype=torch.float64)
        terms = torch.cat([weight.double() * _SMALL_X.double(), bias.double()[:, None]], dim=1)  # (out, 3)
        possible = masks @ terms.T / (1 - p)  # (8 masks, out)
        for out in range(3):
            distinct = torch.unique(y[:, out].round(decimals=5))
            if len(distinct) > 2 * len(masks):  # float rounding may split a value in two
                raise Feedback(HINT_NOT_A_MASK)
            gap = (y[:, out, None] - possible[None, :, out]).abs().min(dim=1).values.max().item()
            if gap > 1e-4:
                raise Feedback(f"output {out} takes a value that no 0/1 mask of its weights and bias gives "
                               f"((M * W) x + m * b) / (1 - p) (off by {gap:.3g}): check the mask and the scaling")

    def different_seeds_different_masks(fn: DropConnectForward) -> None:
        x = _INPUTS.repeat(8, 1)
        first = fn(*clone_args(x, _WEIGHT, _BIAS), 0.5, torch.Generator().manual_seed(7))
        second = fn(*clone_args(x, _WEIGHT, _BIAS), 0.5, torch.Generator().manual_seed(8))
        if torch.equal(expect_tensor(first, "the output"), expect_tensor(second, "the output")):
            raise Feedback(HINT_OWN_GENERATOR)

    def leaves_arguments_and_dtype(fn: DropConnectForward) -> None:
        x, weight, bias = _INPUTS.double(), _WEIGHT.double(), _BIAS.double()
        originals = {"x": x.clone(), "weight": weight.clone(), "bias": bias.clone()}
        y = expect_tensor(fn(x, weight, bias, 0.5, torch.Generator().manual_seed(9)), "the output")
        for name, value in (("x", x), ("weight", weight), ("bias", bias)):
            if not torch.equal(value, originals[name]):
                raise Feedback(HINT_IN_PLACE.format(name=name))
        if y.dtype != torch.float64:
            raise Feedback(HINT_DTYPE.format(dtype=y.dtype))

    def gradients_flow(fn: DropConnectForward) -> None:
        x, weight, bias = (t.clone().requires_grad_() for t in (_INPUTS, _WEIGHT, _BIAS))
        y = expect_tensor(fn(x, weight, bias, 0.3, torch.Generator().manual_seed(10)), "the output")
        if not y.requires_grad:
            raise Feedback(HINT_GRADIENT.format(name="x, the weight or the bias"))
        y.sum().backward()
        for name, value in (("x", x), ("the weight", weight), ("the bias", bias)):
            if value.grad is None or not value.grad.abs().sum() > 0:
                raise Feedback(HINT_GRADIENT.format(name=name))

    cases = [
        ("p = 0 keeps every weight: x @ W.T + b", keeps_everything_at_p0),
        ("a fresh mask for every example", fresh_mask_per_example),
        ("mean over many masks: x @ W.T + b", _mean_case),
        ("variance: p / (1 - p) ((W*W)(x*x) + b*b), every weight and bias masked", _variance_case),
        ("outputs uncorrelated: one mask entry per weight", _correlation_case),
        ("every output is one that a 0/1 mask gives", values_of_some_mask),
        ("the same generator seed gives the same result", reproducible_with_generator),
        ("different generator seeds give different masks", different_seeds_different_masks),
        ("the arguments are left unchanged, float64 stays float64", leaves_arguments_and_dtype),
        ("gradients reach x, the weight and the bias", gradients_flow),
    ]
    return run_check("check_dropconnect_forward", dropconnect_forward, cases, verbose)


# --------------------------------------------------------------------------------------------
# Exercise 1: the variance of a pre-activation (derive)
# --------------------------------------------------------------------------------------------

#: The unit of exercises 1 and 3: inputs x, the weights w of its row, the drop probability p.
UNIT_X = (2.0, -1.0, 0.5)
UNIT_W = (0.5, 1.0, -2.0)
UNIT_P = 0.3
UNIT_BIAS = {1: 1.0, 3: 1.5}  # exercise number -> bias


def _unit_terms(bias: float) -> tuple[float, float, float]:
    """(sum_j w_j^2 x_j^2, b^2, w . x + b) of the exercises' unit."""
    squares = sum(w * w * x * x for w, x in zip(UNIT_W, UNIT_X))
    return squares, bias * bias, sum(w * x for w, x in zip(UNIT_W, UNIT_X)) + bias


def _variance_bugs(p: float, bias: float) -> dict[str, float]:
    """The variance each classic mistake gives, keyed by the feedback it deserves."""
    squares, bias_sq, mean = _unit_terms(bias)
    ratio = p / (1 - p)
    return {
        "that is the variance without the rescaling by 1 / (1 - p) (the paper's convention, p (1 - p) per term): "
        "dividing u by 1 - p multiplies its variance by 1 / (1 - p)^2": p * (1 - p) * (squares + bias_sq),
        "you divided the variance by 1 - p once: a factor c multiplies a variance by c^2, so p (1 - p) / (1 - p)^2 "
        "= p / (1 - p)": p * (squares + bias_sq),
        "you used (1 - p) / p: p is the DROP probability, a mask entry has variance p (1 - p), and the rescaling "
        "divides by (1 - p)^2": (1 - p) / p * (squares + bias_sq),
        "the bias is masked too: its term b^2 belongs in the sum": ratio * squares,
        "each term of the sum is (w_j x_j)^2: square x_j too": ratio * (sum(w * w * abs(x) for w, x in zip(UNIT_W, UNIT_X))
                                                                         + bias_sq),
        "that is the variance of dropout on the unit's output (one mask for the whole row, p / (1 - p) (w . x + b)^2); "
        "DropConnect masks every weight on its own, so the variances of the terms add": ratio * mean * mean,
        "that is the standard deviation: the exercise asks for the variance": math.sqrt(ratio * (squares + bias_sq)),
    }


@exercise(chapter="07_dropconnect", number=1, title="the variance of a pre-activation", stars=1, kind="derive",
          practises="the mean and variance of a sum of independently masked terms, with the 1 / (1 - p) rescaling",
          hints=["u = (sum_j M_j w_j x_j + m b) / (1 - p) is a sum of independent terms: their variances add.",
                 "A mask entry has variance p (1 - p); a term c M has variance c^2 p (1 - p); dividing by 1 - p "
                 "multiplies a variance by 1 / (1 - p)^2. Do not forget the bias."])
def check_dropconnect_variance(variance: Any, verbose: bool = True) -> CheckResult:
    """Check the variance of the unit ``u = ((m * w) . x + m_b b) / (1 - p)`` of exercise 1, entered as a number."""
    p, bias = UNIT_P, UNIT_BIAS[1]
    squares, bias_sq, _ = _unit_terms(bias)

    def value(answer: Any) -> None:
        expect_derived(answer, p / (1 - p) * (squares + bias_sq), what="Var[u]", known_bugs=_variance_bugs(p, bias))

    return run_check("check_dropconnect_variance", variance,
                     [("Var[u] for x = (2, -1, 0.5), w = (0.5, 1, -2), b = 1, p = 0.3", value)], verbose,
                     expects="value")


# --------------------------------------------------------------------------------------------
# Exercise 3: the average ReLU output under Gaussian moment matching (derive)
# --------------------------------------------------------------------------------------------


def _relu_gaussian(mean: float, variance: float) -> float:
    """E[max(0, u)] for u ~ N(mean, variance)."""
    std = math.sqrt(variance)
    z = mean / std
    return mean * 0.5 * (1 + math.erf(z / math.sqrt(2))) + std * math.exp(-z * z / 2) / math.sqrt(2 * math.pi)


@exercise(chapter="07_dropconnect", number=3, title="the Gaussian average of a ReLU unit", stars=2, kind="derive",
          practises="moment matching: the mean and variance of u, then E[max(0, u)] for a Gaussian u",
          hints=["First the moments of u: its mean is w . x + b, its variance p / (1 - p) (sum_j w_j^2 x_j^2 + b^2).",
                 "For u ~ N(mu, sigma^2), E[max(0, u)] = mu Phi(mu / sigma) + sigma phi(mu / sigma): sigma is the "
                 "square root of the variance; Phi(z) = (1 + erf(z / sqrt 2)) / 2, phi(z) = exp(-z^2 / 2) / sqrt(2 pi)."])
def check_relu_gaussian_average(average: Any, verbose: bool = True) -> CheckResult:
    """Check ``E[max(0, u)]`` for the Gaussian with the moments of exercise 3's unit, entered as a number."""
    p, bias = UNIT_P, UNIT_BIAS[3]
    squares, bias_sq, mean = _unit_terms(bias)
    variance = p / (1 - p) * (squares + bias_sq)
    bugs = {
        "that is max(0, mean), the mean pass: the average of max(0, u) over the Gaussian is larger (Jensen's "
        "inequality for the convex ReLU)": max(0.0, mean),
        "you used the variance where the formula wants the standard deviation sigma = sqrt(Var[u])":
            mean * 0.5 * (1 + math.erf(mean / variance / math.sqrt(2))) + variance * math.exp(-(mean / variance) ** 2 / 2)
            / math.sqrt(2 * math.pi),
        "the variance lacks the rescaling by 1 / (1 - p): with the kept weights divided by 1 - p, Var[u] = "
        "p / (1 - p) (sum_j w_j^2 x_j^2 + b^2)": _relu_gaussian(mean, p * (1 - p) * (squares + bias_sq)),
        "the bias is masked too: b^2 belongs in the variance": _relu_gaussian(mean, p / (1 - p) * squares),
        "you used (1 - p) / p in the variance: p is the drop probability": _relu_gaussian(mean, (1 - p) / p * (squares + bias_sq)),
        "the second term is sigma phi(mu / sigma), with the density phi(z) = exp(-z^2 / 2) / sqrt(2 pi), not sigma alone":
            mean * 0.5 * (1 + math.erf(mean / math.sqrt(variance) / math.sqrt(2))) + math.sqrt(variance),
    }

    def value(answer: Any) -> None:
        expect_derived(answer, _relu_gaussian(mean, variance), what="E[max(0, u)]", known_bugs=bugs, rtol=1e-4)

    return run_check("check_relu_gaussian_average", average,
                     [("E[max(0, u)] for x = (2, -1, 0.5), w = (0.5, 1, -2), b = 1.5, p = 0.3", value)], verbose,
                     expects="value")


# --------------------------------------------------------------------------------------------
# Exercise 4: one thinned network against the mean pass (predict)
# --------------------------------------------------------------------------------------------

THINNED_CHOICES = ("lower", "about the same", "higher")
#: Points of test error within which the two passes count as "about the same".
SAME_WITHIN = 0.3


def _errors(values: Any, name: str) -> list[float]:
    try:
        errors = [float(v) for v in values]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a sequence of test errors in percent, got {type(values).__name__}") from None
    if not errors:
        raise ValueError(f"{name} must hold at least one test error, got none")
    return errors


@exercise(chapter="07_dropconnect", number=4, title="one thinned network against the mean pass", stars=2,
          kind="predict", practises="what the deterministic pass averages over, and what one random mask costs",
          hints=["With the masks on, each test digit goes through one random thinned network: half of the layer's "
                 "weights are gone, the rest doubled.",
                 "The mean pass feeds each unit its expected pre-activation; one thinned network adds the noise whose "
                 "variance the chapter derived. Does noise in the hidden layer help or hurt a trained classifier?"])
def check_thinned_network_prediction(prediction: Any, mean_pass: Sequence[float], one_mask: Sequence[float],
                                     verbose: bool = True) -> CheckResult:
    """Compare ``prediction`` ("lower", "about the same", "higher") with the measured test errors.

    ``mean_pass`` and ``one_mask`` hold the test error in percent of the same networks (one per seed)
    with the deterministic pass and with one fresh mask per test digit; the prediction is about the
    second relative to the first, "about the same" meaning within :data:`SAME_WITHIN` points.
    """
    mean_pass, one_mask = _errors(mean_pass, "mean_pass"), _errors(one_mask, "one_mask")
    if len(mean_pass) != len(one_mask):
        raise ValueError(f"mean_pass and one_mask must hold one error per network, got {len(mean_pass)} and {len(one_mask)}")
    gaps = [b - a for a, b in zip(mean_pass, one_mask)]
    gap = sum(gaps) / len(gaps)
    measured = "lower" if gap < -SAME_WITHIN else "higher" if gap > SAME_WITHIN else "about the same"
    why = {
        "higher": "one mask is one random thinned network: each unit's input carries the noise of the dropped weights "
                  "(variance p / (1 - p) sum W^2 v^2), which moves some digits across a decision boundary; the mean "
                  "pass feeds every unit its expected input, an average over all masks that training prepared "
                  "the weights for",
        "lower": "one thinned network classified the test digits better than the mean pass on these networks",
        "about the same": "the noise of one mask barely moved the decisions of these networks",
    }[measured]

    def compare(answer: Any) -> None:
        if not isinstance(answer, str) or answer.strip().lower() not in THINNED_CHOICES:
            raise Feedback(f"the prediction must be one of {', '.join(repr(c) for c in THINNED_CHOICES)}, got {answer!r}")
        report = (f"measured over {len(gaps)} networks: one mask {sum(one_mask) / len(gaps):.2f} % against "
                  f"{sum(mean_pass) / len(gaps):.2f} % test error with the mean pass, a mean difference of "
                  f"{gap:+.2f} points ({measured}): {why}")
        if answer.strip().lower() != measured:
            raise Feedback(f"you predicted {answer.strip().lower()!r}; {report}")
        reports.append(report)

    reports: list[str] = []
    result = run_check("check_thinned_network_prediction", prediction,
                       [("one thinned network against the mean pass", compare)], verbose, expects="value")
    if verbose and reports:
        print(reports[0][0].upper() + reports[0][1:])
    return result


# --------------------------------------------------------------------------------------------
# Exercise 5: a DropConnect layer, trained on the MNIST subset (implement, end to end)
# --------------------------------------------------------------------------------------------

#: Training of the end-to-end case: the chapter's MLP with the learner's layer, a few epochs.
LAYER_EPOCHS = 8
#: The test accuracy the trained network must reach (the reference layer reaches about 0.89).
LAYER_MIN_ACCURACY = 0.80

HINT_PARAMETER = ("{name} is not an nn.Parameter (or is missing): create it as nn.Parameter(...) in __init__ so "
                  "that model.parameters() hands it to the optimizer")
HINT_EVAL_RANDOM = ("in evaluation mode two calls gave different outputs: when not self.training, return the "
                    "deterministic mean pass x @ W.T + b")
HINT_EVAL_DOWNSCALED = ("in evaluation mode you multiplied by 1 - p: the training pass already divides by 1 - p, "
                        "so the evaluation pass is the plain layer x @ W.T + b")
HINT_SAME_MASKS = ("two calls after one torch.manual_seed gave the same masks: you seed a generator of your own in "
                   "forward, so every step trains the same thinned network; draw from torch's global generator "
                   "(torch.rand without a generator, as nn.Dropout does)")
HINT_GRAD_MASK = ("the gradient of a weight must be 0 where its mask dropped it and x_j g_i / (1 - p) where it kept "
                  "it: the weights must be multiplied by a 0/1 mask, then divided by 1 - p")


def _layer_forward(cls: Callable[..., nn.Module], p: float) -> Callable[..., torch.Tensor]:
    """Exercise 2's signature around a fresh layer of the learner's with the checker's weights."""
    def forward(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, p_: float,
                generator: torch.Generator) -> torch.Tensor:
        layer = _build_layer(cls, weight.shape[1], weight.shape[0], p_)
        with torch.no_grad():
            layer.weight.copy_(weight)
            layer.bias.copy_(bias)
        layer.train()
        torch.manual_seed(int(torch.randint(0, 2**31 - 1, (), generator=generator)))
        return layer(x)
    return forward


def _build_layer(cls: Callable[..., nn.Module], in_features: int, out_features: int, p: float) -> nn.Module:
    layer = cls(in_features, out_features, p)
    if not isinstance(layer, nn.Module):
        raise Feedback(f"DropConnectLayer(...) must build an nn.Module, got {type(layer).__name__}")
    parameters = dict(layer.named_parameters())
    for name, shape in (("weight", (out_features, in_features)), ("bias", (out_features,))):
        value = getattr(layer, name, None)
        if name not in parameters or not isinstance(value, nn.Parameter):
            raise Feedback(HINT_PARAMETER.format(name=f"self.{name}"))
        if tuple(value.shape) != shape:
            raise Feedback(f"self.{name} has shape {tuple(value.shape)}, expected {shape} as in nn.Linear "
                           "(weight: (out_features, in_features))")
    return layer


@exercise(chapter="07_dropconnect", number=5, title="a DropConnect layer trained on MNIST", stars=3, kind="implement",
          practises="assembling a DropConnect module (parameters, per-example masks, train and eval modes) and training it",
          hints=["__init__: call super().__init__(), create self.weight = nn.Parameter(...) of shape (out, in) and "
                 "self.bias of shape (out,), initialised like nn.Linear (uniform in +-1/sqrt(in_features)).",
                 "forward: if self.training, draw masks of shape (batch, out, in) and (batch, out) with torch.rand "
                 "(global generator) and return exercise 2's formula; else return F.linear(x, self.weight, self.bias).",
                 "The check then trains 784 -> 128 -> DropConnectLayer(128, 64, p=0.5) -> 10 for "
                 f"{LAYER_EPOCHS} epochs on the 1,000 digits: a layer that passes the other cases trains."])
def check_dropconnect_layer(layer_class: Callable[..., nn.Module], verbose: bool = True) -> CheckResult:
    """Check ``DropConnectLayer(in_features, out_features, p)``, an ``nn.Module``, then train it on MNIST.

    Expected: parameters ``weight`` ``(out, in)`` and ``bias`` ``(out,)``; in training mode exercise 2's
    per-example masks drawn from torch's global generator; in evaluation mode ``x @ W.T + b``. The
    last case trains the chapter's MLP with the layer in place of its second hidden layer.
    """

    def parameters_like_linear(cls: Callable[..., nn.Module]) -> None:
        _build_layer(cls, 6, 4, 0.3)

    def evaluation_is_the_mean_pass(cls: Callable[..., nn.Module]) -> None:
        layer = _build_layer(cls, 6, 4, 0.3)
        with torch.no_grad():
            layer.weight.copy_(_WEIGHT)
            layer.bias.copy_(_BIAS)
        layer.eval()
        x = _INPUTS.repeat(16, 1)
        torch.manual_seed(0)
        first, second = (expect_tensor(layer(x), "the evaluation-mode output").detach() for _ in range(2))
        if not torch.equal(first, second):
            raise Feedback(HINT_EVAL_RANDOM)
        expect_close(first, x @ _WEIGHT.T + _BIAS, what="the evaluation-mode output", known_bugs={
            HINT_EVAL_DOWNSCALED: 0.7 * (x @ _WEIGHT.T + _BIAS)})

    def training_moments(cls: Callable[..., nn.Module]) -> None:
        forward = _layer_forward(cls, 0.3)
        for case in (_mean_case, _variance_case, _correlation_case):
            case(forward)

    def fresh_masks_each_call(cls: Callable[..., nn.Module]) -> None:
        layer = _build_layer(cls, 6, 4, 0.5)
        layer.train()
        x = _INPUTS.repeat(4, 1)
        torch.manual_seed(11)
        first, second = (expect_tensor(layer(x), "the training-mode output").detach() for _ in range(2))
        if torch.equal(first, second):
            raise Feedback(HINT_SAME_MASKS)
        torch.manual_seed(11)
        if not torch.equal(first, expect_tensor(layer(x), "the training-mode output").detach()):
            raise Feedback("the same torch.manual_seed gave different masks: draw them from torch's global generator")

    def gradient_of_masked_weights(cls: Callable[..., nn.Module]) -> None:
        layer = _build_layer(cls, 6, 4, 0.5)
        with torch.no_grad():
            layer.weight.copy_(_WEIGHT)
            layer.bias.copy_(_BIAS)
        layer.train()
        x = _INPUTS[:1].clone().requires_grad_()
        torch.manual_seed(12)
        y = expect_tensor(layer(x), "the training-mode output")
        if not y.requires_grad:
            raise Feedback(HINT_GRADIENT.format(name="the layer's parameters"))
        y.sum().backward()
        for name, value in (("x", x), ("self.weight", layer.weight), ("self.bias", layer.bias)):
            if value.grad is None:
                raise Feedback(HINT_GRADIENT.format(name=name))
        ratio = layer.weight.grad / (x.detach() / 0.5).expand_as(layer.weight)  # 0 (dropped) or 1 (kept)
        if not torch.allclose(ratio, ratio.round(), atol=1e-4) or not ((ratio == 0) | (ratio.round() == 1)).all():
            raise Feedback(HINT_GRAD_MASK)

    def trains_on_mnist(cls: Callable[..., nn.Module]) -> None:
        from ..data import load_mnist_subset
        from ..device import set_seed
        from ..training import train_classifier

        data = load_mnist_subset()
        set_seed(0)
        model = nn.Sequential(nn.Linear(784, 128), nn.ReLU(), _build_layer(cls, 128, 64, 0.5), nn.ReLU(),
                              nn.Linear(64, 10))
        history = train_classifier(model, data, epochs=LAYER_EPOCHS, lr=0.05, momentum=0.9, batch_size=64, seed=0,
                                   device="cpu", progress=False)
        accuracy = history.test_acc[-1]
        if not accuracy >= LAYER_MIN_ACCURACY:
            raise Feedback(f"after {LAYER_EPOCHS} epochs the network reaches a test accuracy of {accuracy:.3f}, below "
                           f"{LAYER_MIN_ACCURACY}: check the initialisation (uniform in +-1/sqrt(in_features), as "
                           "nn.Linear) and that the optimizer sees the layer's parameters")
        trained.append(accuracy)

    trained: list[float] = []
    cases = [
        ("weight (out, in) and bias (out,) are parameters", parameters_like_linear),
        ("evaluation mode: x @ W.T + b, deterministic", evaluation_is_the_mean_pass),
        ("training mode: mean, variance and correlations over many masks", training_moments),
        ("fresh masks at every call, repeatable with torch.manual_seed", fresh_masks_each_call),
        ("a weight's gradient is 0 (dropped) or x_j / (1 - p) (kept)", gradient_of_masked_weights),
        (f"784 -> 128 -> DropConnect 64 -> 10 trained {LAYER_EPOCHS} epochs on 1,000 digits: test accuracy "
         f">= {LAYER_MIN_ACCURACY}", trains_on_mnist),
    ]
    result = run_check("check_dropconnect_layer", layer_class, cases, verbose)
    if verbose and trained:
        print(f"Your DropConnect network's test accuracy: {trained[0]:.3f}")
    return result
