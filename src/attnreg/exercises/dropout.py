"""Checkers for the exercises of chapter 06: dropout in its two scaling conventions.

The learner writes ``fn(x, p, training) -> Tensor`` with ``p`` the DROP probability. The checks
are statistical: they draw many masks (from a seeded generator that does not disturb the
learner's own random state) and accept a deviation of 5 standard errors, so a correct function
passes with overwhelming probability while each classic bug misses by dozens of standard errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

from ._framework import Case, CheckResult, Feedback, expect_close, expect_tensor, run_check
from ._registry import exercise

DropoutFn = Callable[[torch.Tensor, float, bool], torch.Tensor]

_X2 = torch.arange(1.0, 13.0).reshape(4, 3)  # the chapter's example


def _normal_cdf(z: float) -> float:
    return 0.5 * (1.0 + math.erf(z / math.sqrt(2.0)))


def _call(fn: DropoutFn, x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Call the learner's function on a copy of ``x`` and check the result's type and shape."""
    try:
        out = fn(x.clone(), p, training)
    except ZeroDivisionError:
        raise Feedback(f"dividing by 1 - p = {1 - p:g} raised ZeroDivisionError at p = {p:g}: when every "
                       "unit is dropped (p = 1) return zeros without dividing") from None
    out = expect_tensor(out, f"the output for p = {p:g}, training = {training}")
    if out.shape != x.shape:
        raise Feedback(f"the output has shape {tuple(out.shape)}, expected the input's shape {tuple(x.shape)}")
    return out.detach().to("cpu", torch.float64)


def _match(value: float, expected: float, tolerance: float, what: str,
           known_bugs: Sequence[tuple[float, str]]) -> None:
    """Pass when ``value`` is within ``tolerance`` of ``expected``; else name the closest known bug."""
    if math.isnan(value):
        raise Feedback(f"{what} is NaN")
    if abs(value - expected) <= tolerance:
        return
    for bug_value, hint in known_bugs:
        if abs(value - bug_value) <= tolerance:
            raise Feedback(f"{what} is {value:.3f} instead of {expected:.3f}: {hint}")
    raise Feedback(f"{what} is {value:.3f}, expected {expected:.3f} (± {tolerance:.3f})")


def _mask_bugs(p: float) -> list[tuple[float, str]]:
    """Keep rates of the classic wrong masks at drop probability ``p``."""
    return [
        (1.0 - _normal_cdf(p), "the mask compares a standard normal draw with p (torch.randn(...) > p); "
                               "draw u uniformly on [0, 1) with torch.rand and keep where u > p, so that "
                               "P(keep) = 1 - p"),
        (_normal_cdf(p), "the mask compares a standard normal draw with p (torch.randn(...) < p); "
                         "draw it from torch.rand (uniform on [0, 1)) and keep where u > p"),
        (p, "you keep a unit with probability p, but p is the DROP probability: keep it with "
            "probability 1 - p (mask = torch.rand(...) > p)"),
    ]


def _keep_rate_case(p: float, n: int = 100_000) -> Case:
    def run(fn: DropoutFn) -> None:
        out = _call(fn, torch.ones(n), p, True)
        rate = (out != 0).double().mean().item()
        tolerance = 5 * math.sqrt(p * (1 - p) / n)
        _match(rate, 1 - p, tolerance, f"the fraction of kept units at p = {p:g}", _mask_bugs(p))
    return f"keeps a fraction 1 - p of the units (p = {p:g})", run


