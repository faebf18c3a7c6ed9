"""Tests of attnreg.dropout.

Statistical tests draw from seeded generators and accept a deviation of 5 standard errors (the
binomial standard error for rates), so a correct implementation fails with probability below
1e-6 per check while each of the classic bugs (wrong keep rate, missing rescale) is off by
dozens of standard errors.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnreg.dropout import (
    DROPOUT_TYPES,
    MODES,
    DropBlock2d,
    Dropout,
    SpatialDropout,
    drop_block2d,
    drop_block_expected_rate,
    drop_block_gamma,
    dropout,
    dropout_mask,
    dropout_only_training,
    dropout_ridge_penalty,
    dropout_ridge_solution,
    dropout_variance,
    mc_dropout_predict,
    recalibrate_batchnorm,
    spatial_dropout,
    train_regressor,
    variance_shift,
)
from attnreg.data import sine_regression
from attnreg.models import mlp
from attnreg.stats import binomial_tolerance

X2 = torch.arange(1.0, 13.0).reshape(4, 3)  # the sources' example


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------------------
# dropout and Dropout


def test_inference_outputs_of_both_modes_on_the_sources_example():
    assert torch.equal(dropout(X2, 0.5, training=False), X2)
    assert torch.equal(dropout(X2, 0.5, training=False, mode="downscale_in_infer"), 0.5 * X2)


@pytest.mark.parametrize("mode, kept_factor", [("upscale_in_train", 2.0), ("downscale_in_infer", 1.0)])
def test_training_output_is_zero_or_scaled_input(mode, kept_factor):
    out = dropout(X2.repeat(100, 1), 0.5, mode=mode, generator=gen())
    kept = out != 0
    assert torch.equal(out[kept], kept_factor * X2.repeat(100, 1)[kept])
    assert 0 < kept.sum() < kept.numel()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_keep_rate_is_one_minus_p(mode, p):
    n = 200_000
    out = dropout(torch.ones(n), p, mode=mode, generator=gen(1))
    keep_rate = (out != 0).double().mean().item()
    assert abs(keep_rate - (1 - p)) < binomial_tolerance(1 - p, n)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p", [0.2, 0.5, 0.8])
def test_training_output_has_the_inference_output_as_expectation(mode, p):
    draws = 50_000
    samples = dropout(X2.expand(draws, 4, 3), p, mode=mode, generator=gen(2))
    mean = samples.double().mean(dim=0)
    expected = dropout(X2, p, training=False, mode=mode).double()
    # per-element standard deviation: x sqrt(p / (1 - p)) (upscale), x sqrt(p (1 - p)) (downscale)
    sd = X2.double() * math.sqrt(p / (1 - p) if mode == "upscale_in_train" else p * (1 - p))
    assert ((mean - expected).abs() < 5 * sd / math.sqrt(draws)).all()


def test_upscale_mode_matches_torch_dropout_in_distribution():
    n, p = 400_000, 0.3
    x = torch.rand(n, generator=gen(3)) + 0.5
    ours = dropout(x, p, generator=gen(4))
    torch.manual_seed(5)
    theirs = F.dropout(x, p, training=True)
    ours_kept, theirs_kept = ours != 0, theirs != 0
    # both keep rates near 1 - p, and near each other (two-sample standard error)
    for kept in (ours_kept, theirs_kept):
        assert abs(kept.double().mean().item() - (1 - p)) < binomial_tolerance(1 - p, n)
    two_sample = 5 * math.sqrt(2 * p * (1 - p) / n)
    assert abs(ours_kept.double().mean().item() - theirs_kept.double().mean().item()) < two_sample
    # the same scale on kept units, and means that agree within their standard errors
    assert torch.allclose(ours[ours_kept], x[ours_kept] / (1 - p))
    assert torch.allclose(theirs[theirs_kept], x[theirs_kept] / (1 - p))
    se = x.double().pow(2).mean().sqrt().item() * math.sqrt(p / (1 - p) / n)
    assert abs(ours.double().mean().item() - theirs.double().mean().item()) < 5 * math.sqrt(2) * se


@pytest.mark.parametrize("mode", MODES)
def test_p_zero_is_the_identity_and_p_one_gives_zeros_without_nan(mode):
    x = torch.randn(50, 7, requires_grad=True)
    assert torch.equal(dropout(x, 0.0, mode=mode), x)
    out = dropout(x, 1.0, mode=mode)
    assert torch.equal(out, torch.zeros_like(x))
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))
    assert torch.equal(Dropout(1.0, mode)(x), torch.zeros_like(x))


def test_gradient_is_the_scaled_mask():
    x = torch.randn(1000, requires_grad=True)
    out = dropout(x, 0.25, generator=gen(6))
    out.sum().backward()
    kept = (out != 0).float()
    assert torch.allclose(x.grad, kept / 0.75)


def test_generator_makes_the_mask_reproducible_and_leaves_the_global_generator_alone():
    torch.manual_seed(0)
    state = torch.get_rng_state()
    a = dropout(torch.ones(1000), 0.5, generator=gen(7))
    b = dropout(torch.ones(1000), 0.5, generator=gen(7))
    c = dropout(torch.ones(1000), 0.5, generator=gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(torch.get_rng_state(), state)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_dtype_is_preserved(dtype):
    x = torch.ones(10_000, dtype=dtype)
    out = dropout(x, 0.5, generator=gen())
    assert out.dtype == dtype
    assert set(out.unique().tolist()) == {0.0, 2.0}
    assert dropout_mask((5,), 0.5, x).dtype == torch.bool


def test_module_follows_train_and_eval():
    layer = Dropout(0.5, mode="downscale_in_infer")
    assert "p=0.5" in repr(layer) and "downscale_in_infer" in repr(layer)
    layer.eval()
    assert torch.equal(layer(X2), 0.5 * X2)
    layer.train()
    out = layer(X2.repeat(50, 1))
    assert ((out == 0) | (out == X2.repeat(50, 1))).all()
    assert Dropout().p == 0.5 and Dropout().mode == "upscale_in_train"


def test_module_plugs_into_the_course_mlp():
    model = mlp([784, 32, 32, 10], (0.2, 0.5), dropout_layer=Dropout)
    layers = [m for m in model if isinstance(m, Dropout)]
    assert [layer.p for layer in layers] == [0.2, 0.5]
    assert model(torch.rand(3, 784)).shape == (3, 10)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"p": 1.5}, ValueError, r"p must be a probability in \[0, 1\], got 1.5"),
        ({"p": -0.1}, ValueError, r"p must be a probability in \[0, 1\], got -0.1"),
        ({"p": float("nan")}, ValueError, "p must be a number, got NaN"),
        ({"p": "0.5"}, TypeError, "p must be a real number, got '0.5'"),
        ({"p": 0.5, "mode": "upscale"}, ValueError,
         "mode must be one of 'upscale_in_train', 'downscale_in_infer', got 'upscale'"),
        ({"p": 0.5, "training": "yes"}, TypeError, "training must be True or False, got 'yes'"),
        ({"p": 0.5, "generator": 0}, TypeError, "generator must be a torch.Generator or None, got int"),
    ],
)
def test_dropout_rejects_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        dropout(X2, **kwargs)


def test_dropout_rejects_integer_or_non_tensor_input():
    with pytest.raises(TypeError, match="x must be a floating-point tensor, got dtype torch.int64"):
        dropout(torch.arange(3), 0.5)
    with pytest.raises(TypeError, match="x must be a torch.Tensor, got list"):
        dropout([1.0, 2.0], 0.5)


def test_module_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 2.0"):
        Dropout(2.0)
    with pytest.raises(ValueError, match="mode must be one of 'upscale_in_train', 'downscale_in_infer', got 'bad'"):
        Dropout(0.5, mode="bad")


# ----------------------------------------------------------------------------------------------
# Spatial dropout


def test_spatial_dropout_drops_whole_channels_at_rate_p():
    n, c, p = 2000, 16, 0.3
    x = torch.rand(n, c, 5, 5, generator=gen(9)) + 0.5
    out = spatial_dropout(x, p, generator=gen(10))
    zero_channels = (out == 0).all(dim=(2, 3))
    kept_channels = (out != 0).all(dim=(2, 3))
    assert (zero_channels | kept_channels).all()  # every channel is all kept or all dropped
    rate = zero_channels.double().mean().item()
    assert abs(rate - p) < binomial_tolerance(p, n * c)
    assert torch.allclose(out[kept_channels], x[kept_channels] / (1 - p))


def test_spatial_dropout_matches_torch_dropout2d_in_distribution():
    n, c, p = 3000, 8, 0.4
    x = torch.ones(n, c, 4, 4)
    ours = spatial_dropout(x, p, generator=gen(11))
    torch.manual_seed(12)
    theirs = nn.Dropout2d(p)(x)
    for out in (ours, theirs):
        assert ((out == 0).all(dim=(2, 3)) | (out == 1 / (1 - p)).all(dim=(2, 3))).all()
    ours_rate = (ours[:, :, 0, 0] == 0).double().mean().item()
    theirs_rate = (theirs[:, :, 0, 0] == 0).double().mean().item()
    assert abs(ours_rate - theirs_rate) < 5 * math.sqrt(2 * p * (1 - p) / (n * c))


def test_spatial_dropout_inference_edge_cases_and_errors():
    x = torch.randn(2, 3, 4)
    assert torch.equal(spatial_dropout(x, 0.5, training=False), x)
    assert torch.equal(spatial_dropout(x, 1.0), torch.zeros_like(x))
    with pytest.raises(ValueError, match=r"x must have at least 3 dimensions, got shape \(2, 3\)"):
        spatial_dropout(torch.randn(2, 3), 0.5)
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 1.2"):
        spatial_dropout(x, 1.2)


# ----------------------------------------------------------------------------------------------
# DropBlock. torchvision (which has torchvision.ops.drop_block2d) is not installed in this
# project, so there is no comparison with its implementation; the tests check the formula of the
# paper (Ghiasi et al., 2018, eq. 1) and the drop rates it implies instead.


def test_gamma_is_the_papers_formula():
    # eq. (1) with keep_prob = 1 - p and a square feature map of side feat_size
    keep_prob, block_size, feat_size = 0.9, 7, 28
    paper = (1 - keep_prob) / block_size**2 * feat_size**2 / (feat_size - block_size + 1) ** 2
    assert drop_block_gamma(0.1, 7, 28, 28) == pytest.approx(paper, rel=1e-12)
    assert drop_block_gamma(0.2, 3, 10, 20) == pytest.approx(0.2 / 9 * 200 / (8 * 18), rel=1e-12)
    assert drop_block_gamma(0.3, 1, 5, 5) == pytest.approx(0.3)
    assert drop_block_gamma(1.0, 5, 5, 5) == 1.0  # gamma <= p, with equality when b = H = W
    assert drop_block_gamma(1.0, 5, 6, 6) == pytest.approx(36 / (25 * 4))


def test_expected_rate_is_p_in_the_mean_count_and_below_p_with_overlaps():
    # the mean number of blocks covering a unit is gamma * (valid seeds) * b^2 / (H W) = p
    rate = drop_block_expected_rate(0.1, 7, 28, 28)
    assert rate.shape == (28, 28)
    assert 0.09 < rate.mean().item() < 0.1  # overlaps make the realised rate a little lower
    assert rate[14, 14] > rate[0, 0]  # the centre is covered by more block positions than a corner
    assert drop_block_expected_rate(0.01, 5, 20, 20).mean().item() == pytest.approx(0.01, rel=0.01)
    assert drop_block_expected_rate(0.3, 1, 6, 6).mean().item() == pytest.approx(0.3)


@pytest.mark.parametrize("p, block_size", [(0.1, 7), (0.3, 3), (0.2, 5)])
def test_measured_drop_rate_matches_the_expected_rate(p, block_size):
    maps = 4000
    out = drop_block2d(torch.ones(maps, 1, 28, 28), p, block_size, generator=gen(13))
    dropped_fraction = (out == 0).double().mean(dim=(1, 2, 3))  # one value per map
    standard_error = dropped_fraction.std().item() / math.sqrt(maps)
    expected = drop_block_expected_rate(p, block_size, 28, 28).mean().item()
    assert abs(dropped_fraction.mean().item() - expected) < 5 * standard_error
    per_pixel = (out == 0).double().mean(dim=(0, 1))
    expected_map = drop_block_expected_rate(p, block_size, 28, 28)
    pixel_se = (expected_map * (1 - expected_map) / maps).sqrt()
    assert ((per_pixel - expected_map).abs() < 5.5 * pixel_se + 1e-12).all()


def test_dropped_units_form_whole_blocks():
    block_size = 5
    out = drop_block2d(torch.ones(200, 2, 24, 24), 0.15, block_size, generator=gen(14))
    dropped = (out == 0).float()
    # a morphological opening with a block-sized square leaves a union of such squares unchanged
    pad = block_size - 1
    eroded = -F.max_pool2d(-dropped, block_size, stride=1)  # 1 where a whole block is dropped
    opened = F.max_pool2d(F.pad(eroded, (pad, pad, pad, pad)), block_size, stride=1)
    assert torch.equal(opened, dropped)
    assert dropped.sum() > 0


def test_drop_block_rescales_by_count():
    x = torch.ones(8, 3, 16, 16)
    out = drop_block2d(x, 0.2, 3, generator=gen(15))
    kept = out != 0
    assert torch.allclose(out[kept], torch.full_like(out[kept], x.numel() / kept.sum().item()))
    assert out.sum().item() == pytest.approx(x.numel(), rel=1e-5)


def test_block_size_one_is_dropout_rescaled_by_count():
    n, p = 100, 0.25
    out = drop_block2d(torch.ones(n, 4, 20, 20), p, 1, generator=gen(16))
    rate = (out == 0).double().mean().item()
    assert abs(rate - p) < binomial_tolerance(p, n * 4 * 400)


def test_drop_block_edge_cases_and_errors():
    x = torch.randn(2, 3, 8, 8)
    assert torch.equal(drop_block2d(x, 0.3, 3, training=False), x)
    assert torch.equal(drop_block2d(x, 0.0, 3), x)
    out = drop_block2d(x, 1.0, 3)
    assert torch.equal(out, torch.zeros_like(x)) and not out.isnan().any()
    with pytest.raises(ValueError, match=r"block_size must be an integer in \[1, 8\], got 9"):
        drop_block2d(x, 0.1, 9)
    with pytest.raises(ValueError, match=r"x must be 4-dimensional, got shape \(3, 8, 8\)"):
        drop_block2d(x[0], 0.1, 3)
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got -0.5"):
        drop_block2d(x, -0.5, 3)
    with pytest.raises(ValueError, match=r"height must be an integer in \[7, inf\], got 5"):
        drop_block_gamma(0.1, 7, 5, 28)


# ----------------------------------------------------------------------------------------------
# Variance of dropout's output


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_variance_formula_matches_simulation(p):
    n = 1_000_000
    x = torch.relu(torch.randn(n, generator=gen(17), dtype=torch.float64) + 0.5)
    train_var, infer_var = dropout_variance(x.mean().item(), x.var().item(), p)
    measured = dropout(x, p, generator=gen(18)).var().item()
    assert measured == pytest.approx(train_var, rel=0.01)
    assert infer_var == pytest.approx(x.var().item())
    assert dropout_variance(0.0, 2.0, p) == pytest.approx((2.0 / (1 - p), 2.0))


def test_dropout_variance_rejects_p_one_and_negative_variance():
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\), got 1.0"):
        dropout_variance(0.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="variance must be a finite number >= 0, got -1.0"):
        dropout_variance(0.0, -1.0, 0.5)
    with pytest.raises(TypeError, match="mean must be a real number, got '0'"):
        dropout_variance("0", 1.0, 0.5)


# ----------------------------------------------------------------------------------------------
# Monte Carlo dropout, variance shift, BatchNorm recalibration


def small_net() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 32), nn.ReLU(), Dropout(0.5), nn.Linear(32, 16),
                         nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 3))


@pytest.mark.parametrize("start_in_train_mode", [True, False])
def test_mc_dropout_keeps_only_dropout_on_and_restores_modes(start_in_train_mode):
    model = small_net().train(start_in_train_mode)
    model[4].train(not start_in_train_mode)  # a mixed state must come back exactly
    before = [m.training for m in model.modules()]
    running_mean = model[4].running_mean.clone()
    seen = []
    hook = model[4].register_forward_hook(lambda m, i, o: seen.append(m.training))
    mean, std = mc_dropout_predict(model, torch.randn(10, 4), num_samples=20)
    hook.remove()
    assert seen == [False] * 20  # BatchNorm in eval mode in every pass
    assert torch.equal(model[4].running_mean, running_mean)
    assert [m.training for m in model.modules()] == before
    assert mean.shape == std.shape == (10, 3)
    assert (std > 0).all()


def test_mc_dropout_mean_converges_to_the_inference_output_of_a_linear_head():
    torch.manual_seed(1)
    model = nn.Sequential(Dropout(0.5), nn.Linear(6, 2)).eval()
    x = torch.randn(5, 6)
    num_samples = 2000
    mean, std = mc_dropout_predict(model, x, num_samples)
    # E over masks of W (m x / (1 - p)) + b = W x + b, the eval-mode output
    assert ((mean - model(x)).abs() < 5 * std / math.sqrt(num_samples)).all()
    assert not model.training


def test_mc_dropout_transform_and_errors():
    model = small_net().eval()
    probs, _ = mc_dropout_predict(model, torch.randn(7, 4), 5, transform=lambda z: z.softmax(-1))
    assert torch.allclose(probs.sum(-1), torch.ones(7))
    with pytest.raises(ValueError, match=r"num_samples must be an integer in \[2, inf\], got 1"):
        mc_dropout_predict(model, torch.randn(7, 4), 1)
    with pytest.raises(ValueError, match="model has no dropout layer"):
        mc_dropout_predict(nn.Linear(4, 2), torch.randn(7, 4), 5)
    with pytest.raises(TypeError, match="model must be a torch.nn.Module, got function"):
        mc_dropout_predict(lambda x: x, torch.randn(7, 4), 5)
    with pytest.raises(TypeError, match="transform must be callable or None, got int"):
        mc_dropout_predict(model, torch.randn(7, 4), 5, transform=3)


def test_dropout_types_cover_torch_and_course_layers():
    for layer in (nn.Dropout(), nn.Dropout1d(), nn.Dropout2d(), nn.AlphaDropout(), Dropout()):
        assert isinstance(layer, DROPOUT_TYPES)
    model = small_net().eval()
    with dropout_only_training(model):
        assert [m.training for m in model] == [False, False, True, False, False, False, True, False]
    assert not any(m.training for m in model.modules())


@pytest.mark.parametrize("p, mean", [(0.5, 0.0), (0.3, 0.0), (0.5, 1.5)])
def test_variance_shift_of_dropout_before_batchnorm_matches_theory(p, mean):
    d, n = 8, 200_000
    model = nn.Sequential(Dropout(p), nn.BatchNorm1d(d)).train()
    x = mean + torch.randn(n, d, generator=gen(19))
    running_var = model[1].running_var.clone()
    ratio = variance_shift(model, x)["1"]
    train_var, infer_var = dropout_variance(mean, 1.0, p)
    assert ratio.shape == (d,)
    assert torch.allclose(ratio, torch.full((d,), infer_var / train_var), rtol=0.02)
    assert torch.equal(model[1].running_var, running_var)
    assert model.training and all(m.training for m in model)


def test_variance_shift_needs_batchnorm():
    with pytest.raises(ValueError, match="model has no BatchNorm layer"):
        variance_shift(nn.Sequential(Dropout(0.5), nn.Linear(3, 3)), torch.randn(4, 3))


def test_recalibrate_batchnorm_gives_the_inference_statistics():
    model = small_net().train()
    x = torch.randn(512, 4, generator=gen(20))
    for _ in range(20):  # running statistics gathered with dropout on
        model(x)
    recalibrate_batchnorm(model, x, batch_size=512)
    bn = model[4]
    with torch.no_grad():
        bn_input = model[:4].eval()(x)
    model.train()
    assert torch.allclose(bn.running_mean, bn_input.mean(0), atol=1e-5)
    assert torch.allclose(bn.running_var, bn_input.var(0), rtol=1e-4)  # BatchNorm keeps the unbiased variance
    assert bn.momentum == 0.1
    assert all(m.training for m in model.modules())


def test_recalibrate_batchnorm_over_batches_and_errors():
    model = small_net().eval()
    x = torch.randn(1000, 4, generator=gen(21))
    recalibrate_batchnorm(model, x, batch_size=100)
    with torch.no_grad():
        bn_input = model[:4](x)
    assert torch.allclose(model[4].running_mean, bn_input.mean(0), atol=1e-5)  # equal batches: exact
    assert torch.allclose(model[4].running_var, bn_input.var(0), rtol=0.05)
    assert not any(m.training for m in model.modules())
    with pytest.raises(ValueError, match=r"batch_size must be an integer in \[2, inf\], got 1"):
        recalibrate_batchnorm(model, x, batch_size=1)
    with pytest.raises(ValueError, match=r"x must hold at least 2 examples .*got shape \(1, 4\)"):
        recalibrate_batchnorm(model, x[:1])


def test_recalibrate_batchnorm_folds_a_last_batch_of_one_example_into_the_previous_one():
    model = small_net().eval()
    x = torch.randn(257, 4, generator=gen(23))
    recalibrate_batchnorm(model, x, batch_size=256)  # 256 + 1 rows: one batch of 257
    with torch.no_grad():
        bn_input = model[:4](x)
    assert torch.allclose(model[4].running_mean, bn_input.mean(0), atol=1e-5)
    assert torch.allclose(model[4].running_var, bn_input.var(0), rtol=1e-4)


# ----------------------------------------------------------------------------------------------
# Regression helpers


def test_train_regressor_fits_the_sine_data():
    x, y = sine_regression(256, generator=gen(22))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 1))
    losses = train_regressor(model, x, y, epochs=60, lr=0.03, batch_size=64, seed=0)
    assert len(losses) == 60
    assert losses[-1] < 0.05 < losses[0]


def _train_regressor_before_fit_epochs(model, x, y, *, epochs, lr, batch_size, seed):
    """The loop train_regressor ran before it went through fit_epochs (Adam), kept as the reference."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    order_generator = torch.Generator().manual_seed(seed)
    losses = []
    model.train()
    for _ in range(epochs):
        total = 0.0
        for idx in torch.randperm(len(x), generator=order_generator).split(batch_size):
            loss = F.mse_loss(model(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        losses.append(total / len(x))
    return losses


@pytest.mark.parametrize("seed, batch_size", [(0, 64), (3, 50)])
def test_train_regressor_is_bit_identical_to_the_loop_it_replaced(seed, batch_size):
    x, y = sine_regression(230, generator=gen(23))  # 230 rows: a short last batch

    def run(train):
        torch.manual_seed(seed)
        model = nn.Sequential(nn.Linear(1, 16), nn.ReLU(), nn.Dropout(0.2), nn.Linear(16, 1))
        losses = train(model, x, y, epochs=5, lr=0.01, batch_size=batch_size, seed=seed)
        return torch.tensor(losses, dtype=torch.float64), list(model.parameters())

    new_losses, new_params = run(train_regressor)
    old_losses, old_params = run(_train_regressor_before_fit_epochs)
    assert torch.equal(new_losses, old_losses)
    assert all(torch.equal(a, b) for a, b in zip(new_params, old_params, strict=True))


def test_train_regressor_rejects_bad_arguments():
    x, y = sine_regression(10, generator=gen())
    model = nn.Linear(1, 1)
    with pytest.raises(ValueError, match=r"x and y must have the same number of rows, got \(10, 1\) and \(9, 1\)"):
        train_regressor(model, x, y[:9], epochs=1, lr=0.1)
    with pytest.raises(ValueError, match="lr must be a finite number > 0, got 0.0"):
        train_regressor(model, x, y, epochs=1, lr=0.0)


def test_dropout_types_include_dropconnect_so_mc_dropout_samples_its_masks():
    from attnreg.dropconnect import DropConnectLinear
    from attnreg.dropout import dropout_types

    assert DropConnectLinear in DROPOUT_TYPES and DropConnectLinear in dropout_types()
    torch.manual_seed(0)
    model = nn.Sequential(DropConnectLinear(4, 8, p=0.5), nn.ReLU(), nn.Linear(8, 2)).eval()
    x = torch.randn(5, 4, generator=gen(40))
    _, std = mc_dropout_predict(model, x, num_samples=20)
    assert (std > 0).all()  # every pass drew its own weight masks
    assert not any(m.training for m in model.modules())
    with dropout_only_training(model):
        assert [m.training for m in model] == [True, False, False]


def test_register_dropout_type_adds_a_layer_and_rejects_non_modules():
    from attnreg.dropout import dropout_types, register_dropout_type

    class NoisyLayer(nn.Module):
        def forward(self, x):
            return x + torch.randn_like(x) if self.training else x

    assert NoisyLayer not in dropout_types()
    assert register_dropout_type(NoisyLayer) is NoisyLayer
    register_dropout_type(NoisyLayer)  # twice is once
    assert dropout_types().count(NoisyLayer) == 1
    model = nn.Sequential(nn.Linear(3, 3), NoisyLayer()).eval()
    _, std = mc_dropout_predict(model, torch.ones(2, 3), num_samples=10)
    assert (std > 0).all()
    with pytest.raises(TypeError, match="layer_type must be a subclass of torch.nn.Module, got 3"):
        register_dropout_type(3)


def test_explicit_dropout_types_are_validated():
    model = small_net()
    with pytest.raises(TypeError, match=r"dropout_types must be a non-empty tuple of torch.nn.Module subclasses or None, got \[\]"):
        with dropout_only_training(model, dropout_types=[]):
            pass
    with pytest.raises(ValueError, match="model has no dropout layer"):
        mc_dropout_predict(nn.Sequential(nn.Linear(2, 2)), torch.ones(1, 2), 3)


# ----------------------------------------------------------------------------------------------
# SpatialDropout and DropBlock2d: the layer forms


@pytest.mark.parametrize("layer, functional", [
    (SpatialDropout(0.3), lambda x: spatial_dropout(x, 0.3)),
    (DropBlock2d(0.2, 3), lambda x: drop_block2d(x, 0.2, 3)),
])
def test_layer_forms_equal_the_functions_in_training_and_are_identity_in_eval(layer, functional):
    x = torch.randn(4, 5, 9, 9, generator=gen(41))
    torch.manual_seed(7)
    out = layer.train()(x)
    torch.manual_seed(7)
    assert torch.equal(out, functional(x))
    assert not torch.equal(out, x)
    assert layer.eval()(x) is x


def test_layer_forms_are_dropout_types_found_by_mc_dropout():
    from attnreg.dropout import dropout_types

    assert SpatialDropout in dropout_types() and DropBlock2d in dropout_types()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), SpatialDropout(0.5), DropBlock2d(0.2, 3),
                          nn.Flatten(), nn.Linear(4 * 8 * 8, 2)).eval()
    _, std = mc_dropout_predict(model, torch.randn(3, 1, 8, 8, generator=gen(42)), num_samples=10)
    assert (std > 0).all()
    assert not any(m.training for m in model.modules())
    assert repr(DropBlock2d(0.2, 3)) == "DropBlock2d(p=0.2, block_size=3)"
    assert repr(SpatialDropout(0.5)) == "SpatialDropout(p=0.5)"


