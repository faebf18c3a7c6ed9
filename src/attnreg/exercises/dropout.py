"""Checkers for the exercises of chapter 06: dropout in its two scaling conventions.

The learner writes ``fn(x, p, training) -> Tensor`` with ``p`` the DROP probability. The checks
are statistical: they draw many masks (from a seeded generator that does not disturb the
learner's own random state) and accept a deviation of 5 standard errors, so a correct function
passes with overwhelming probability while each classic bug misses by dozens of standard errors.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence

import torch

from ._framework import Case, CheckResult, Feedback, expect_close, expect_derived, expect_tensor, run_check
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
        for training in (True, False):
            x = _X2.clone()
            fn(x, 0.5, training)
            if not torch.equal(x, _X2):
                where = "in training" if training else "at inference"
                raise Feedback(f"your function changed its input x in place {where} (x[mask] = 0, x *= ..., "
                               "x.mul_(...)): the caller's tensor is then scaled or zeroed too; return a new "
                               "tensor and leave x as it was")
    return "x is left unchanged, in training and at inference", run


def _fresh_mask_case(p: float = 0.5, n: int = 1_000) -> Case:
    def run(fn: DropoutFn) -> None:
        first = _call(fn, torch.ones(n), p, True)
        second = _call(fn, torch.ones(n), p, True)
        if torch.equal(first, second):
            raise Feedback(f"two calls in training drew the same mask over {n:,} units: the function seeds its "
                           "own random numbers (torch.manual_seed inside it, or a torch.Generator made inside it, "
                           "which starts from the same seed on every call), so every step would drop the same units, one fixed thinned network "
                           "instead of a fresh one per step; draw from the global generator (torch.rand)")
    return f"every call draws a fresh mask (p = {p:g})", run


def _gradient_case(p: float, scale: float) -> Case:
    """The gradient of sum(output) with respect to x is the mask times the training scale."""
    x0 = 1.0 + torch.rand(30, 20, generator=torch.Generator().manual_seed(4))

    def run(fn: DropoutFn) -> None:
        x = x0.clone().requires_grad_(True)
        out = expect_tensor(fn(x, p, True), f"the output for p = {p:g}, training = True")
        if not out.requires_grad:
            raise Feedback("the output does not depend on x for autograd: the gradient to x is cut (x.detach(), "
                           "torch.no_grad(), .data or a NumPy round trip), so no layer before the dropout "
                           "would learn; compute the output from x itself with tensor operations")
        out.sum().backward()
        if x.grad is None:
            raise Feedback("x received no gradient: the output was computed from a detached copy of x")
        kept = out.detach() != 0
        expected = kept.double() * scale
        if torch.allclose(x.grad.double(), expected, rtol=1e-4, atol=1e-6):
            return
        if not x.grad.any():
            raise Feedback("the gradient to x is zero everywhere: the output was computed from a detached copy of x")
        raise Feedback(f"d sum(output) / dx should be {scale:.4g} on the kept units and 0 on the dropped ones; "
                       f"got values from {x.grad.min().item():.4g} to {x.grad.max().item():.4g}")
    return f"the gradient reaches x through the mask (p = {p:g})", run


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
        _fresh_mask_case(),
        _gradient_case(0.4, 1.0 / (1 - 0.4) if mode == "upscale_in_train" else 1.0),
    ]
    with torch.random.fork_rng(devices=[]):  # the checks' draws leave the learner's generator as it was
        torch.manual_seed(0)
        return run_check(topic, fn, cases, verbose)


@exercise(chapter='06_dropout', number=3, title='inverted dropout', stars=2, kind='implement', practises='Bernoulli masks, the upscale_in_train convention, edge cases p = 0 and p = 1',
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


# ---------------------------------------------------------------------------------------------
# Derive: the moments of a mask entry, and the variance shift of the original convention.


def _pair(answer: object, what: str) -> tuple[object, object]:
    if isinstance(answer, (tuple, list)) and len(answer) == 2:
        return answer[0], answer[1]
    raise Feedback(f"{what} must return two numbers, (mean, variance), got {type(answer).__name__}"
                   + (f" of length {len(answer)}" if isinstance(answer, (tuple, list)) else ""))


def _moments_case(p: float) -> Case:
    def run(fn: Callable[[float], tuple[float, float]]) -> None:
        mean, variance = _pair(fn(p), f"mask_moments({p:g})")
        expect_derived(mean, 1.0, what=f"the mean at p = {p:g}", known_bugs={
            "that is the mean of the 0/1 mask m itself, 1 - p; the entry is m / (1 - p), whose mean is "
            "E[m] / (1 - p)": 1 - p,
            "the kept value 1 / (1 - p) is reached only with probability 1 - p: weigh it by that probability": 1 / (1 - p),
            "you used p as the keep probability; p is the DROP probability, so P(m = 1) = 1 - p": p / (1 - p),
        })
        expect_derived(variance, p / (1 - p), what=f"the variance at p = {p:g}", known_bugs={
            "that is the variance p (1 - p) of the 0/1 mask m; dividing by 1 - p multiplies a variance by "
            "1 / (1 - p)^2 (Var[cX] = c^2 Var[X])": p * (1 - p),
            "you divided the variance p (1 - p) of m by 1 - p once; a constant factor c multiplies the "
            "variance by c^2": p,
            "that is E[(m / (1 - p))^2], the second moment: subtract the squared mean": 1 / (1 - p),
            "you swapped the keep and drop probabilities: the entry is 1 / (1 - p) with probability 1 - p": (1 - p) / p,
            "that is the standard deviation; the variance is its square": math.sqrt(p / (1 - p)),
        })
    return f"mean and variance of m / (1 - p) at p = {p:g}", run


@exercise(chapter='06_dropout', number=1, title='the moments of a mask entry', stars=1, kind='derive',
          practises='expectation and variance of a scaled Bernoulli variable: why inverted dropout keeps the mean',
          hints=['The entry m / (1 - p) takes two values: 1 / (1 - p) with probability 1 - p and 0 with probability p.',
                 'E[X] = sum of value x probability; Var[X] = E[X^2] - E[X]^2, and E[X^2] sums the squared values '
                 'times their probabilities.'])
def check_mask_moments(mask_moments: Callable[[float], tuple[float, float]], verbose: bool = True) -> CheckResult:
    """Check ``mask_moments(p) -> (mean, variance)`` of one entry ``m / (1 - p)`` of an inverted-dropout
    mask, ``m ~ Bernoulli(1 - p)``, for ``0 <= p < 1``. The expected values are never printed."""
    cases = [_moments_case(p) for p in (0.5, 0.2, 0.9, 0.75)]
    return run_check("check_mask_moments", mask_moments, cases, verbose)


def _ratio_case(p: float, c: float, v: float) -> Case:
    expected = (1 - p) * v / (v + p * c * c)
    bugs = {
        "you left out the mean c: a dropped unit moves the output by its whole value, c included, so c^2 "
        "adds to the training variance": 1 - p,
        "that is Var_train / Var_infer, the inverse of the ratio asked for": 1 / expected,
        "you took E[a^2] for the training variance; subtract the squared mean E[a]^2 = (1 - p)^2 c^2": (1 - p) * v / (v + c * c),
        "the inference output is (1 - p) x in this convention, so its variance is (1 - p)^2 v, not v":
            v / ((1 - p) * (v + p * c * c)),
        "you swapped the keep and drop probabilities: each unit is kept with probability 1 - p":
            p * v / (v + (1 - p) * c * c),
        "that is a ratio of standard deviations; the question asks for variances": math.sqrt(expected),
    }

    def run(fn: Callable[[float, float, float], float]) -> None:
        expect_derived(fn(p, c, v), expected, what=f"variance_ratio(p={p:g}, c={c:g}, v={v:g})", known_bugs=bugs)
    return f"p = {p:g}, input mean {c:g}, variance {v:g}", run


@exercise(chapter='06_dropout', number=4, title='the variance shift in the original convention', stars=2, kind='derive',
          practises='the law of total variance applied to a dropout mask; the variance shift at the switch to eval',
          hints=['In downscale_in_infer the training output is a = m x and the inference output is (1 - p) x, with '
                 'm ~ Bernoulli(1 - p) independent of x. Use m^2 = m.',
                 'Var_train[a] = E[m] E[x^2] - (E[m] E[x])^2 with E[x^2] = v + c^2; Var_infer = (1 - p)^2 v. '
                 'Compare your result with the inverted convention\'s ratio.'])
def check_variance_ratio(variance_ratio: Callable[[float, float, float], float], verbose: bool = True) -> CheckResult:
    """Check ``variance_ratio(p, c, v) -> float``: ``Var_infer / Var_train`` of one unit with dropout in the
    ``downscale_in_infer`` convention, for an input of mean ``c`` and variance ``v`` independent of the mask.
    The expected values are never printed."""
    cases = [_ratio_case(*args) for args in ((0.5, 1.0, 1.0), (0.2, 2.0, 0.5), (0.8, -0.5, 2.0), (0.3, 0.0, 1.5))]
    return run_check("check_variance_ratio", variance_ratio, cases, verbose)


# ---------------------------------------------------------------------------------------------
# Predict: the variance of a network's outputs at the switch from train to eval mode.

_CHOICES = ("smaller", "the same", "larger")


@exercise(chapter='06_dropout', number=5, title='the logits at the switch to eval', stars=2, kind='predict',
          practises='the law of total variance over masks and inputs; what model.eval() changes',
          hints=['In training mode each logit is its eval-mode value plus mask noise (exactly so for the last '
                 'dropout layer, which feeds a linear layer): what does independent zero-mean noise do to a variance?',
                 'Var over (images, masks) = Var over images of E[logit | image] + E over images of Var over masks.'])
def check_logit_variance(prediction: object, var_train: float | None = None, var_eval: float | None = None,
                         verbose: bool = True) -> CheckResult:
    """Check ``prediction`` (``"smaller"``, ``"the same"`` or ``"larger"``): the variance of the dropout
    MLP's logits over the test digits in eval mode, compared with train mode (one mask per image).
    ``var_train`` and ``var_eval`` are what the experiment cell measured; the verdict is theirs."""

    def against_measurement(answer: object) -> None:
        for name, value in (("var_train", var_train), ("var_eval", var_eval)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
                raise Feedback(f"{name} must be the variance the experiment cell measured (a number > 0), got "
                               f"{value!r}: run the experiment cell, then pass its results")
        if not isinstance(answer, str) or answer.strip().lower() not in _CHOICES:
            raise Feedback(f"prediction must be one of {', '.join(repr(c) for c in _CHOICES)}, got {answer!r}")
        ratio = var_eval / var_train
        measured = "smaller" if ratio < 0.98 else "larger" if ratio > 1.02 else "the same"
        said = f"you predicted {answer.strip().lower()!r}; the experiment measured Var_eval / Var_train = {ratio:.3f}"
        if answer.strip().lower() == measured:
            return
        if measured != "smaller":
            raise Feedback(f"{said}: this network's dropout does not behave as the chapter's derivation says; "
                           "check that the model was trained with dropout and that model.train() was used")
        if answer.strip().lower() == "the same":
            raise Feedback(f"{said}: the mean is the same (inverted dropout keeps it), but in training each logit "
                           "also carries the mask noise, which adds its own variance; eval removes it")
        raise Feedback(f"{said}: inverted dropout rescales kept units so that the mean is kept, not the variance; "
                       "train mode = eval-mode value + zero-mean mask noise, and noise only adds variance")
    return run_check("check_logit_variance", prediction, [("prediction against the measurement", against_measurement)],
                     verbose, expects="value")


# ---------------------------------------------------------------------------------------------
# Assemble: an MLP with the learner's dropout layer, trained against its no-dropout twin.

MlpBuilder = Callable[[Sequence[int], float], torch.nn.Module]
_MLP_SIZES = [196, 128, 10]          # 14 x 14 digits, one hidden layer: the layer-level checks
_TWIN_SIZES = [196, 128, 128, 10]    # two hidden layers: the training comparison
_TWIN_SEEDS = (0, 1, 2)
_TWIN_P = 0.5
_TWIN_TRAIN, _TWIN_TEST, _TWIN_EPOCHS, _TWIN_BATCH, _TWIN_LR = 500, 2000, 30, 50, 0.002


@functools.lru_cache(maxsize=1)
def _digits() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The chapter's MNIST digits, average-pooled to 14 x 14: 500 for training, 2,000 for testing."""
    from ..data import load_mnist_subset

    data = load_mnist_subset()

    def pool(images: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(images.reshape(-1, 1, 28, 28), 2).flatten(1)

    return (pool(data.X_train[:_TWIN_TRAIN]), data.y_train[:_TWIN_TRAIN],
            pool(data.X_test[:_TWIN_TEST]), data.y_test[:_TWIN_TEST])


def _build(builder: MlpBuilder, sizes: Sequence[int], p: float) -> torch.nn.Module:
    model = builder(list(sizes), p)
    if model is None:
        raise Feedback(f"dropout_mlp({list(sizes)}, {p:g}) returned None: did you forget a `return`?")
    if not isinstance(model, torch.nn.Module):
        raise Feedback(f"dropout_mlp must return a torch.nn.Module, got {type(model).__name__}")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    if len(linears) != len(sizes) - 1:
        raise Feedback(f"dropout_mlp({list(sizes)}, ...) has {len(linears)} nn.Linear layers, expected "
                       f"len(sizes) - 1 = {len(sizes) - 1}")
    return model


def _logits(model: torch.nn.Module, x: torch.Tensor, what: str) -> torch.Tensor:
    out = expect_tensor(model(x), what)
    if out.shape != (x.shape[0], 10):
        raise Feedback(f"{what} has shape {tuple(out.shape)}, expected ({x.shape[0]}, 10)")
    return out


def _last_linear_inputs(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The input of the model's last nn.Linear (the output of the last dropout layer)."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    seen: list[torch.Tensor] = []
    handle = last.register_forward_hook(lambda module, args, out: seen.append(args[0].detach()))
    try:
        model(x)
    finally:
        handle.remove()
    return seen[0].double()


def _mlp_shapes_case(builder: MlpBuilder) -> None:
    x = torch.rand(7, 196, generator=torch.Generator().manual_seed(5))
    for sizes in ([196, 128, 10], [196, 64, 32, 10]):
        model = _build(builder, sizes, 0.3)
        _logits(model.train(), x, f"the training output of dropout_mlp({sizes}, 0.3)")
        _logits(model.eval(), x, f"the eval output of dropout_mlp({sizes}, 0.3)")


def _mlp_eval_case(builder: MlpBuilder) -> None:
    x = torch.rand(64, 196, generator=torch.Generator().manual_seed(6))
    model = _build(builder, _MLP_SIZES, 0.4).eval()
    twin = _build(builder, _MLP_SIZES, 0.0).eval()
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        first, second = model(x), model(x)
        plain = twin(x)
    if not torch.equal(first, second):
        raise Feedback("in eval mode two calls give different outputs: your dropout layer still draws masks at "
                       "inference; read the layer's own self.training (set by model.train() / model.eval())")
    if not torch.allclose(first, plain, atol=1e-5, rtol=1e-4):
        with torch.no_grad():
            h_model, h_plain = _last_linear_inputs(model, x), _last_linear_inputs(twin, x)
        shrunk = torch.allclose(h_model, 0.6 * h_plain, atol=1e-6, rtol=1e-4)
        hint = (" (they match the units scaled by 1 - p: that is the downscale_in_infer convention, whose training "
                "outputs are not rescaled; inverted dropout leaves inference alone)") if shrunk else ""
        raise Feedback("in eval mode the MLP with p = 0.4 differs from the same weights with p = 0: inference must "
                       f"use every unit unchanged{hint}")


def _mlp_mask_case(builder: MlpBuilder) -> None:
    p = 0.3
    x = torch.rand(500, 196, generator=torch.Generator().manual_seed(7))
    model = _build(builder, _MLP_SIZES, p)
    with torch.no_grad():
        h = _last_linear_inputs(model.eval(), x)
        train = _last_linear_inputs(model.train(), x)
        again = _last_linear_inputs(model, x)
    active = h > 0
    if not active.any():
        raise Feedback("every hidden unit is zero at inference: put a ReLU after each hidden nn.Linear")
    dropped = (train[active] == 0).double().mean().item()
    tolerance = 5 * math.sqrt(p * (1 - p) / active.sum().item())
    if dropped < tolerance:
        raise Feedback(f"no unit of the last hidden layer is dropped in training at p = {p:g}: put your "
                       "dropout layer after the ReLU of every hidden layer, and let model.train() switch it on")
    if torch.equal(train, again):
        raise Feedback("two training passes drew the same mask: your layer seeds its own random numbers "
                       "(torch.manual_seed or a torch.Generator made in forward), so every step drops the same "
                       "units; draw from the global generator (torch.rand)")
    if abs(dropped - p) > tolerance:
        if abs(dropped - (1 - p)) <= tolerance:
            raise Feedback(f"the last hidden layer drops {100 * dropped:.1f} % of its active units at p = {p:g}: "
                           "you keep a unit with probability p, but p is the DROP probability")
        raise Feedback(f"the last hidden layer drops {100 * dropped:.1f} % of its active units in training at "
                       f"p = {p:g}, expected {100 * p:.0f} %")
    both = active[0::2] & active[1::2]  # units active for two examples in a row
    if torch.equal(train[0::2][both] == 0, train[1::2][both] == 0):
        raise Feedback("every example of the batch gets the same mask (a mask of shape x.shape[1:] broadcast over "
                       "the batch): draw one mask entry per example and unit, torch.rand(x.shape)")
    kept = train[active] != 0
    ratio = train[active][kept] / h[active][kept]
    if not torch.allclose(ratio, torch.full_like(ratio, 1 / (1 - p)), rtol=1e-3):
        value = ratio.median().item()
        hint = (": the kept units are not divided by 1 - p" if abs(value - 1) < 1e-3 else
                ": divide by 1 - p, not by p" if abs(value - 1 / p) < 1e-3 else "")
        raise Feedback(f"kept units of the last hidden layer are {value:.4g} x their inference value, expected "
                       f"1 / (1 - p) = {1 / (1 - p):.4g}{hint}")


def _mlp_output_case(builder: MlpBuilder) -> None:
    x = torch.rand(200, 196, generator=torch.Generator().manual_seed(8))
    model = _build(builder, _MLP_SIZES, 0.5).train()
    first = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][0]
    seen: list[torch.Tensor] = []
    handle = first.register_forward_hook(lambda module, args, out: seen.append(args[0].detach()))
    try:
        out = _logits(model, x, "the training output")
    finally:
        handle.remove()
    if not torch.equal(seen[0].reshape(x.shape), x):
        raise Feedback("the first nn.Linear does not see the input as it is: no dropout on the inputs in this "
                       "exercise, only after each hidden layer")
    if (out == 0).double().mean().item() > 0.2:
        raise Feedback("about half of the training logits are exactly 0: there is a dropout layer on the output; "
                       "the output layer must see every logit (nothing downstream learns to tolerate the noise)")


def _mlp_gradient_case(builder: MlpBuilder) -> None:
    x = torch.rand(32, 196, generator=torch.Generator().manual_seed(9))
    model = _build(builder, _MLP_SIZES, 0.5).train()
    first = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][0]
    out = _logits(model, x, "the training output")
    if not out.requires_grad:
        raise Feedback("the training output has no gradient at all: the forward pass runs under torch.no_grad()")
    out.square().sum().backward()
    if first.weight.grad is None or not first.weight.grad.any():
        raise Feedback("the first layer gets no gradient in training: your dropout layer cuts the graph "
                       "(x.detach(), torch.no_grad(), .data), so only the layers after it would learn")


