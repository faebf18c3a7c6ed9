import math

import numpy as np
import pytest
import scipy.stats
import torch
import torch.nn.functional as F
from torch import nn

from attnreg import set_seed
from attnreg.data import ImageSplit
from attnreg.models import mlp
from attnreg.rdrop import (consistency_kl, kl_divergence, rdrop_forward, rdrop_loss, rdrop_loss_fn, rdrop_token_loss,
                           rdrop_token_loss_fn, symmetric_kl)
from attnreg.training import train_classifier

# F.kl_div warns that its reduction="mean" is not the per-example KL: these tests compare with it on purpose.
pytestmark = pytest.mark.filterwarnings("ignore:reduction:UserWarning")


def random_logits(*shape: int, seed: int = 0, scale: float = 2.0) -> torch.Tensor:
    return scale * torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------------------------------------
# kl_divergence on probabilities


def test_kl_divergence_matches_direct_formula_and_scipy():
    p = torch.softmax(random_logits(6, 5, seed=1), dim=-1).double()
    q = torch.softmax(random_logits(6, 5, seed=2), dim=-1).double()
    per_example = kl_divergence(p, q, reduction="none")
    direct = (p * (p / q).log()).sum(dim=-1)
    assert torch.allclose(per_example, direct)
    scipy_values = [scipy.stats.entropy(p_row, q_row) for p_row, q_row in zip(p.numpy(), q.numpy())]
    assert np.allclose(per_example.numpy(), scipy_values)


def test_kl_divergence_of_a_single_distribution_and_its_asymmetry():
    p, q = torch.tensor([0.5, 0.4, 0.1]), torch.tensor([0.1, 0.3, 0.6])
    forward, backward = kl_divergence(p, q), kl_divergence(q, p)
    assert forward.shape == ()
    assert math.isclose(forward.item(), scipy.stats.entropy(p.numpy(), q.numpy()), rel_tol=1e-5)
    assert math.isclose(backward.item(), scipy.stats.entropy(q.numpy(), p.numpy()), rel_tol=1e-5)
    assert abs(forward.item() - backward.item()) > 0.05  # 0.741 against 0.828 nats


def test_kl_divergence_is_non_negative_and_zero_only_for_equal_distributions():
    p = torch.softmax(random_logits(200, 7, seed=3), dim=-1)
    q = torch.softmax(random_logits(200, 7, seed=4), dim=-1)
    assert (kl_divergence(p, q, reduction="none") > 0).all()
    assert torch.allclose(kl_divergence(p, p, reduction="none"), torch.zeros(200))


def test_kl_divergence_zero_probabilities():
    p, q = torch.tensor([0.5, 0.5, 0.0]), torch.tensor([0.25, 0.25, 0.5])
    assert math.isclose(kl_divergence(p, q).item(), math.log(2), rel_tol=1e-6)  # 0 log 0 counts as 0
    assert kl_divergence(q, p).item() == math.inf  # q puts mass where p has none


@pytest.mark.parametrize("reduction", ["sum", "mean", "batchmean"])
def test_kl_divergence_agrees_with_torch_kl_div(reduction):
    p = torch.softmax(random_logits(4, 5, seed=5), dim=-1)
    q = torch.softmax(random_logits(4, 5, seed=6), dim=-1)
    # F.kl_div(input, target) is KL(target || exp(input)): the reference distribution goes second.
    expected = F.kl_div(q.log(), p, reduction=reduction)
    assert torch.allclose(kl_divergence(p, q, reduction=reduction), expected)


def test_reductions_on_a_4_by_5_batch():
    p = torch.softmax(random_logits(4, 5, seed=7), dim=-1)
    q = torch.softmax(random_logits(4, 5, seed=8), dim=-1)
    total = kl_divergence(p, q, reduction="sum")
    assert torch.allclose(total / kl_divergence(p, q, reduction="mean"), torch.tensor(20.0))
    assert torch.allclose(total / kl_divergence(p, q, reduction="batchmean"), torch.tensor(4.0))
    assert torch.allclose(kl_divergence(p, q, reduction="none").mean(), kl_divergence(p, q))


# ---------------------------------------------------------------------------------------------
# symmetric_kl on logits