def _kept_scale_case(p: float, scale: float, mode: str) -> Case:
    """Every output is 0 or ``scale * x``, on positive inputs with distinct values."""
    x = 1.0 + torch.rand(50, 40, generator=torch.Generator().manual_seed(1))

    def run(fn: DropoutFn) -> None:
        out = _call(fn, x, p, True)
        if torch.isnan(out).any():
            raise Feedback(f"the output contains NaN at p = {p:g}")
        kept = out != 0
        if not kept.any():
            raise Feedback(f"every unit was dropped at p = {p:g}; expected about {100 * (1 - p):.0f} % kept")
        ratios = out[kept] / x.double()[kept]
        if torch.allclose(ratios, torch.full_like(ratios, scale), rtol=1e-4):
            return
        bugs = {1.0: "the kept units are not rescaled: divide them by 1 - p so that E[output] = x",
                1.0 / (1.0 - p): "you divide the kept units by 1 - p in training: that is the upscale_in_train "
                                 "convention; here training keeps x as it is and inference multiplies by 1 - p",
                1.0 / p: "you divide by p, but p is the drop probability: the keep probability is 1 - p",
                1.0 - p: "you multiply the kept units by 1 - p in training; that scaling belongs to inference "
                         "in the downscale_in_infer convention"}
        for value, hint in bugs.items():
            if value != scale and torch.allclose(ratios, torch.full_like(ratios, value), rtol=1e-4):
                raise Feedback(f"kept units are {value:.4g} × x instead of {scale:.4g} × x: {hint}")
        raise Feedback(f"each output must be 0 or {scale:.4g} × x ({mode}), "
                       f"but kept units range from {ratios.min().item():.4g} × x to {ratios.max().item():.4g} × x")
    return f"kept units are {'x / (1 - p)' if mode == 'upscale_in_train' else 'x, unscaled'} (p = {p:g})", run


def _inference_case(p: float, mode: str) -> Case:
    x = 1.0 + torch.rand(6, 5, generator=torch.Generator().manual_seed(2))
    factor = 1.0 if mode == "upscale_in_train" else 1.0 - p

    def run(fn: DropoutFn) -> None:
        out = _call(fn, x, p, False)
        if (out == 0).any():
            raise Feedback("some units are zero at inference: apply the random mask only when training is True")
        if mode == "upscale_in_train":
            bugs = {"at inference you multiply by 1 - p: with the 1 / (1 - p) rescale in training, "
                    "inference must return x unchanged": (1 - p) * x,
                    "you rescale at inference: inverted dropout divides by 1 - p in training only; "
                    "at inference return x unchanged": x / (1 - p)}
        else:
            bugs = {"at inference multiply by 1 - p: a training output has expectation (1 - p) x, and the "
                    "inference output must equal it": x,
                    "multiply by 1 - p, not by p: p is the drop probability": p * x,
                    "you divide by 1 - p at inference; multiply by 1 - p instead": x / (1 - p)}
        expect_close(out, factor * x.double(), what=f"the inference output (p = {p:g})", known_bugs=bugs)
    expected = "x unchanged" if mode == "upscale_in_train" else "(1 - p) x"
    return f"inference returns {expected} (p = {p:g})", run


def _expectation_case(p: float, mode: str, draws: int = 10_000) -> Case:
    """The mean over ``draws`` training outputs equals the inference output, entry by entry."""
    def run(fn: DropoutFn) -> None:
        samples = _call(fn, _X2.expand(draws, 4, 3).contiguous(), p, True)
        mean = samples.mean(dim=0)
        target = _X2.double() * (1.0 if mode == "upscale_in_train" else 1.0 - p)
        # one training output has standard deviation x sqrt(p / (1 - p)) (upscale) or x sqrt(p (1 - p))
        sd = _X2.double() * math.sqrt(p / (1 - p) if mode == "upscale_in_train" else p * (1 - p))
        ratio = (mean / target).mean().item()
        tolerance = 5 * (sd / target).max().item() / math.sqrt(draws)
        # a mask that keeps a fraction k of the units, correctly scaled otherwise, gives k / (1 - p)
        bugs = [(keep / (1 - p), hint) for keep, hint in _mask_bugs(p)]
        if mode == "upscale_in_train":
            bugs.append((1 - p, "the kept units are not divided by 1 - p, so the output shrinks on average"))
        else:
            bugs.append((1 / (1 - p), "you divide the kept units by 1 - p in training: that is upscale_in_train"))
        _match(ratio, 1.0, tolerance, f"the mean over {draws:,} training outputs, divided by the "
               f"inference output,", bugs)
        worst = ((mean - target).abs() / sd * math.sqrt(draws)).max().item()
        if worst > 5:
            raise Feedback(f"the mean over {draws:,} training outputs is {worst:.1f} standard errors from the "
                           "inference output for some entry: each entry needs its own independent mask")
    return f"E[training output] = inference output, over {draws:,} draws (p = {p:g})", run


