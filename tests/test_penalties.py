import math

import pytest
import torch
from torch import nn

from attnreg.regularization import elastic_net_penalty, l1_penalty, l2_penalty, smooth_l1_penalty

F64 = torch.float64


def test_l2_penalty_is_half_the_squared_norm_over_all_tensors():
    a, b = torch.tensor([1.0, -2.0]), torch.tensor([[3.0], [0.5]])
    assert l2_penalty([a, b]).item() == pytest.approx(0.5 * (1 + 4 + 9 + 0.25))
    assert l2_penalty(a).item() == pytest.approx(0.5 * torch.linalg.vector_norm(a).item() ** 2)


def test_l2_penalty_gradient_is_w_and_accepts_model_parameters():
    model = nn.Linear(3, 2)
    penalty = l2_penalty(model.parameters())
    penalty.backward()
    for p in model.parameters():
        assert torch.allclose(p.grad, p.detach())


def test_l1_penalty_value_and_gradient():
    w = torch.tensor([1.5, -2.0, 0.0], requires_grad=True)
    value = l1_penalty([w])
    assert value.item() == pytest.approx(torch.linalg.vector_norm(w, ord=1).item())
    value.backward()
    assert torch.equal(w.grad, torch.tensor([1.0, -1.0, 0.0]))


def test_smooth_l1_penalty_value_gradient_and_limit():
    w = torch.tensor([0.0, 0.01, -3.0], dtype=F64, requires_grad=True)
    eps = 1e-4
    value = smooth_l1_penalty(w, eps)
    assert value.item() == pytest.approx(sum(math.sqrt(v**2 + eps) for v in (0.0, 0.01, -3.0)))
    value.backward()
    assert torch.allclose(w.grad, w.detach() / (w.detach() ** 2 + eps).sqrt())
    assert w.grad[0].item() == 0.0  # smooth at 0: no jump of the gradient
    # far from 0, and as eps -> 0, it approaches the L1 penalty
    assert smooth_l1_penalty(w.detach(), 1e-12).item() == pytest.approx(l1_penalty(w.detach()).item(), abs=1e-5)


def test_elastic_net_penalty_mixes_l1_and_l2():
    w = torch.tensor([1.0, -2.0, 0.5])
    assert elastic_net_penalty(w, 1.0).item() == pytest.approx(l1_penalty(w).item())
    assert elastic_net_penalty(w, 0.0).item() == pytest.approx(l2_penalty(w).item())
    expected = 0.3 * 3.5 + 0.7 * 0.5 * (1 + 4 + 0.25)
    assert elastic_net_penalty([w], 0.3).item() == pytest.approx(expected)


@pytest.mark.parametrize("penalty", [l2_penalty, l1_penalty, lambda p: smooth_l1_penalty(p, 0.1),
                                     lambda p: elastic_net_penalty(p, 0.5)])
def test_penalties_reject_bad_params(penalty):
    with pytest.raises(ValueError, match="params must hold at least one tensor"):
        penalty([])
    with pytest.raises(TypeError, match=r"params\[1\] must be a torch.Tensor"):
        penalty([torch.ones(2), [1.0, 2.0]])
    with pytest.raises(TypeError, match=r"params must be a floating-point tensor, got dtype torch.int64"):
        penalty(torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="got a Module: pass model.parameters()"):
        penalty(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="params must be a tensor or an iterable of tensors, got float"):
        penalty(1.0)


def test_penalty_arguments_are_checked():
    w = torch.ones(3)
    for eps in (0.0, -1e-3):
        with pytest.raises(ValueError, match=f"eps must be a finite number > 0, got {eps!r}"):
            smooth_l1_penalty(w, eps)
    for ratio in (-0.1, 1.5):
        with pytest.raises(ValueError, match=rf"l1_ratio must be in \[0, 1\].*got {ratio!r}"):
            elastic_net_penalty(w, ratio)
    with pytest.raises(TypeError, match="l1_ratio must be a real number"):
        elastic_net_penalty(w, "half")