def test_symmetric_kl_matches_direct_formula_scipy_and_kl_div():
    logits_p, logits_q = random_logits(8, 6, seed=9), random_logits(8, 6, seed=10)
    p, q = torch.softmax(logits_p, dim=-1), torch.softmax(logits_q, dim=-1)
    direct = 0.5 * ((p * (p / q).log()).sum(-1) + (q * (q / p).log()).sum(-1))
    assert torch.allclose(symmetric_kl(logits_p, logits_q, reduction="none"), direct, atol=1e-6)
    scipy_values = [0.5 * (scipy.stats.entropy(a, b) + scipy.stats.entropy(b, a))
                    for a, b in zip(p.double().numpy(), q.double().numpy())]
    assert np.allclose(symmetric_kl(logits_p, logits_q, reduction="none").numpy(), scipy_values, atol=1e-6)
    for reduction in ("sum", "mean", "batchmean"):
        with_kl_div = 0.5 * (F.kl_div(F.log_softmax(logits_q, -1), p, reduction=reduction)
                             + F.kl_div(F.log_softmax(logits_p, -1), q, reduction=reduction))
        assert torch.allclose(symmetric_kl(logits_p, logits_q, reduction=reduction), with_kl_div, atol=1e-6)


def test_symmetric_kl_is_symmetric_shift_invariant_and_zero_on_equal_logits():
    logits_p, logits_q = random_logits(5, 4, seed=11), random_logits(5, 4, seed=12)
    value = symmetric_kl(logits_p, logits_q)
    assert torch.allclose(value, symmetric_kl(logits_q, logits_p))
    assert torch.allclose(value, symmetric_kl(logits_p + 3.0, logits_q - 7.0), atol=1e-5)
    assert symmetric_kl(logits_p, logits_p).item() == 0.0
    assert value.item() > 0


def test_symmetric_kl_stays_finite_for_very_confident_logits():
    logits_p = torch.tensor([[0.0, 120.0, 0.0]])
    logits_q = torch.tensor([[120.0, 0.0, 0.0]])
    value = symmetric_kl(logits_p, logits_q)
    assert torch.isfinite(value)
    assert math.isclose(value.item(), 120.0, rel_tol=1e-4)  # 1/2 sum (P - Q)(log P - log Q)


def test_symmetric_kl_gradient_is_finite_and_zero_at_equal_logits():
    logits = random_logits(3, 4, seed=13).requires_grad_()
    symmetric_kl(logits, logits.detach().clone()).backward()
    assert torch.allclose(logits.grad, torch.zeros(3, 4), atol=1e-7)


# ---------------------------------------------------------------------------------------------
# rdrop_loss


def test_rdrop_loss_is_mean_cross_entropy_plus_alpha_symmetric_kl():
    logits1, logits2 = random_logits(6, 10, seed=14), random_logits(6, 10, seed=15)
    target = torch.tensor([0, 3, 9, 2, 2, 7])
    ce = 0.5 * (F.cross_entropy(logits1, target) + F.cross_entropy(logits2, target))
    assert torch.allclose(rdrop_loss(logits1, logits2, target, alpha=0.0), ce)
    expected = ce + 4.0 * symmetric_kl(logits1, logits2)
    assert torch.allclose(rdrop_loss(logits1, logits2, target, alpha=4.0), expected)


def test_other_reductions_are_rescaled_alphas():
    batch, classes = 6, 10
    logits1, logits2 = random_logits(batch, classes, seed=16), random_logits(batch, classes, seed=17)
    target = torch.arange(batch) % classes
    # The official code's convention (KL summed over the batch) is batchmean with alpha * B ...
    assert torch.allclose(rdrop_loss(logits1, logits2, target, 0.5, reduction="sum"),
                          rdrop_loss(logits1, logits2, target, 0.5 * batch))
    # ... and reduction="mean" is batchmean with alpha / C.
    assert torch.allclose(rdrop_loss(logits1, logits2, target, 4.0, reduction="mean"),
                          rdrop_loss(logits1, logits2, target, 4.0 / classes))


# ---------------------------------------------------------------------------------------------
# rdrop_forward


class ReplayDropout(nn.Module):
    """Dropout whose masks can be recorded and then replayed, to compare passes mask by mask."""

    def __init__(self, p: float):
        super().__init__()
        self.p, self.recorded, self.replay = p, [], None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.replay is not None:
            mask = self.replay
        else:
            mask = (torch.rand_like(x) >= self.p).to(x.dtype)
            self.recorded.append(mask)
        return x * mask / (1 - self.p)


