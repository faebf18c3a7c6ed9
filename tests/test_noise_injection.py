import pytest
import torch

from attnreg.regularization import augment_with_noise, fit_ridge
from regression_cases import regression_data


def test_augment_with_noise_shapes_statistics_and_tikhonov_limit():
    X, y = regression_data(n=30, d=3)
    X_aug, y_aug = augment_with_noise(X, y, 2000, 0.4, generator=torch.Generator().manual_seed(0))
    assert X_aug.shape == (60000, 3) and torch.equal(y_aug[:30], y) and torch.equal(y_aug[30:60], y)
    noise = X_aug - X.repeat(2000, 1)
    assert noise.std().item() == pytest.approx(0.4, rel=0.02)
    # least squares on the noisy copies approaches ridge with lam = noise_std^2
    gap = (fit_ridge(X_aug, y_aug, 0.0).weight - fit_ridge(X, y, 0.4**2).weight).norm()
    assert gap < 0.02 < (fit_ridge(X, y, 0.0).weight - fit_ridge(X, y, 0.4**2).weight).norm()
    with pytest.raises(ValueError, match=r"copies must be an integer in \[1, inf\], got 0"):
        augment_with_noise(X, y, 0, 0.1)
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0, got -0.1"):
        augment_with_noise(X, y, 2, -0.1)