def test_layer_forms_reject_bad_arguments():
    with pytest.raises(ValueError, match="p must be"):
        SpatialDropout(1.5)
    with pytest.raises(ValueError, match="p must be"):
        DropBlock2d(-0.1, 3)
    with pytest.raises(ValueError, match="block_size must be"):
        DropBlock2d(0.1, 0)
    with pytest.raises(TypeError, match="block_size must be"):
        DropBlock2d(0.1, 2.5)
    with pytest.raises(ValueError, match="block_size must be"):
        DropBlock2d(0.1, 9).train()(torch.ones(1, 1, 5, 5))
    with pytest.raises(ValueError, match="x must"):
        SpatialDropout(0.5).train()(torch.ones(2, 3))


# ----------------------------------------------------------------------------------------------
# dropout on a linear model's inputs as a ridge penalty (Wager, Wang and Liang, 2013)


def _regression(seed: int = 0, n: int = 40, scales: tuple[float, ...] = (0.5, 1.0, 3.0)):
    g = gen(seed)
    X = torch.randn(n, len(scales), generator=g, dtype=torch.float64) * torch.tensor(scales, dtype=torch.float64)
    y = X @ torch.ones(len(scales), dtype=torch.float64) + torch.randn(n, generator=g, dtype=torch.float64)
    return X, y