def test_rdrop_forward_equals_two_separate_passes_with_the_same_masks():
    set_seed(0)
    model = mlp([12, 16, 16, 5], (0.3, 0.5), dropout_layer=ReplayDropout)
    dropouts = [m for m in model if isinstance(m, ReplayDropout)]
    x = torch.randn(7, 12)
    logits1, logits2 = rdrop_forward(model, x)
    assert logits1.shape == logits2.shape == (7, 5)
    assert not torch.allclose(logits1, logits2)  # independent masks for the two copies
    for half, logits in ((slice(0, 7), logits1), (slice(7, 14), logits2)):
        for layer in dropouts:
            layer.replay = layer.recorded[0][half]
        assert torch.allclose(model(x), logits, atol=1e-6)


def test_rdrop_forward_without_dropout_equals_the_model_output():
    set_seed(1)
    model = mlp([12, 16, 16, 5], (0.3, 0.5)).eval()
    x = torch.randn(9, 12)
    logits1, logits2 = rdrop_forward(model, x)
    assert torch.allclose(logits1, model(x), atol=1e-6)
    assert torch.allclose(logits2, model(x), atol=1e-6)


def test_rdrop_forward_halves_differ_with_torch_dropout_in_training_mode():
    set_seed(2)
    model = mlp([12, 32, 5], 0.5).train()
    logits1, logits2 = rdrop_forward(model, torch.randn(64, 12))
    assert (logits1 - logits2).abs().max() > 0.1


# ---------------------------------------------------------------------------------------------
# rdrop_loss_fn and consistency_kl


def test_rdrop_loss_fn_equals_rdrop_loss_on_the_two_passes():
    model = mlp([12, 16, 5], 0.5)
    x, y = torch.randn(8, 12), torch.randint(0, 5, (8,))
    set_seed(3)
    value = rdrop_loss_fn(alpha=2.0)(model, x, y)
    set_seed(3)
    expected = rdrop_loss(*rdrop_forward(model, x), y, alpha=2.0)
    assert value.shape == ()
    assert torch.equal(value, expected)


def test_rdrop_loss_fn_trains_a_classifier_and_lowers_consistency_kl():
    generator = torch.Generator().manual_seed(0)
    centres = 3 * torch.randn(4, 10, generator=generator)
    y = torch.randint(0, 4, (400,), generator=generator)
    X = centres[y] + torch.randn(400, 10, generator=generator)
    data = ImageSplit(X[:200], y[:200], X[200:], y[200:])
    consistency, accuracy = {}, {}
    for alpha in (0.0, 4.0):
        set_seed(0)
        model = mlp([10, 64, 4], 0.5)
        history = train_classifier(model, data, epochs=10, lr=0.1, loss_fn=rdrop_loss_fn(alpha), device="cpu",
                                   progress=False)
        accuracy[alpha] = history.test_acc[-1]
        set_seed(1)
        consistency[alpha] = consistency_kl(model, data.X_test)
    assert min(accuracy.values()) > 0.9
    assert consistency[4.0] < 0.8 * consistency[0.0]  # measured: 0.048 against 0.081


def test_consistency_kl_matches_its_definition_and_restores_the_mode():
    model = mlp([12, 16, 5], 0.5).eval()
    X = torch.randn(30, 12)
    set_seed(4)
    value = consistency_kl(model, X, batch_size=30)
    assert not any(module.training for module in model.modules())
    model.train()
    set_seed(4)
    expected = symmetric_kl(*rdrop_forward(model, X)).item()
    assert math.isclose(value, expected, rel_tol=1e-6)
    assert value > 0
    consistency_kl(model, X, batch_size=7)
    assert all(module.training for module in model.modules())


def test_consistency_kl_keeps_batchnorm_in_eval_mode():
    set_seed(5)
    model = nn.Sequential(nn.Linear(12, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 5))
    model.train()
    model(torch.randn(64, 12))  # running statistics away from their initial values
    running_mean = model[1].running_mean.clone()
    assert consistency_kl(model, torch.randn(40, 12), batch_size=16) > 0
    assert torch.equal(model[1].running_mean, running_mean)  # BatchNorm was not updated
    assert model[1].training and model[3].training  # modes restored


def test_consistency_kl_counts_a_custom_dropout_layer_when_told():
    set_seed(6)
    model = mlp([12, 16, 5], 0.5, dropout_layer=ReplayDropout)
    with pytest.raises(ValueError, match="model has no dropout layer"):
        consistency_kl(model, torch.randn(10, 12))
    assert consistency_kl(model, torch.randn(10, 12), dropout_types=(ReplayDropout,)) > 0


# ---------------------------------------------------------------------------------------------
# R-Drop for token-level models: logits (batch, n, classes)


