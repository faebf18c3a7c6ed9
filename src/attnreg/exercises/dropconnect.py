"""Checker for the exercise of chapter 07: a DropConnect forward pass with a fresh mask per example.

The learner writes ``dropconnect_forward(x, weight, bias, p, generator)`` returning
``y_b = ((M_b * W) x_b + m_b * b) / (1 - p)`` with ``M_b, m_b ~ Bernoulli(1 - p)`` drawn from
``generator`` for every example ``b``. The masks are random, so most cases are statistical: the
function is run on one batch made of thousands of copies of two inputs, and the mean, variance and
correlation of its outputs are compared with the formulas, within 5 standard errors. A classic
bug moves one of them by far more than that, and its own prediction tells which bug it is.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._framework import CheckResult, Feedback, clone_args, expect_close, expect_tensor, run_check
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


@exercise(chapter='07_dropconnect', number=1, title='a DropConnect forward pass', stars=2, kind='implement', practises='per-example weight masks drawn from a given generator',
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

    def mean_is_unchanged(fn: DropConnectForward) -> None:
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

    def variance_of_a_weight_mask(fn: DropConnectForward) -> None:
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

    def outputs_are_independent(fn: DropConnectForward) -> None:
        y = _sample(fn, 0.5, seed=4)
        for row in range(len(_INPUTS)):
            correlation = torch.corrcoef(y[:, row].T)
            off_diagonal = correlation[~torch.eye(len(correlation), dtype=torch.bool)]
            if off_diagonal.abs().max() > Z_LIMIT / COPIES ** 0.5:
                raise Feedback(HINT_INPUTS)

    def reproducible_with_generator(fn: DropConnectForward) -> None:
        x = _INPUTS.repeat(8, 1)
        first = fn(*clone_args(x, _WEIGHT, _BIAS), 0.5, torch.Generator().manual_seed(5))
        second = fn(*clone_args(x, _WEIGHT, _BIAS), 0.5, torch.Generator().manual_seed(5))
        if not torch.equal(expect_tensor(first, "the output"), expect_tensor(second, "the output")):
            raise Feedback(HINT_GENERATOR)

    cases = [
        ("p = 0 keeps every weight: x @ W.T + b", keeps_everything_at_p0),
        ("a fresh mask for every example", fresh_mask_per_example),
        ("mean over many masks: x @ W.T + b", mean_is_unchanged),
        ("variance: p / (1 - p) ((W*W)(x*x) + b*b), every weight and bias masked", variance_of_a_weight_mask),
        ("outputs uncorrelated: one mask entry per weight", outputs_are_independent),
        ("the same generator seed gives the same result", reproducible_with_generator),
    ]
    return run_check("check_dropconnect_forward", dropconnect_forward, cases, verbose)