def test_dropout_ridge_penalty_values():
    X = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64)
    w = torch.tensor([2.0, -1.0], dtype=torch.float64)
    # column energies 10 and 5: p / (1 - p) * (4 * 10 + 1 * 5) = 45 p / (1 - p)
    assert dropout_ridge_penalty(X, w, 0.5).item() == pytest.approx(45.0)
    assert dropout_ridge_penalty(X, w, 0.2).item() == pytest.approx(45.0 * 0.25)
    assert dropout_ridge_penalty(X, w, 0.0).item() == 0.0


def test_dropout_ridge_penalty_matches_a_monte_carlo_average_of_masked_losses():
    X, y = _regression(1, n=30)
    w, p, draws = torch.tensor([0.5, -1.0, 0.3], dtype=torch.float64), 0.4, 40_000
    masks = (torch.rand(draws, *X.shape, generator=gen(2), dtype=torch.float64) >= p).double()
    losses = ((y - (masks * X / (1 - p)) @ w) ** 2).sum(1)
    closed_form = ((y - X @ w) ** 2).sum() + dropout_ridge_penalty(X, w, p)
    standard_error = losses.std() / math.sqrt(draws)
    assert abs(losses.mean() - closed_form) < 5 * standard_error
    # the penalty matters: without it the average is many standard errors away
    assert abs(losses.mean() - ((y - X @ w) ** 2).sum()) > 50 * standard_error


