import pytest
import torch
from torch import nn

from attnreg.regularization import (l1_proximal_step, l1_subgradient_step, l2_penalty, soft_threshold,
                                    weight_decay_step)

F64 = torch.float64


def test_weight_decay_step_formula_and_equivalence_with_pytorch_sgd():
    torch.manual_seed(0)
    w, grad = torch.randn(4, 3), torch.randn(4, 3)
    lr, decay = 0.1, 0.5
    expected = (1 - lr * decay) * w - lr * grad
    assert torch.allclose(weight_decay_step(w, grad, lr, decay), expected)
    param = nn.Parameter(w.clone())
    param.grad = grad.clone()
    torch.optim.SGD([param], lr=lr, weight_decay=decay).step()
    assert torch.allclose(weight_decay_step(w, grad, lr, decay), param.detach(), atol=1e-7)


def test_weight_decay_step_is_a_gradient_step_on_the_penalized_loss():
    w = torch.tensor([1.0, -2.0], dtype=F64, requires_grad=True)
    loss = (w**3).sum()
    (grad,) = torch.autograd.grad(loss, w)
    w_pen = w.detach().clone().requires_grad_()
    (grad_pen,) = torch.autograd.grad((w_pen**3).sum() + 0.3 * l2_penalty(w_pen), w_pen)
    assert torch.allclose(weight_decay_step(w.detach(), grad, 0.05, 0.3), w.detach() - 0.05 * grad_pen)


@pytest.mark.parametrize("step", [weight_decay_step, l1_subgradient_step, l1_proximal_step])
def test_steps_reject_bad_input(step):
    w = torch.ones(3)
    strength = "weight_decay" if step is weight_decay_step else "lam"
    with pytest.raises(ValueError, match=r"grad must have the shape of w \(3,\), got shape \(2,\)"):
        step(w, torch.ones(2), 0.1, 0.1)
    with pytest.raises(ValueError, match=f"{strength} must be a finite number >= 0, got -0.5"):
        step(w, w, 0.1, -0.5)
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got 0.0"):
        step(w, w, 0.0, 0.1)
    with pytest.raises(TypeError, match="w must be a torch.Tensor"):
        step([1.0, 2.0, 3.0], w, 0.1, 0.1)


def test_soft_threshold_values_and_exact_zeros():
    x = torch.tensor([-3.0, -0.5, 0.0, 0.2, 1.0, 2.5])
    out = soft_threshold(x, 1.0)
    assert torch.equal(out, torch.tensor([-2.0, 0.0, 0.0, 0.0, 0.0, 1.5]))
    assert (out[1:5] == 0).all()  # exactly zero, not merely small
    assert torch.equal(soft_threshold(x, 0.0), x)


def test_soft_threshold_is_the_proximal_operator_of_the_l1_norm():
    # prox(v) = argmin_x 1/2 (x - v)^2 + t |x|, checked on a fine grid
    grid = torch.linspace(-4, 4, 80001, dtype=F64)
    for v in (-2.3, -0.4, 0.0, 0.7, 3.1):
        objective = 0.5 * (grid - v) ** 2 + 0.8 * grid.abs()
        assert soft_threshold(torch.tensor([v], dtype=F64), 0.8).item() == pytest.approx(
            grid[objective.argmin()].item(), abs=1e-4)


def test_soft_threshold_rejects_bad_input():
    with pytest.raises(ValueError, match="threshold must be a finite number >= 0, got -1.0"):
        soft_threshold(torch.ones(2), -1.0)
    with pytest.raises(TypeError, match="x must be a floating-point tensor"):
        soft_threshold(torch.tensor([1, 2]), 0.5)


def test_l1_steps():
    w, grad = torch.tensor([1.0, -0.02, 0.0]), torch.tensor([0.5, 0.0, 0.1])
    assert torch.allclose(l1_subgradient_step(w, grad, 0.1, 0.4), torch.tensor([0.91, 0.02, -0.01]))
    assert torch.allclose(l1_proximal_step(w, grad, 0.1, 0.4), torch.tensor([0.91, 0.0, 0.0]))