def _train(model: torch.nn.Module, seed: int) -> tuple[float, float]:
    """Train ``model`` with Adam on the 500 digits; return its test accuracy and test cross-entropy."""
    from ..training import fit_epochs

    X, y, X_test, y_test = _digits()
    optimizer = torch.optim.Adam(model.parameters(), lr=_TWIN_LR)
    torch.manual_seed(100 + seed)  # the masks of the learner's dropout layer come from the global generator

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(model(X[idx]), y[idx])

    fit_epochs(model, batch_loss, len(X), dict, optimizer, epochs=_TWIN_EPOCHS, batch_size=_TWIN_BATCH,
               seed=seed, progress=False)
    model.eval()
    with torch.no_grad():
        logits = model(X_test)
    return (logits.argmax(1) == y_test).double().mean().item(), torch.nn.functional.cross_entropy(logits, y_test).item()


def _recorded(check: Callable[[MlpBuilder], None], passed: list[bool]) -> Callable[[MlpBuilder], None]:
    """``check``, appending to ``passed`` whether it passed."""
    def run(builder: MlpBuilder) -> None:
        passed.append(False)
        check(builder)
        passed[-1] = True
    return run


def _mlp_twin_case(results: list[str], passed: list[bool]) -> Case:
    def run(builder: MlpBuilder) -> None:
        if not all(passed):
            raise Feedback("not run: fix the failures above first (training takes a few seconds)")
        rows = []
        for seed in _TWIN_SEEDS:
            torch.manual_seed(seed)
            model = _build(builder, _TWIN_SIZES, _TWIN_P)
            twin = _build(builder, _TWIN_SIZES, 0.0)
            twin.load_state_dict(model.state_dict())  # the same initial weights, batch order and seed
            rows.append((*_train(model, seed), *_train(twin, seed)))
        table = torch.tensor(rows, dtype=torch.float64)
        if not torch.isfinite(table).all():
            raise Feedback("training produced NaN or inf: check the p = 1 and p = 0 cases of your layer")
        gain_acc = table[:, 0] - table[:, 2]
        gain_loss = table[:, 3] - table[:, 1]
        results.append("test accuracy with / without dropout, per seed: " + ", ".join(
            f"{a:.3f} / {b:.3f}" for a, b in zip(table[:, 0].tolist(), table[:, 2].tolist())))
        results.append(f"paired gains over {len(_TWIN_SEEDS)} seeds: accuracy {gain_acc.mean().item():+.4f}, "
                       f"test cross-entropy {gain_loss.mean().item():+.4f} lower")
        if gain_loss.mean().item() < 0.03 or gain_acc.mean().item() < -0.005:
            raise Feedback(f"the MLP with your dropout did not beat its no-dropout twin ({results[-1]}); with a "
                           "correct layer, dropout lowers the test cross-entropy by about 0.1 here and does not "
                           "lower the accuracy")
    return (f"beats its no-dropout twin on {_TWIN_TRAIN} digits, {len(_TWIN_SEEDS)} seeds (p = {_TWIN_P:g}, "
            f"{_TWIN_EPOCHS} epochs)"), run