def test_dropout_ridge_solution_minimises_the_expected_loss():
    X, y = _regression(3)
    p = 0.3
    w = dropout_ridge_solution(X, y, p)
    expected_loss = lambda v: ((y - X @ v) ** 2).sum() + dropout_ridge_penalty(X, v, p)
    v = w.clone().requires_grad_(True)
    expected_loss(v).backward()
    torch.testing.assert_close(v.grad, torch.zeros_like(w), atol=1e-9, rtol=0)
    for step in torch.eye(3, dtype=torch.float64):
        assert expected_loss(w + 1e-3 * step) > expected_loss(w) and expected_loss(w - 1e-3 * step) > expected_loss(w)


def test_dropout_ridge_solution_is_least_squares_at_zero_and_rescales_with_the_features():
    X, y = _regression(4)
    least_squares = torch.linalg.lstsq(X, y[:, None]).solution[:, 0]
    torch.testing.assert_close(dropout_ridge_solution(X, y, 0.0), least_squares)
    scale = torch.tensor([10.0, 1.0, 0.1], dtype=torch.float64)
    # rescaling feature j by s rescales w_j by 1 / s: the predictions do not change (plain ridge's would)
    torch.testing.assert_close(dropout_ridge_solution(X * scale, y, 0.4), dropout_ridge_solution(X, y, 0.4) / scale)