def _all_dropped_case() -> Case:
    def run(fn: DropoutFn) -> None:
        out = _call(fn, _X2, 1.0, True)
        if torch.isnan(out).any():
            raise Feedback("the output at p = 1 contains NaN: x * mask / (1 - p) is 0 / 0 there; "
                           "return zeros when p = 1")
        if torch.isinf(out).any():
            raise Feedback("the output at p = 1 contains inf: return zeros when p = 1 instead of dividing by 0")
        expect_close(out, torch.zeros(4, 3, dtype=torch.float64), what="the output at p = 1")
    return "p = 1 drops every unit: zeros, not NaN", run


def _identity_case(n: int = 10_000) -> Case:
    x = 1.0 + torch.rand(n, generator=torch.Generator().manual_seed(3))

    def run(fn: DropoutFn) -> None:
        out = _call(fn, x, 0.0, True)
        dropped = (out == 0).double().mean().item()
        if dropped > 0:
            hint = (" (torch.randn(...) > 0 is False for half of the draws: draw the mask from torch.rand)"
                    if abs(dropped - 0.5) < 5 * math.sqrt(0.25 / n) else "")
            raise Feedback(f"at p = 0 nothing may be dropped, but {100 * dropped:.1f} % of the units were{hint}")
        expect_close(out, x.double(), what="the training output at p = 0")
    return "p = 0 keeps x unchanged", run


def _input_untouched_case() -> Case:
    def run(fn: DropoutFn) -> None:
        x = _X2.clone()
        fn(x, 0.5, True)
        if not torch.equal(x, _X2):
            raise Feedback("your function changed its input x in place (x[mask] = 0, x *= ..., x.mul_(...)); "
                           "return a new tensor and leave x as it was")
    return "x is left unchanged", run


def _check(topic: str, fn: DropoutFn, mode: str, verbose: bool) -> CheckResult:
    train_scale = 1.0 / (1 - 0.2) if mode == "upscale_in_train" else 1.0
    cases = [
        _identity_case(),
        _kept_scale_case(0.2, train_scale, mode),
        _keep_rate_case(0.2),
        _keep_rate_case(0.7),
        _expectation_case(0.3, mode),
        _inference_case(0.3, mode),
        _all_dropped_case(),
        _input_untouched_case(),
    ]
    with torch.random.fork_rng(devices=[]):  # the checks' draws leave the learner's generator as it was
        torch.manual_seed(0)
        return run_check(topic, fn, cases, verbose)


@exercise(chapter='06_dropout', number=1, title='inverted dropout', stars=2, kind='implement', practises='Bernoulli masks, the upscale_in_train convention, edge cases p = 0 and p = 1',
          hints=['Draw u uniformly on [0, 1) with `torch.rand(x.shape, device=x.device)` and keep the entries where u >= p: P(keep) = 1 - p.',
                 'Multiply x by the mask and divide by 1 - p; at p = 1 return zeros (no division by 0); at inference return x itself.'])
def check_dropout(dropout_fn: DropoutFn, verbose: bool = True) -> CheckResult:
    """Check ``dropout_fn(x, p, training) -> Tensor``: inverted dropout (``upscale_in_train``).

    In training each unit is kept with probability ``1 - p`` and divided by ``1 - p``, else set to
    0; ``p = 1`` gives zeros. At inference the output is ``x`` unchanged.
    """
    return _check("check_dropout", dropout_fn, "upscale_in_train", verbose)


@exercise(chapter='06_dropout', number=2, title='the original convention', stars=1, kind='implement', practises='the downscale_in_infer convention and why both conventions agree in expectation',
          hints=['In training, multiply x by a Bernoulli(1 - p) mask and do not rescale.',
                 'At inference return (1 - p) * x, a new tensor: the expected value of the training output.'])
def check_downscale_dropout(dropout_fn: DropoutFn, verbose: bool = True) -> CheckResult:
    """Check ``dropout_fn(x, p, training) -> Tensor`` in the ``downscale_in_infer`` convention.

    In training each unit is kept unchanged with probability ``1 - p``, else set to 0. At
    inference the output is ``(1 - p) x``, the expectation of the training output.
    """
    return _check("check_downscale_dropout", dropout_fn, "downscale_in_infer", verbose)