def test_rdrop_token_loss_is_the_per_token_mean_of_the_classifier_loss():
    logits1, logits2 = random_logits(2, 3, 4, 5, seed=20)  # two passes: 3 sequences of 4 tokens, 5 classes
    target = torch.randint(0, 5, (3, 4), generator=torch.Generator().manual_seed(21))
    value = rdrop_token_loss(logits1, logits2, target, alpha=2.5)
    flat = rdrop_loss(logits1.reshape(12, 5), logits2.reshape(12, 5), target.reshape(12), alpha=2.5)
    assert value.shape == ()
    torch.testing.assert_close(value, flat)
    # The same, token by token: 1/N sum over the N = 12 tokens of 1/2 (CE1 + CE2) + alpha * SKL.
    per_token = [0.5 * (F.cross_entropy(logits1[b, i], target[b, i]) + F.cross_entropy(logits2[b, i], target[b, i]))
                 + 2.5 * symmetric_kl(logits1[b, i:i + 1], logits2[b, i:i + 1]) for b in range(3) for i in range(4)]
    torch.testing.assert_close(value, torch.stack(per_token).mean())
    # A loss per sequence, summed over its tokens, would be 4 times larger: the mean over tokens is not that.
    assert not torch.allclose(value, 4 * torch.stack(per_token).mean())


def test_rdrop_token_loss_with_alpha_zero_is_the_mean_of_the_two_cross_entropies():
    logits1, logits2 = random_logits(2, 2, 6, 7, seed=22)
    target = torch.randint(0, 7, (2, 6), generator=torch.Generator().manual_seed(23))
    ce1 = F.cross_entropy(logits1.flatten(0, 1), target.flatten())
    ce2 = F.cross_entropy(logits2.flatten(0, 1), target.flatten())
    torch.testing.assert_close(rdrop_token_loss(logits1, logits2, target, alpha=0.0), 0.5 * (ce1 + ce2))
    assert rdrop_token_loss(logits1, logits2, target, alpha=1.0) > 0.5 * (ce1 + ce2)  # the KL term is positive


def test_rdrop_token_loss_gradients():
    logits1, logits2 = (t.double().requires_grad_() for t in random_logits(2, 2, 3, 4, seed=24))
    target = torch.tensor([[0, 3, 1], [2, 2, 0]])
    assert torch.autograd.gradcheck(lambda a, b: rdrop_token_loss(a, b, target, alpha=1.5), (logits1, logits2))
    # Gradients reach both passes and equal those of the loss on the flattened batch.
    rdrop_token_loss(logits1, logits2, target, alpha=1.5).backward()
    flat1, flat2 = (t.detach().reshape(6, 4).requires_grad_() for t in (logits1, logits2))
    rdrop_loss(flat1, flat2, target.reshape(6), alpha=1.5).backward()
    torch.testing.assert_close(logits1.grad.reshape(6, 4), flat1.grad)
    torch.testing.assert_close(logits2.grad.reshape(6, 4), flat2.grad)
    assert logits2.grad.abs().max() > 0


def test_rdrop_token_loss_fn_equals_rdrop_token_loss_on_the_two_passes_and_trains():
    from attnreg.data import digit_sequence_task
    from attnreg.transformer import SequenceTransformer, train_token_classifier

    set_seed(0)
    model = SequenceTransformer(10, 10, embed_dim=16, num_heads=2, ff_dim=32, max_len=5, dropout=0.2)
    X, Y = torch.randint(0, 10, (6, 5)), torch.randint(0, 10, (6, 5))
    set_seed(3)
    value = rdrop_token_loss_fn(alpha=2.0)(model, X, Y)
    set_seed(3)
    assert torch.equal(value, rdrop_token_loss(*rdrop_forward(model, X), Y, alpha=2.0))
    data = digit_sequence_task("reverse", length=5, num_train=2000, num_test=200, seed=0)
    history = train_token_classifier(model, data, epochs=6, lr=3e-3, batch_size=32, loss_fn=rdrop_token_loss_fn(1.0),
                                     device="cpu", progress=False)
    assert history.test_acc[-1] > 0.95  # R-Drop trains the reverser (measured: 0.996 after 5 epochs, 1.0 after 6)