def test_dropout_ridge_solution_on_orthogonal_features_shrinks_every_weight_by_one_minus_p():
    X = torch.tensor([[2.0, 0.0], [0.0, 5.0], [0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    least_squares = torch.tensor([0.5, 0.4], dtype=torch.float64)
    torch.testing.assert_close(dropout_ridge_solution(X, y, 0.25), 0.75 * least_squares)


def test_dropout_ridge_helpers_reject_bad_inputs():
    X, y = _regression(5)
    w = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\), got 1.0"):
        dropout_ridge_penalty(X, w, 1.0)
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\), got -0.1"):
        dropout_ridge_solution(X, y, -0.1)
    with pytest.raises(ValueError, match=r"X must be 2-dimensional, got shape \(40,\)"):
        dropout_ridge_penalty(X[:, 0], w, 0.5)
    with pytest.raises(TypeError, match="X must be a floating-point tensor"):
        dropout_ridge_solution(X.long(), y, 0.5)
    with pytest.raises(ValueError, match=r"w must have one entry per column of X \(3\)"):
        dropout_ridge_penalty(X, torch.zeros(2, dtype=torch.float64), 0.5)
    with pytest.raises(ValueError, match="w must have one entry per column of X .* got shape \\(3,\\), torch.float32"):
        dropout_ridge_penalty(X, w.float(), 0.5)
    with pytest.raises(ValueError, match="X and y must have the same number of rows"):
        dropout_ridge_solution(X, y[:-1], 0.5)
    X_zero = X.clone()
    X_zero[:, 1] = 0
    with pytest.raises(ValueError, match="X must have no all-zero column .* got column 1 all zero"):
        dropout_ridge_solution(X_zero, y, 0.5)
