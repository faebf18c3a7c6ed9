import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnreg.dropconnect import (
    INFERENCE_MODES,
    SAMPLING_MODES,
    DropConnectLinear,
    apply_dropconnect_masks,
    dropconnect_linear,
    dropconnect_linear_local_reparam,
    saved_tensor_bytes,
    preactivation_moments,
    relu_gaussian_mean,
    with_dropconnect,
)
from attnreg.dropconnect import _mask_from_seed
from attnreg.models import mlp

Z = 5.0  # statistical tests accept estimates within 5 standard errors of the formula


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _masks_of(generator_seed: int, batch: int, weight_shape: tuple[int, int], p: float, chunk: int,
              dtype: torch.dtype) -> torch.Tensor:
    """The (batch, out, in + 1) masks that dropconnect_linear draws from a generator seeded with generator_seed."""
    n_chunks = math.ceil(batch / chunk)
    seeds = torch.randint(0, 2**62, (n_chunks,), generator=_generator(generator_seed)).tolist()
    like = torch.empty(0, dtype=dtype)
    return torch.cat([_mask_from_seed(seed, (min(chunk, batch - k * chunk), *weight_shape), 1 - p, like)
                      for k, seed in enumerate(seeds)])


# ---------------------------------------------------------------------------------------------
# Exactness: the chunked, redrawn masks give the same values and gradients as explicit masks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 3, 7, None])
def test_forward_and_gradients_equal_explicit_masks(chunk_size):
    torch.manual_seed(0)
    batch, n_in, n_out, p = 7, 5, 4, 0.4
    x = torch.randn(batch, n_in, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(n_out, n_in, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(n_out, dtype=torch.float64, requires_grad=True)
    out = dropconnect_linear(x, weight, bias, p, generator=_generator(3), chunk_size=chunk_size)
    chunk = chunk_size or batch
    masks = _masks_of(3, batch, (n_out, n_in + 1), p, chunk, torch.float64)
    assert 0 < masks.mean() < 1
    reference = apply_dropconnect_masks(x, weight, bias, masks[..., :n_in], masks[..., n_in], p)
    assert torch.allclose(out, reference, atol=1e-12)
    upstream = torch.randn(batch, n_out, dtype=torch.float64)
    grads = torch.autograd.grad(out, (x, weight, bias), upstream)
    reference_grads = torch.autograd.grad(reference, (x, weight, bias), upstream)
    for grad, reference_grad in zip(grads, reference_grads):
        assert torch.allclose(grad, reference_grad, atol=1e-12)


@pytest.mark.parametrize("per_example", [True, False])
@pytest.mark.parametrize("with_bias", [True, False])
def test_gradcheck(per_example, with_bias):
    torch.manual_seed(1)
    x = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True) if with_bias else None

    def layer(x, weight, *bias):  # the same masks on every call: a deterministic function
        return dropconnect_linear(x, weight, *bias, p=0.3, per_example=per_example, generator=_generator(5), chunk_size=4)

    assert torch.autograd.gradcheck(layer, (x, weight) + ((bias,) if with_bias else ()))


def test_p_zero_is_the_builtin_linear_and_mean_inference_too():
    torch.manual_seed(2)
    reference = nn.Linear(5, 3)
    layer = DropConnectLinear.from_linear(reference, p=0.0)
    x = torch.randn(8, 5)
    assert torch.allclose(layer(x), reference(x))  # training mode with p = 0
    layer.p = 0.5
    layer.eval()
    assert torch.allclose(layer(x), reference(x))  # "mean" inference: W x + b
    assert torch.allclose(dropconnect_linear(x, reference.weight, reference.bias, 0.0), reference(x))


def test_same_initialization_as_nn_linear_and_from_linear_draws_nothing():
    torch.manual_seed(3)
    reference = nn.Linear(6, 4)
    torch.manual_seed(3)
    layer = DropConnectLinear(6, 4)
    assert torch.equal(layer.weight, reference.weight) and torch.equal(layer.bias, reference.bias)
    state = torch.get_rng_state()
    copy = DropConnectLinear.from_linear(reference, p=0.2)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(copy.weight, reference.weight) and copy.p == 0.2
    no_bias = DropConnectLinear.from_linear(nn.Linear(6, 4, bias=False))
    assert no_bias.bias is None


def test_leading_dimensions_and_empty_batch():
    layer = DropConnectLinear(5, 3)
    assert layer(torch.randn(2, 7, 5)).shape == (2, 7, 3)
    assert layer(torch.randn(5)).shape == (3,)
    assert layer(torch.randn(0, 5)).shape == (0, 3)


def test_generator_makes_it_reproducible():
    x, weight = torch.randn(10, 4), torch.randn(3, 4)
    first = dropconnect_linear(x, weight, None, 0.5, generator=_generator(7))
    second = dropconnect_linear(x, weight, None, 0.5, generator=_generator(7))
    third = dropconnect_linear(x, weight, None, 0.5, generator=_generator(8))
    assert torch.equal(first, second) and not torch.equal(first, third)


# ---------------------------------------------------------------------------------------------
# Statistics of the masks and of the pre-activation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_keep_rate_is_one_minus_p(p):
    # With a one-hot input and unit weights, u_i = M_i0 / (1 - p): the kept fraction is visible.
    batch, n_out = 2000, 50
    x = torch.zeros(batch, 3)
    x[:, 0] = 1.0
    u = dropconnect_linear(x, torch.ones(n_out, 3), None, p, generator=_generator(0))
    kept = (u != 0).double()
    assert torch.allclose(u.unique(), torch.tensor([0.0, 1 / (1 - p)]))
    standard_error = math.sqrt(p * (1 - p) / kept.numel())
    assert abs(kept.mean().item() - (1 - p)) < Z * standard_error


def test_masks_are_fresh_per_example_or_shared_per_batch():
    x = torch.randn(1, 30).repeat(200, 1)
    weight, bias = torch.randn(10, 30), torch.randn(10)
    per_example = dropconnect_linear(x, weight, bias, 0.5, generator=_generator(1))
    per_batch = dropconnect_linear(x, weight, bias, 0.5, per_example=False, generator=_generator(1))
    assert len(per_example.unique(dim=0)) == 200  # 2^310 possible masks: no two rows alike
    assert torch.allclose(per_batch, per_batch[:1].expand_as(per_batch))  # equal up to rounding


def _sample_moments(samples: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Sample mean and variance with their standard errors, along dim 0."""
    n = samples.shape[0]
    mean, variance = samples.mean(0), samples.var(0)
    fourth = (samples - mean).pow(4).mean(0)
    return mean, (variance / n).sqrt(), variance, ((fourth - variance.square()) / n).sqrt()


@pytest.mark.parametrize("p", [0.3, 0.5])
def test_preactivation_moments_match_the_layers_own_training_outputs(p):
    torch.manual_seed(4)
    layer = DropConnectLinear(12, 6, p=p).double()
    x = torch.randn(2, 12, dtype=torch.float64)
    with torch.no_grad():
        samples = layer(x.repeat(10000, 1)).reshape(10000, 2, 6)  # 10,000 masks per input
    mean, mean_error, variance, variance_error = _sample_moments(samples)
    expected_mean, expected_variance = layer.preactivation_moments(x)
    assert ((mean - expected_mean).abs() < Z * mean_error).all()
    assert ((variance - expected_variance).abs() < Z * variance_error).all()
    # The formula is not trivially satisfied: without the bias term it is far off.
    no_bias_variance = preactivation_moments(x, layer.weight, None, p)[1]
    assert ((variance - no_bias_variance).abs() > Z * variance_error).any()


def test_preactivation_moments_with_one_mask_per_batch():
    torch.manual_seed(5)
    layer = DropConnectLinear(8, 3, p=0.4, per_example=False).double()
    x = torch.randn(1, 8, dtype=torch.float64)
    with torch.no_grad():
        samples = torch.cat([layer(x) for _ in range(4000)])
    mean, mean_error, variance, variance_error = _sample_moments(samples)
    expected_mean, expected_variance = layer.preactivation_moments(x)
    assert ((mean - expected_mean[0]).abs() < Z * mean_error).all()
    assert ((variance - expected_variance[0]).abs() < Z * variance_error).all()


def test_outputs_of_one_example_are_uncorrelated():
    # Each output has its own row of M: outputs are independent (dropout on the inputs correlates them).
    weight = torch.ones(4, 20)
    x = torch.ones(5000, 20)
    samples = dropconnect_linear(x, weight, None, 0.5, generator=_generator(2))
    correlation = torch.corrcoef(samples.T)
    off_diagonal = correlation[~torch.eye(4, dtype=torch.bool)]
    assert off_diagonal.abs().max() < Z / math.sqrt(5000)
    dropout_on_inputs = F.dropout(x, 0.5) @ weight.T
    assert torch.corrcoef(dropout_on_inputs.T)[0, 1] > 0.99


# ---------------------------------------------------------------------------------------------
# Inference
# ---------------------------------------------------------------------------------------------


def test_relu_gaussian_mean_formula():
    torch.manual_seed(6)
    mean = torch.tensor([-1.0, 0.0, 0.5, 2.0, 1.5, -0.3], dtype=torch.float64)
    variance = torch.tensor([1.0, 4.0, 0.25, 1.0, 0.0, 0.0], dtype=torch.float64)
    samples = (mean + variance.sqrt() * torch.randn(200000, 6, dtype=torch.float64)).clamp_min(0)
    estimate, error = samples.mean(0), samples.std(0) / math.sqrt(200000)
    exact = relu_gaussian_mean(mean, variance)
    assert ((estimate - exact).abs() <= Z * error + 1e-12).all()
    assert exact[1].item() == pytest.approx(2 / math.sqrt(2 * math.pi))  # sigma phi(0) with sigma = 2
    assert exact[4:].tolist() == [1.5, 0.0]  # zero variance: max(0, mean)


def test_gaussian_and_monte_carlo_inference_estimate_their_targets():
    torch.manual_seed(7)
    layer = DropConnectLinear(16, 5, p=0.5, activation=torch.relu, num_samples=4000).double().eval()
    x = torch.randn(3, 16, dtype=torch.float64)
    mean, variance = layer.preactivation_moments(x)
    exact_gaussian = relu_gaussian_mean(mean, variance)
    layer.inference = "gaussian"
    estimate = layer(x)
    error = (variance.sqrt() / math.sqrt(4000)).clamp_min(1e-9)  # sd(relu(u)) <= sd(u)
    assert ((estimate - exact_gaussian).abs() < Z * error).all()
    layer.inference = "mean"
    assert torch.allclose(layer(x), mean.clamp_min(0))
    layer.inference, layer.num_samples = "monte_carlo", 3
    torch.manual_seed(8)
    averaged = layer(x)
    torch.manual_seed(8)
    by_hand = sum(layer.sample(x) for _ in range(3)) / 3
    assert torch.allclose(averaged, by_hand)


def test_gaussian_inference_is_closer_than_mean_inference_to_the_mask_average():
    # The chapter's claim on a random ReLU layer: E_M[relu(u)] is matched better by moment matching.
    torch.manual_seed(9)
    layer = DropConnectLinear(64, 32, p=0.5, activation=torch.relu).double()
    x = torch.randn(8, 64, dtype=torch.float64)
    with torch.no_grad():
        truth = torch.stack([layer.sample(x) for _ in range(1000)]).mean(0)
        mean, variance = layer.preactivation_moments(x)
        mean_error = (mean.clamp_min(0) - truth).abs().mean()
        gaussian_error = (relu_gaussian_mean(mean, variance) - truth).abs().mean()
    assert gaussian_error < mean_error / 3


def test_monte_carlo_inference_keeps_no_graph():
    layer = DropConnectLinear(8, 4, p=0.5, activation=torch.relu, inference="monte_carlo", num_samples=5).eval()
    x = torch.randn(3, 8, requires_grad=True)
    out = layer(x)
    assert not out.requires_grad and out.grad_fn is None  # S sampled passes, no autograd graph kept
    layer.inference = "mean"
    assert layer(x).requires_grad  # the deterministic pass stays differentiable


@pytest.mark.parametrize("inference", ["gaussian", "monte_carlo"])
def test_sampled_inference_draws_from_the_layers_generator_only(inference):
    layer = DropConnectLinear(8, 4, p=0.5, activation=torch.relu, inference=inference, num_samples=3).eval()
    x = torch.randn(2, 8)
    outputs = []
    for seed in (1, 1, 2):
        layer.generator = torch.Generator().manual_seed(seed)
        torch.manual_seed(0)
        state = torch.get_rng_state()
        with torch.no_grad():
            outputs.append(layer(x))
        assert torch.equal(torch.get_rng_state(), state)  # the global generator is not touched
    assert torch.equal(outputs[0], outputs[1]) and not torch.equal(outputs[0], outputs[2])


def test_training_masks_come_from_the_layers_generator():
    layer = DropConnectLinear(8, 4, p=0.5, generator=torch.Generator().manual_seed(3))
    x = torch.randn(5, 8)
    first = layer(x)
    layer.generator = torch.Generator().manual_seed(3)
    assert torch.equal(layer(x), first)
    assert torch.equal(layer.sample(x, torch.Generator().manual_seed(4)),
                       layer.sample(x, torch.Generator().manual_seed(4)))


def test_gaussian_inference_draws_bounded_blocks(monkeypatch):
    import attnreg.dropconnect as module

    monkeypatch.setattr(module, "MAX_MASK_ELEMENTS", 10)
    layer = DropConnectLinear(4, 3, inference="gaussian", num_samples=7, activation=torch.relu).eval()
    out = layer(torch.randn(2, 4))
    assert out.shape == (2, 3) and (out >= 0).all()


# ---------------------------------------------------------------------------------------------
# Models and memory
# ---------------------------------------------------------------------------------------------


def test_with_dropconnect_fuses_linear_and_activation():
    torch.manual_seed(10)
    model = mlp([20, 16, 12, 3])
    x = torch.randn(5, 20)
    expected = model(x)
    with_dropconnect(model, 2, p=0.5, inference="gaussian")
    assert isinstance(model[2], DropConnectLinear) and isinstance(model[3], nn.Identity)
    assert isinstance(model[2].activation, nn.ReLU) and model[2].inference == "gaussian"
    model[2].inference = "mean"
    assert torch.allclose(model.eval()(x), expected)
    model.train()
    assert not torch.allclose(model(x), expected)


def test_chunked_masks_are_not_saved_for_backward():
    weight = torch.randn(64, 64, requires_grad=True)

    def saved(batch: int, chunked: bool) -> int:
        x = torch.randn(batch, 64)

        def step() -> None:
            if chunked:
                out = dropconnect_linear(x, weight, None, 0.5, chunk_size=16)
            else:
                mask = torch.rand(batch, 64, 64) < 0.5
                out = apply_dropconnect_masks(x, weight, None, mask, None, 0.5)
            out.sum().backward()

        return saved_tensor_bytes(step, exclude=[weight])

    mask_bytes = 64 * 64 * 4  # one example's float mask
    assert saved(512, chunked=False) >= 512 * mask_bytes  # the naive way keeps every example's mask
    assert saved(512, chunked=True) == 512 * 64 * 4  # only the input: the masks are redrawn in backward
    assert saved(512, chunked=True) == 8 * saved(64, chunked=True)


def test_saved_tensor_bytes_counts_what_backward_needs():
    torch.manual_seed(0)
    layer = nn.Linear(5, 3)
    x = torch.randn(4, 5)
    one_input = 4 * 5 * 4  # the input of x @ W^T, kept for the weight's gradient
    assert saved_tensor_bytes(lambda: layer(x).sum().backward(), exclude=layer.parameters()) == one_input
    two_passes = lambda: layer(torch.cat([x, x])).sum().backward()  # as R-Drop's rdrop_forward does
    assert saved_tensor_bytes(two_passes, exclude=layer.parameters()) == 2 * one_input
    x_grad = x.clone().requires_grad_()  # its gradient needs W as well: W counts unless excluded
    assert saved_tensor_bytes(lambda: layer(x_grad).sum()) == one_input + 3 * 5 * 4
    assert saved_tensor_bytes(lambda: torch.relu(layer(x)).sum(), exclude=layer.parameters()) == one_input + 4 * 3 * 4
    view_saved_twice = lambda: (x_grad[:2] * x_grad[:2]).sum()  # one storage, counted once
    assert saved_tensor_bytes(view_saved_twice) == one_input
    with torch.no_grad():
        assert saved_tensor_bytes(lambda: layer(x)) == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_matches_explicit_masks():
    x = torch.randn(9, 6, device="cuda", requires_grad=True)
    weight = torch.randn(4, 6, device="cuda", requires_grad=True)
    out = dropconnect_linear(x, weight, None, 0.5, chunk_size=4)
    out.sum().backward()
    assert out.shape == (9, 4) and x.grad.shape == x.shape
    layer = DropConnectLinear(6, 4, inference="gaussian", activation=torch.relu).cuda().eval()
    assert layer(x).device.type == "cuda"


# ---------------------------------------------------------------------------------------------
# Local reparameterization: a Gaussian pre-activation instead of masks
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.3, 0.5])
@pytest.mark.parametrize("with_bias", [True, False])
def test_local_reparam_moments_match_the_closed_form(p, with_bias):
    torch.manual_seed(20)
    x = torch.randn(2, 12, dtype=torch.float64)
    weight = torch.randn(6, 12, dtype=torch.float64)
    bias = torch.randn(6, dtype=torch.float64) if with_bias else None
    samples = dropconnect_linear_local_reparam(x.repeat(10000, 1), weight, bias, p, generator=_generator(21))
    mean, mean_error, variance, variance_error = _sample_moments(samples.reshape(10000, 2, 6))
    expected_mean, expected_variance = preactivation_moments(x, weight, bias, p)
    assert ((mean - expected_mean).abs() < Z * mean_error).all()
    assert ((variance - expected_variance).abs() < Z * variance_error).all()
    # Not trivially satisfied: the variance of the real masks at another p is far off.
    other_variance = preactivation_moments(x, weight, bias, p + 0.2)[1]
    assert ((variance - other_variance).abs() > Z * variance_error).all()


def test_local_reparam_units_and_examples_are_independent_as_with_masks():
    weight = torch.ones(4, 20)
    x = torch.ones(5000, 20)
    samples = dropconnect_linear_local_reparam(x, weight, None, 0.5, generator=_generator(22))
    correlation = torch.corrcoef(samples.T)  # units of one example, over the examples
    assert correlation[~torch.eye(4, dtype=torch.bool)].abs().max() < Z / math.sqrt(5000)
    assert torch.corrcoef(samples.reshape(2500, 8).T)[:4, 4:].abs().max() < Z / math.sqrt(2500)  # examples
    assert samples.std() > 1.0  # noisy: variance 20 per unit


def test_local_reparam_is_mean_plus_std_times_noise_and_differentiable_through_both():
    torch.manual_seed(23)
    x = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(3, dtype=torch.float64, requires_grad=True)
    out = dropconnect_linear_local_reparam(x, weight, bias, 0.4, generator=_generator(24))
    noise = torch.randn(5, 3, dtype=torch.float64, generator=_generator(24))
    mean, variance = preactivation_moments(x, weight, bias, 0.4)
    expected = mean + variance.sqrt() * noise
    assert torch.allclose(out, expected, atol=1e-12)
    upstream = torch.randn(5, 3, dtype=torch.float64)
    grads = torch.autograd.grad(out, (x, weight, bias), upstream)
    expected_grads = torch.autograd.grad(expected, (x, weight, bias), upstream, retain_graph=True)
    mean_only_grads = torch.autograd.grad(mean, (x, weight, bias), upstream)
    for grad, expected_grad, mean_only in zip(grads, expected_grads, mean_only_grads):
        assert torch.allclose(grad, expected_grad, atol=1e-12)
        assert not torch.allclose(grad, mean_only)  # the standard deviation contributes too
    # dL/dW_ij = g_i (x_j + eps_i p / (1 - p) W_ij x_j^2 / sigma_i), written out
    formula = upstream.T @ x + (upstream * noise / variance.sqrt()).T @ x.square() * weight * (0.4 / 0.6)
    assert torch.allclose(grads[1], formula, atol=1e-12)

    def layer(x, weight, bias):  # the same noise on every call: a deterministic function
        return dropconnect_linear_local_reparam(x, weight, bias, 0.4, generator=_generator(24))

    assert torch.autograd.gradcheck(layer, (x, weight, bias))


def test_local_reparam_zero_variance_gives_finite_gradients():
    x = torch.zeros(3, 4, requires_grad=True)  # every input 0 and no bias: variance 0, u = 0
    weight = torch.randn(2, 4, requires_grad=True)
    out = dropconnect_linear_local_reparam(x, weight, None, 0.5, generator=_generator(25))
    assert torch.equal(out, torch.zeros(3, 2))
    out.sum().backward()
    assert torch.isfinite(weight.grad).all() and torch.isfinite(x.grad).all()
    assert torch.allclose(x.grad, weight.sum(0).expand(3, 4))  # through the mean W x only


def test_local_reparam_generator_reproducibility_and_p_zero():
    torch.manual_seed(26)
    x, weight, bias = torch.randn(10, 4), torch.randn(3, 4), torch.randn(3)
    first = dropconnect_linear_local_reparam(x, weight, bias, 0.5, generator=_generator(7))
    second = dropconnect_linear_local_reparam(x, weight, bias, 0.5, generator=_generator(7))
    third = dropconnect_linear_local_reparam(x, weight, bias, 0.5, generator=_generator(8))
    assert torch.equal(first, second) and not torch.equal(first, third)
    torch.manual_seed(1)
    global_first = dropconnect_linear_local_reparam(x, weight, bias, 0.5)
    torch.manual_seed(1)
    assert torch.equal(dropconnect_linear_local_reparam(x, weight, bias, 0.5), global_first)
    state = torch.get_rng_state()
    assert torch.equal(dropconnect_linear_local_reparam(x, weight, bias, 0.0), F.linear(x, weight, bias))
    assert torch.equal(torch.get_rng_state(), state)  # p = 0 draws nothing
    assert dropconnect_linear_local_reparam(torch.randn(2, 7, 4), weight, bias, 0.5).shape == (2, 7, 3)


def test_layer_sampling_local_reparam_uses_the_function_and_the_layers_generator():
    torch.manual_seed(27)
    layer = DropConnectLinear(4, 3, p=0.3, sampling="local_reparam", activation=torch.relu, generator=_generator(9))
    x = torch.randn(6, 4)
    expected = torch.relu(dropconnect_linear_local_reparam(x, layer.weight, layer.bias, 0.3, generator=_generator(9)))
    assert torch.equal(layer(x), expected)
    assert "sampling='local_reparam'" in repr(layer) and set(SAMPLING_MODES) == {"masks", "local_reparam"}
    layer.eval()
    assert torch.equal(layer(x), torch.relu(F.linear(x, layer.weight, layer.bias)))  # the mean pass
    model = with_dropconnect(mlp([4, 3, 2]), 0, p=0.5, sampling="local_reparam")
    assert model[0].sampling == "local_reparam"
    layer.train()
    layer.per_example = False
    with pytest.raises(ValueError, match="sampling='local_reparam' draws independent noise for every example, "
                                         "so it needs per_example=True, got per_example=False"):
        layer(x)


def test_local_reparam_saves_no_mask():
    x = torch.randn(256, 32, requires_grad=True)
    weight = torch.randn(32, 32, requires_grad=True)
    bias = torch.randn(32, requires_grad=True)
    masks_at_once = 256 * 32 * 33 * 4
    saved = saved_tensor_bytes(lambda: dropconnect_linear_local_reparam(x, weight, bias, 0.5), exclude=[weight, bias])
    assert 0 < saved <= 8 * x.numel() * 4 + weight.numel() * 4 < masks_at_once / 4


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: DropConnectLinear(4, 3, p=1.5), ValueError, r"p must be a probability in \[0, 1\), got 1.5"),
        (lambda: DropConnectLinear(4, 3, p=-0.1), ValueError, r"p must be a probability in \[0, 1\), got -0.1"),
        (lambda: DropConnectLinear(4, 3, p=1.0), ValueError, r"p must be a probability in \[0, 1\), got 1.0"),
        (lambda: DropConnectLinear(4, 3, num_samples=0), ValueError, r"num_samples must be an integer in \[1, inf\], got 0"),
        (lambda: DropConnectLinear(4, 3, inference="median"), ValueError, "inference must be one of 'mean', 'gaussian', 'monte_carlo', got 'median'"),
        (lambda: DropConnectLinear(0, 3), ValueError, r"in_features must be an integer in \[1, inf\], got 0"),
        (lambda: DropConnectLinear(4, 3, activation="relu"), TypeError, "activation must be callable or None, got str"),
        (lambda: DropConnectLinear(4, 3, per_example=1), TypeError, "per_example must be True or False, got 1"),
        (lambda: DropConnectLinear(4, 3, chunk_size=0), ValueError, r"chunk_size must be an integer in \[1, inf\], got 0"),
        (lambda: DropConnectLinear(4, 3)(torch.randn(2, 5)), ValueError, r"x must have in_features=4 features in its last dimension, got shape \(2, 5\)"),
        (lambda: DropConnectLinear(4, 3)(torch.ones(2, 4, dtype=torch.long)), TypeError, "x must be a floating-point tensor"),
        (lambda: DropConnectLinear(4, 3).preactivation_moments(torch.randn(3)), ValueError, "x must have in_features=4"),
        (lambda: dropconnect_linear(torch.randn(2, 4), torch.randn(3, 4), torch.randn(2)), ValueError, r"bias must have out_features=3 entries .* got shape \(2,\)"),
        (lambda: dropconnect_linear(torch.randn(2, 4), torch.randn(3, 4), None, 2.0), ValueError, r"p must be a probability in \[0, 1\), got 2.0"),
        (lambda: dropconnect_linear(torch.randn(2, 4), torch.randn(3, 4), generator=0), TypeError, "generator must be a torch.Generator or None, got int"),
        (lambda: dropconnect_linear(torch.randn(2, 4), torch.randn(4)), ValueError, r"weight must be 2-dimensional, got shape \(4,\)"),
        (lambda: apply_dropconnect_masks(torch.randn(2, 4), torch.randn(3, 4), None, torch.ones(2, 4, 3), None, 0.5), ValueError, r"weight_mask must have shape \(batch, out, in\) = \(2, 3, 4\)"),
        (lambda: apply_dropconnect_masks(torch.randn(2, 4), torch.randn(3, 4), torch.randn(3), torch.ones(3, 4), None, 0.5), ValueError, "bias_mask must be given when bias is given"),
        (lambda: apply_dropconnect_masks(torch.randn(2, 4), torch.randn(3, 4), torch.randn(3), torch.ones(3, 4), torch.ones(5), 0.5), ValueError, r"bias_mask must have shape \(batch, out\) = \(2, 3\) or \(out,\), got shape \(5,\)"),
        (lambda: preactivation_moments(torch.randn(2, 4), torch.randn(3, 4), None, -1), ValueError, r"p must be a probability in \[0, 1\), got -1"),
        (lambda: relu_gaussian_mean(torch.zeros(2), -torch.ones(2)), ValueError, "variance must be >= 0, got a minimum of -1"),
        (lambda: DropConnectLinear.from_linear(nn.Conv1d(1, 1, 1)), TypeError, "linear must be a torch.nn.Linear, got Conv1d"),
        (lambda: with_dropconnect(mlp([4, 3, 2]), 3), ValueError, r"index must be an integer in \[0, 1\], got 3"),
        (lambda: with_dropconnect(mlp([4, 3, 2]), 1), TypeError, r"model\[1\] must be a torch.nn.Linear, got ReLU"),
        (lambda: with_dropconnect(mlp([4, 3, 2]), 0, activation=torch.tanh), TypeError, "activation is taken from model"),
        (lambda: with_dropconnect(nn.Linear(3, 3), 0), TypeError, "model must be a torch.nn.Sequential, got Linear"),
        (lambda: saved_tensor_bytes(3), TypeError, "fn must be callable, got int"),
        (lambda: DropConnectLinear(4, 3, sampling="gaussian"), ValueError, "sampling must be one of 'masks', 'local_reparam', got 'gaussian'"),
        (lambda: dropconnect_linear_local_reparam(torch.randn(2, 4), torch.randn(3, 4), None, 1.0), ValueError, r"p must be a probability in \[0, 1\), got 1.0"),
        (lambda: dropconnect_linear_local_reparam(torch.randn(2, 4), torch.randn(3, 4), None, 0.5, generator=1), TypeError, "generator must be a torch.Generator or None, got int"),
        (lambda: dropconnect_linear_local_reparam(torch.randn(2, 5), torch.randn(3, 4)), ValueError, r"x must have in_features=4 features in its last dimension, got shape \(2, 5\)"),
        (lambda: dropconnect_linear_local_reparam(torch.randn(2, 4), torch.randn(3, 4), torch.randn(4)), ValueError, r"bias must have out_features=3 entries .* got shape \(4,\)"),
        (lambda: dropconnect_linear_local_reparam(torch.ones(2, 4, dtype=torch.long), torch.randn(3, 4)), TypeError, "x must be a floating-point tensor"),
        (lambda: dropconnect_linear_local_reparam(torch.randn(2, 4), torch.randn(4)), ValueError, r"weight must be 2-dimensional, got shape \(4,\)"),
        (lambda: saved_tensor_bytes(lambda: None, exclude=[3]), TypeError, r"exclude\[0\] must be a torch.Tensor, got int"),
    ],
)
def test_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize(
    "attribute, value, message",
    [
        ("inference", "gausian", "inference must be one of 'mean', 'gaussian', 'monte_carlo', got 'gausian'"),
        ("num_samples", 0, r"num_samples must be an integer in \[1, inf\], got 0"),
        ("sampling", "local", "sampling must be one of 'masks', 'local_reparam', got 'local'"),
        ("num_samples", 2.5, "num_samples must be an integer, got 2.5"),
        ("p", 1.2, r"p must be a probability in \[0, 1\), got 1.2"),
        ("per_example", "yes", "per_example must be True or False, got 'yes'"),
        ("generator", 3, "generator must be a torch.Generator or None, got int"),
    ],
)
def test_settings_are_checked_on_assignment(attribute, value, message):
    layer = DropConnectLinear(4, 3)
    with pytest.raises((ValueError, TypeError), match=message):
        setattr(layer, attribute, value)


def test_repr_names_the_settings():
    text = repr(DropConnectLinear(4, 3, p=0.25, inference="gaussian", num_samples=10, activation=nn.ReLU()))
    assert "p=0.25" in text and "inference='gaussian'" in text and "num_samples=10" in text and "ReLU" in text
    assert set(INFERENCE_MODES) == {"mean", "gaussian", "monte_carlo"}


def test_relu_gaussian_mean_has_finite_gradients_at_zero_variance():
    mean = torch.tensor([0.5, -0.3, 0.2], dtype=torch.float64, requires_grad=True)
    variance = torch.tensor([0.0, 0.0, 0.04], dtype=torch.float64, requires_grad=True)
    relu_gaussian_mean(mean, variance).sum().backward()
    assert torch.isfinite(mean.grad).all() and torch.isfinite(variance.grad).all()
    assert mean.grad[:2].tolist() == [1.0, 0.0]  # d max(0, mean) / d mean where the variance is 0
    # where the variance is positive, d/d mu of mu Phi(mu/sigma) + sigma phi(mu/sigma) is Phi(mu/sigma)
    assert mean.grad[2].item() == pytest.approx(torch.distributions.Normal(0.0, 1.0).cdf(torch.tensor(1.0)).item())
