"""Checkers for the exercises of chapters 03 and 04: the L2 penalty, a weight-decay step, soft-thresholding."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ._framework import CheckResult, Feedback, clone_args, expect_close, expect_tensor, run_check
from ._registry import exercise


def _reference_l2_penalty(params: Sequence[torch.Tensor]) -> torch.Tensor:
    return 0.5 * sum(p.pow(2).sum() for p in params)


@exercise(chapter='03_overfitting_and_regularization', number=1, title='the L2 penalty', stars=1, kind='implement', practises='a penalty over all parameter tensors that autograd can differentiate',
          hints=['Add up the squares of every entry of every tensor in the list, then halve the total.',
                 'Keep it a tensor built from the parameters (no `.item()`, no `torch.no_grad()`) so that `penalty.backward()` gives w as the gradient.'])
def check_l2_penalty(l2_penalty: Callable[[list[torch.Tensor]], torch.Tensor], verbose: bool = True) -> CheckResult:
    """Check ``l2_penalty(params) -> 1/2 sum over all tensors of sum w^2``, a scalar tensor that autograd can use."""
    generator = torch.Generator().manual_seed(0)
    weight = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    bias = torch.randn(3, generator=generator, dtype=torch.float64)
    matrix = torch.tensor([[3.0, -4.0], [1.0, 2.0]], dtype=torch.float64)

    def case_on(params: list[torch.Tensor]) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            squares = [p.pow(2).sum() for p in params]
            total = sum(squares)
            known_bugs = {
                "you forgot the factor 1/2: R(w) = 1/2 sum w^2 (its gradient is then w itself)": total,
                "you returned 1/2 ||w||, the norm: square it, R(w) = 1/2 ||w||^2 = 1/2 sum w^2": 0.5 * total.sqrt(),
                "you returned the norm ||w||; the L2 penalty is 1/2 ||w||^2 = 1/2 sum w^2": total.sqrt(),
                "you averaged the squares (mean); the penalty sums them": 0.5 * sum(p.pow(2).mean() for p in params),
                "you summed |w| (the L1 penalty); the L2 penalty sums the squares": sum(p.abs().sum() for p in params),
            }
            if len(params) > 1:
                known_bugs["you used only the first tensor: sum the squares of every tensor in params"] = 0.5 * squares[0]
                known_bugs["you used only the last tensor: sum the squares of every tensor in params"] = 0.5 * squares[-1]
            expected = _reference_l2_penalty(params)
            value = fn(list(clone_args(*params)))
            if isinstance(value, float):
                raise Feedback("the penalty is a Python float; return a tensor so that autograd can differentiate it")
            expect_close(value, expected, what="the penalty", atol=1e-8, known_bugs=known_bugs)
        return run

    def differentiable(fn: Callable) -> None:
        params = [weight.clone().requires_grad_(), bias.clone().requires_grad_()]
        value = expect_tensor(fn(params), "the penalty")
        if value.numel() != 1:
            raise Feedback(f"the penalty must be a scalar (one number), got shape {tuple(value.shape)}")
        if not value.requires_grad:
            raise Feedback("the penalty does not depend on the parameters for autograd: did you call .item() "
                           "or .detach(), or build a new tensor with torch.tensor(...)?")
        value.backward()
        for name, p in zip(("weight", "bias"), params):
            if p.grad is None:
                raise Feedback(f"the gradient with respect to the {name} is missing: include every tensor")
            expect_close(p.grad, p.detach(), what=f"the gradient with respect to the {name}", atol=1e-8,
                         known_bugs={"the gradient is 2 w: did you forget the factor 1/2?": 2 * p.detach()})

    cases = [
        ("one 2 x 2 matrix", case_on([matrix])),
        ("a weight matrix and a bias", case_on([weight, bias])),
        ("the gradient of the penalty is w", differentiable),
    ]
    return run_check("check_l2_penalty", l2_penalty, cases, verbose)


@exercise(chapter='04_l1_l2_weight_decay', number=1, title='one step of weight decay', stars=1, kind='implement', practises='the decoupled weight-decay update',
          hints=['Gradient descent on loss + (lambda / 2) ||w||^2 adds lambda * w to the gradient.',
                 'So the step is w - lr * (grad + weight_decay * w): the weights shrink by the factor (1 - lr * weight_decay) before the usual step. Return a new tensor; leave w unchanged.'])
def check_weight_decay_step(
    weight_decay_step: Callable[[torch.Tensor, torch.Tensor, float, float], torch.Tensor], verbose: bool = True
) -> CheckResult:
    """Check ``weight_decay_step(w, grad, lr, weight_decay) -> (1 - lr * weight_decay) * w - lr * grad``."""
    generator = torch.Generator().manual_seed(1)
    w = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    grad = torch.randn(4, 3, generator=generator, dtype=torch.float64)

    def case_on(w: torch.Tensor, grad: torch.Tensor, lr: float, decay: float) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            expected = (1 - lr * decay) * w - lr * grad
            known_bugs = {
                "you multiplied w by (1 - weight_decay); the factor is (1 - lr * weight_decay)":
                    (1 - decay) * w - lr * grad,
                "the decay is twice too strong, (1 - 2 lr weight_decay): that is the gradient of "
                "weight_decay * ||w||^2 without the 1/2": (1 - 2 * lr * decay) * w - lr * grad,
                "the decay is half as strong as it should be, (1 - lr weight_decay / 2): the gradient of "
                "weight_decay * 1/2 ||w||^2 is weight_decay * w": (1 - lr * decay / 2) * w - lr * grad,
                "you stepped up the gradient (+ lr * grad); descend: - lr * grad": (1 - lr * decay) * w + lr * grad,
                "you added the decay term instead of subtracting it, (1 + lr * weight_decay) w":
                    (1 + lr * decay) * w - lr * grad,
                "you decayed after the gradient step, (1 - lr wd)(w - lr grad); decay w itself: "
                "(1 - lr wd) w - lr grad": (1 - lr * decay) * (w - lr * grad),
                "the weight decay is missing: the result is a plain gradient step w - lr * grad": w - lr * grad,
                "the gradient step is missing: only the decay (1 - lr * weight_decay) w was applied": (1 - lr * decay) * w,
            }
            known_bugs = {hint: value for hint, value in known_bugs.items() if not torch.allclose(value, expected)}
            expect_close(fn(*clone_args(w, grad, lr, decay)), expected, what="the new w", atol=1e-8,
                         known_bugs=known_bugs)
        return run

    def leaves_w_unchanged(fn: Callable) -> None:
        w_in, grad_in = w.clone(), grad.clone()
        fn(w_in, grad_in, 0.1, 0.5)
        if not torch.equal(w_in, w):
            raise Feedback("you changed w in place; return a new tensor and leave the argument as it was")

    cases = [
        ("a 4 x 3 weight, lr = 0.1, weight_decay = 0.5", case_on(w, grad, 0.1, 0.5)),
        ("lr = 0.5, weight_decay = 0.3 (a large step)", case_on(w, grad, 0.5, 0.3)),
        ("a zero gradient: pure decay", case_on(w[0], torch.zeros(3, dtype=torch.float64), 0.2, 2.0)),
        ("weight_decay = 0: plain gradient descent", case_on(w[1], grad[1], 0.1, 0.0)),
        ("w is not modified in place", leaves_w_unchanged),
    ]
    return run_check("check_weight_decay_step", weight_decay_step, cases, verbose)


@exercise(chapter='04_l1_l2_weight_decay', number=3, title='soft-thresholding', stars=2, kind='implement', practises='the proximal operator of the L1 norm',
          hints=['Entries with |x| <= threshold become exactly 0; the others move towards 0 by the threshold.',
                 '`torch.sign(x) * torch.clamp(x.abs() - threshold, min=0)` does both at once.'])
def check_soft_threshold(soft_threshold: Callable[[torch.Tensor, float], torch.Tensor], verbose: bool = True
                         ) -> CheckResult:
    """Check ``soft_threshold(x, threshold) -> sign(x) * max(|x| - threshold, 0)``, with exact zeros."""
    x = torch.tensor([-3.0, -1.2, -0.5, -0.1, 0.0, 0.3, 0.9, 1.5, 4.0], dtype=torch.float64)
    matrix = torch.tensor([[2.0, -0.2], [-2.5, 0.6]], dtype=torch.float64)

    def reference(x: torch.Tensor, t: float) -> torch.Tensor:
        return torch.sign(x) * torch.clamp(x.abs() - t, min=0.0)

    def case_on(x: torch.Tensor, t: float) -> Callable[[Callable], None]:
        def run(fn: Callable) -> None:
            small = x.abs() <= t
            known_bugs = {
                "you set small values to zero but left the large ones unchanged: that is hard thresholding; "
                "soft thresholding also shrinks the survivors by the threshold": torch.where(small, 0.0, x),
                "negative inputs came out positive: multiply max(|x| - threshold, 0) by sign(x)":
                    torch.clamp(x.abs() - t, min=0.0),
                "values with |x| <= threshold must become 0, but yours crossed zero: clamp |x| - threshold at 0 "
                "before restoring the sign": x - t * torch.sign(x),
                "values with |x| <= threshold must become exactly 0, not -threshold": torch.where(
                    small, torch.full_like(x, -t), reference(x, t)),
                "negative inputs became 0: max(x - threshold, 0) only handles the positive side; use "
                "sign(x) * max(|x| - threshold, 0)": torch.clamp(x - t, min=0.0),
                "you subtracted the threshold from every value; shrink towards 0 (add it to negative values) "
                "and stop at 0": x - t,
            }
            expected = reference(x, t)
            known_bugs = {hint: value for hint, value in known_bugs.items() if not torch.allclose(value, expected)}
            expect_close(fn(*clone_args(x, t)), expected, what="the result", atol=1e-10, known_bugs=known_bugs)
        return run

    def exact_zeros(fn: Callable) -> None:
        result = expect_tensor(fn(x.clone(), 1.0))
        small = x.abs() <= 1.0
        if result.shape == x.shape and not (result[small] == 0).all():
            raise Feedback("entries with |x| <= threshold must be exactly 0.0 (that is where sparsity comes "
                           f"from), got {[round(v, 8) for v in result[small].tolist()]}")

    def leaves_x_unchanged(fn: Callable) -> None:
        x_in = x.clone()
        fn(x_in, 1.0)
        if not torch.equal(x_in, x):
            raise Feedback("you changed x in place; return a new tensor and leave the argument as it was")

    def keeps_dtype(fn: Callable) -> None:
        result = expect_tensor(fn(x.float(), 1.0))
        if result.dtype != torch.float32:
            raise Feedback(f"float32 input came back as {result.dtype}: build the result from x (torch.zeros_like, "
                           "torch.clamp, torch.where), not from new tensors with another dtype")

    cases = [
        ("a vector, threshold 1", case_on(x, 1.0)),
        ("a matrix, threshold 0.5", case_on(matrix, 0.5)),
        ("threshold 0 changes nothing", case_on(x, 0.0)),
        ("small values become exactly 0", exact_zeros),
        ("x is not modified in place", leaves_x_unchanged),
        ("float32 in, float32 out", keeps_dtype),
    ]
    return run_check("check_soft_threshold", soft_threshold, cases, verbose)