def test_consistency_kl_of_a_token_model_is_the_mean_over_tokens_with_attention_dropout_on():
    from attnreg.dropout import dropout_types
    from attnreg.transformer import SequenceTransformer

    set_seed(1)
    model = SequenceTransformer(10, 10, embed_dim=16, num_heads=2, ff_dim=32, max_len=5, dropout=0.3).eval()
    X = torch.randint(0, 10, (9, 5), generator=torch.Generator().manual_seed(2))
    set_seed(4)
    value = consistency_kl(model, X, batch_size=4)
    assert not any(module.training for module in model.modules())  # modes restored
    model.train()
    set_seed(4)
    halves = [rdrop_forward(model, X[start:start + 4]) for start in range(0, 9, 4)]
    expected = sum(symmetric_kl(a.flatten(0, 1), b.flatten(0, 1), reduction="sum").item() for a, b in halves) / 45
    assert math.isclose(value, expected, rel_tol=1e-6) and value > 0
    # Only the attention weights dropped: nn.Dropout layers with p = 0, the attention dropout still counts ...
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    assert consistency_kl(model, X) > 0
    # ... unless the types given leave MultiHeadAttention out.
    assert consistency_kl(model, X, dropout_types=dropout_types()) == 0.0


# ---------------------------------------------------------------------------------------------
# bad input


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: symmetric_kl(torch.randn(4, 5), torch.randn(4, 6)), ValueError,
         r"logits_p and logits_q must have the same shape \(batch, classes\), got \(4, 5\) and \(4, 6\)"),
        (lambda: symmetric_kl(torch.randn(5), torch.randn(5)), ValueError, r"logits_p must be 2-dimensional, got shape \(5,\)"),
        (lambda: symmetric_kl(torch.ones(2, 3, dtype=torch.long), torch.randn(2, 3)), TypeError,
         "logits_p must be a floating-point tensor"),
        (lambda: symmetric_kl(torch.randn(2, 3), torch.randn(2, 3), reduction="avg"), ValueError,
         r"reduction must be one of 'batchmean', 'sum', 'mean', 'none', got 'avg'"),
        (lambda: rdrop_loss(torch.randn(4, 5), torch.randn(3, 5), torch.zeros(4, dtype=torch.long), 1.0), ValueError,
         r"logits1 and logits2 must have the same shape \(batch, classes\), got \(4, 5\) and \(3, 5\)"),
        (lambda: rdrop_loss(torch.randn(3, 5), torch.randn(3, 5), torch.tensor([0, 5, 1]), 1.0), ValueError,
         r"target must hold class indices in \[0, 4\], got 5"),
        (lambda: rdrop_loss(torch.randn(3, 5), torch.randn(3, 5), torch.tensor([0, -1, 1]), 1.0), ValueError,
         r"target must hold class indices in \[0, 4\], got -1"),
        (lambda: rdrop_loss(torch.randn(3, 5), torch.randn(3, 5), torch.tensor([0, 1]), 1.0), ValueError,
         r"target must have one class index per row of the logits \(3\), got 2"),
        (lambda: rdrop_loss(torch.randn(3, 5), torch.randn(3, 5), torch.tensor([0.0, 1.0, 2.0]), 1.0), TypeError,
         "target must hold int64 class indices, got dtype torch.float32"),
        (lambda: rdrop_loss(torch.randn(3, 5), torch.randn(3, 5), torch.tensor([0, 1, 2]), -1.0), ValueError,
         r"alpha must be a finite number >= 0, got -1.0"),
        (lambda: rdrop_loss(torch.randn(3, 5), torch.randn(3, 5), torch.tensor([0, 1, 2]), 1.0, reduction="none"),
         ValueError, r"reduction must be one of 'batchmean', 'sum', 'mean', got 'none'"),
        (lambda: rdrop_loss_fn(alpha=-0.5), ValueError, r"alpha must be a finite number >= 0, got -0.5"),
        (lambda: rdrop_token_loss(torch.randn(3, 5), torch.randn(3, 5), torch.tensor([0, 1, 2]), 1.0), ValueError,
         r"logits1 must be 3-dimensional, got shape \(3, 5\)"),
        (lambda: rdrop_token_loss(torch.randn(2, 4, 5), torch.randn(2, 3, 5), torch.zeros(2, 4, dtype=torch.long), 1.0),
         ValueError, r"logits1 and logits2 must have the same shape \(batch, n, classes\), got \(2, 4, 5\) and \(2, 3, 5\)"),
        (lambda: rdrop_token_loss(torch.randn(2, 4, 5), torch.randn(2, 4, 5), torch.zeros(2, 3, dtype=torch.long), 1.0),
         ValueError, r"target must have one class index per token, shape \(2, 4\) \(batch, n\) of the logits, got \(2, 3\)"),
        (lambda: rdrop_token_loss(torch.randn(2, 4, 5), torch.randn(2, 4, 5), torch.zeros(8, dtype=torch.long), 1.0),
         ValueError, r"target must be 2-dimensional, got shape \(8,\)"),
        (lambda: rdrop_token_loss(torch.randn(2, 4, 5), torch.randn(2, 4, 5), torch.zeros(2, 4), 1.0), TypeError,
         "target must hold int64 class indices, got dtype torch.float32"),
        (lambda: rdrop_token_loss(torch.randn(2, 4, 5), torch.randn(2, 4, 5), torch.full((2, 4), 5), 1.0), ValueError,
         r"target must hold class indices in \[0, 4\], got 5"),
        (lambda: rdrop_token_loss(torch.randn(2, 4, 5), torch.randn(2, 4, 5), torch.zeros(2, 4, dtype=torch.long), -1.0),
         ValueError, r"alpha must be a finite number >= 0, got -1.0"),
        (lambda: rdrop_token_loss_fn(alpha=float("nan")), ValueError, r"alpha must be a number, got NaN"),
        (lambda: rdrop_loss_fn(alpha=1.0, reduction="batch"), ValueError, "reduction must be one of"),
        (lambda: kl_divergence(torch.tensor([0.5, 0.6]), torch.tensor([0.5, 0.5])), ValueError,
         r"p must hold probability distributions whose entries sum to 1 along the last dimension, got a sum of 1.1"),
        (lambda: kl_divergence(torch.tensor([0.5, 0.5]), torch.tensor([1.5, -0.5])), ValueError,
         r"q must hold probabilities \(finite and >= 0\), got a minimum of -0.5"),
        (lambda: kl_divergence(torch.tensor([0.5, 0.5]), torch.tensor([0.2, 0.3, 0.5])), ValueError,
         r"p and q must have the same shape, got \(2,\) and \(3,\)"),
        (lambda: rdrop_forward(mlp([4, 3]), [[1.0] * 4]), TypeError, "x must be a torch.Tensor, got list"),
        (lambda: rdrop_forward(lambda x: x[:1], torch.randn(2, 4)), ValueError,
         r"model must return one row per input row \(4 for the doubled batch\), got \(1, 4\)"),
        (lambda: consistency_kl(mlp([4, 8, 3], 0.5), torch.randn(5, 4), batch_size=0), ValueError,
         r"batch_size must be an integer in \[1, inf\], got 0"),
        (lambda: consistency_kl(mlp([4, 8, 3], 0.5), torch.randn(0, 4)), ValueError, r"X must hold at least one example"),
        (lambda: consistency_kl(mlp([4, 8, 3]), torch.randn(5, 4)), ValueError,
         r"model has no dropout layer .*: dropout cannot be kept on"),
        (lambda: consistency_kl(lambda x: x, torch.randn(5, 4)), TypeError, "model must be a torch.nn.Module, got function"),
    ],
)
def test_bad_input_names_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_consistency_kl_sees_dropconnect_layers():
    from attnreg.dropconnect import with_dropconnect
    from attnreg.models import mlp
    from attnreg.rdrop import consistency_kl

    torch.manual_seed(0)
    model = with_dropconnect(mlp([6, 8, 3]), 0, p=0.5).eval()
    x = torch.randn(16, 6)
    assert consistency_kl(model, x) > 0  # the DropConnect layer is switched on for the two passes
    assert not model.training and not model[0].training  # and every mode is restored
    with pytest.raises(ValueError, match="no dropout layer"):
        consistency_kl(model, x, dropout_types=(nn.Dropout,))  # without DropConnect there is nothing random


def test_consistency_kl_by_default_sees_layers_registered_later():
    from attnreg.dropout import register_dropout_type
    from attnreg.rdrop import consistency_kl

    class ShiftNoise(nn.Module):  # random in training mode only, registered after attnreg.rdrop was imported
        def forward(self, x):
            return x + torch.randn_like(x) if self.training else x

    model = nn.Sequential(nn.Linear(6, 8), ShiftNoise(), nn.Linear(8, 3)).eval()
    x = torch.randn(16, 6, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match="no dropout layer"):
        consistency_kl(model, x)
    register_dropout_type(ShiftNoise)
    torch.manual_seed(0)
    assert consistency_kl(model, x) > 0
    assert not any(m.training for m in model.modules())
