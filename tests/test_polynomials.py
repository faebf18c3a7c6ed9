import numpy as np
import pytest
import torch

from attnreg.data import polynomial_data
from attnreg.regularization import fit_polynomial, polynomial_errors, polynomial_features

F64 = torch.float64


def test_polynomial_features_match_numpy():
    x = torch.linspace(-1, 1, 7, dtype=F64)
    monomial = polynomial_features(x, 4, basis="monomial")
    assert np.allclose(monomial.numpy(), np.vander(x.numpy(), 5, increasing=True)[:, 1:])
    legendre = polynomial_features(x, 6)
    assert np.allclose(legendre.numpy(), np.polynomial.legendre.legvander(x.numpy(), 6)[:, 1:])
    assert polynomial_features(x, 0).shape == (7, 0)


def test_polynomial_bases_give_the_same_fit_and_legendre_is_better_conditioned():
    x, y = polynomial_data([0.5, -1.0, 0.0, 2.0], 40, 0.1, generator=torch.Generator().manual_seed(0))
    grid = torch.linspace(-1, 1, 50, dtype=F64)
    legendre, monomial = fit_polynomial(x, y, 8), fit_polynomial(x, y, 8, basis="monomial")
    assert torch.allclose(legendre.predict(grid), monomial.predict(grid), atol=1e-6)
    assert torch.linalg.cond(polynomial_features(x, 12)) < torch.linalg.cond(polynomial_features(x, 12, "monomial")) / 100


def test_fit_polynomial_recovers_a_noiseless_cubic_and_interpolates_when_degree_is_high():
    x, y = polynomial_data([1.0, -2.0, 0.5, 3.0], 25, 0.0, generator=torch.Generator().manual_seed(1))
    cubic = fit_polynomial(x, y, 3, basis="monomial")
    assert torch.allclose(cubic.linear.weight, torch.tensor([-2.0, 0.5, 3.0], dtype=F64), atol=1e-8)
    assert cubic.linear.bias == pytest.approx(1.0)
    noisy_x, noisy_y = polynomial_data([0.0, 1.0], 10, 0.5, generator=torch.Generator().manual_seed(2))
    assert fit_polynomial(noisy_x, noisy_y, 12).squared_error(noisy_x, noisy_y) < 1e-12
    assert fit_polynomial(noisy_x, noisy_y, 0).predict(noisy_x).allclose(noisy_y.mean().expand(10))
    ridge = fit_polynomial(noisy_x, noisy_y, 12, lam=1.0)
    assert ridge.linear.weight.norm() < fit_polynomial(noisy_x, noisy_y, 12).linear.weight.norm()


def test_polynomial_helpers_reject_bad_input():
    x = torch.linspace(-1, 1, 5, dtype=F64)
    with pytest.raises(ValueError, match=r"degree must be an integer in \[0, inf\], got -1"):
        polynomial_features(x, -1)
    with pytest.raises(ValueError, match="basis must be one of 'legendre', 'monomial', got 'chebyshev'"):
        polynomial_features(x, 2, basis="chebyshev")
    with pytest.raises(ValueError, match="X and y must have the same number of rows"):
        fit_polynomial(x, x[:3], 2)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        fit_polynomial(x, x, 2, lam=-0.1)


def test_polynomial_data():
    x, y = polynomial_data([1.0, 2.0], 1000, 0.0, x_range=(-2.0, 3.0), generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (1000,) and x.dtype == F64
    assert -2.0 <= x.min() and x.max() <= 3.0
    assert torch.allclose(y, 1.0 + 2.0 * x)
    _, noisy = polynomial_data([0.0], 20000, 0.5, generator=torch.Generator().manual_seed(0))
    assert noisy.std().item() == pytest.approx(0.5, rel=0.03)
    with pytest.raises(ValueError, match="coefficients must be a non-empty 1-D list"):
        polynomial_data([], 10)
    with pytest.raises(ValueError, match=r"x_range must be \(low, high\) with low < high"):
        polynomial_data([1.0], 10, x_range=(1.0, 1.0))
    with pytest.raises(ValueError, match="noise_std must be a finite number >= 0, got -0.1"):
        polynomial_data([1.0], 10, noise_std=-0.1)
    with pytest.raises(ValueError, match=r"n must be an integer in \[1, inf\], got 0"):
        polynomial_data([1.0], 0)


def test_polynomial_errors_reuse_the_same_training_sets_for_every_degree():
    coefficients = [0.5, -1.0, 0.0, 2.0]
    test = polynomial_data(coefficients, 200, 0.2, generator=torch.Generator().manual_seed(9))
    errors = {k: polynomial_errors(coefficients, 30, k, noise_std=0.2, test_data=test, repeats=4, seed=1)
              for k in (1, 3, 8)}
    assert errors[1][0].shape == (4,)
    # nested models on the same training sets: the training error never grows with the degree
    assert (errors[3][0] <= errors[1][0] + 1e-12).all() and (errors[8][0] <= errors[3][0] + 1e-12).all()
    x, y = polynomial_data(coefficients, 30, 0.2, generator=torch.Generator().manual_seed(1))
    assert errors[3][0][0].item() == pytest.approx(fit_polynomial(x, y, 3).squared_error(x, y))
    assert errors[3][1][0].item() == pytest.approx(fit_polynomial(x, y, 3).squared_error(*test))
    with pytest.raises(ValueError, match=r"repeats must be an integer in \[1, inf\], got 0"):
        polynomial_errors(coefficients, 30, 3, noise_std=0.2, test_data=test, repeats=0, seed=1)


def test_polynomial_errors_take_the_basis():
    coefficients = [0.5, -1.0, 0.0, 2.0]
    test = polynomial_data(coefficients, 200, 0.2, generator=torch.Generator().manual_seed(9))
    common = dict(noise_std=0.2, test_data=test, repeats=3, seed=1)
    x, y = polynomial_data(coefficients, 30, 0.2, generator=torch.Generator().manual_seed(1))
    monomial = polynomial_errors(coefficients, 30, 12, lam=1e-4, basis="monomial", **common)
    assert monomial[1][0].item() == pytest.approx(fit_polynomial(x, y, 12, 1e-4, "monomial").squared_error(*test))
    # least squares does not depend on the basis; ridge does
    assert torch.allclose(polynomial_errors(coefficients, 30, 5, basis="monomial", **common)[1],
                          polynomial_errors(coefficients, 30, 5, **common)[1], rtol=1e-6)
    assert not torch.allclose(monomial[1], polynomial_errors(coefficients, 30, 12, lam=1e-4, **common)[1], rtol=1e-3)
    with pytest.raises(ValueError, match="basis must be one of"):
        polynomial_errors(coefficients, 30, 3, basis="chebyshev", **common)



def test_fit_polynomial_checks_lam_at_degree_0():
    x = torch.linspace(-1, 1, 5, dtype=F64)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0, got -1.0"):
        fit_polynomial(x, x, 0, lam=-1.0)