@exercise(chapter='06_dropout', number=6, title='an MLP that beats its twin', stars=3, kind='implement',
          practises='a dropout nn.Module driven by model.train() / model.eval(), where it goes in an MLP, and a '
                    'paired comparison over seeds',
          hints=['Write a class MyDropout(nn.Module) whose forward applies your inverted dropout when self.training is '
                 'True and returns x otherwise; nn.Module.train() and .eval() set self.training for you.',
                 'dropout_mlp(sizes, p) returns nn.Sequential(Linear, ReLU, MyDropout(p), ..., Linear): a ReLU and '
                 'a dropout layer after every hidden Linear, none on the input, none after the last Linear.'])
def check_dropout_mlp(dropout_mlp: MlpBuilder, verbose: bool = True) -> CheckResult:
    """Check ``dropout_mlp(sizes, p) -> nn.Module``: an MLP ``sizes[0] -> ... -> sizes[-1]`` with a ReLU and
    the learner's own inverted-dropout layer after every hidden layer. The layer is checked through the
    model (eval mode deterministic and unscaled, fresh masks, keep rate and scale, gradient, placement); then
    the model with ``p = 0.5`` and its twin with ``p = 0`` (the same initial weights) are trained for each of
    three seeds on 500 of the chapter's digits (pooled to 14 x 14), and dropout must lower the mean test
    cross-entropy by at least 0.02 and raise the mean test accuracy. Costs a few seconds of CPU.
    """
    results: list[str] = []
    passed: list[bool] = []
    layer_cases = [
        ("builds an MLP of the given sizes", _mlp_shapes_case),
        ("eval mode uses every unit, unscaled", _mlp_eval_case),
        ("training drops a fraction p of the units, fresh masks, kept ones x / (1 - p)", _mlp_mask_case),
        ("no dropout on the input or the output", _mlp_output_case),
        ("the gradient reaches the first layer", _mlp_gradient_case),
    ]
    cases = [(name, _recorded(case, passed)) for name, case in layer_cases] + [_mlp_twin_case(results, passed)]
    with torch.random.fork_rng(devices=[]):  # the checker's draws leave the learner's generator as it was
        torch.manual_seed(0)
        result = run_check("check_dropout_mlp", dropout_mlp, cases, verbose)
    for line in results if verbose else ():
        print(f"    {line}")
    return result
