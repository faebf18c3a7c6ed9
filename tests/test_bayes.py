import math
import warnings

import matplotlib
import numpy as np
import pytest
import torch
from scipy import integrate
from sklearn.linear_model import ElasticNet, Lasso, Ridge

from attnreg.bayes import (
    elastic_net_log_normalizer,
    elastic_net_map,
    gaussian_posterior,
    gaussian_prior_lambda,
    laplace_prior_lambda,
    lasso_map,
    least_squares_mle,
    log_evidence,
    log_likelihood,
    log_prior,
    neg_log_posterior,
    predictive,
    ridge_map,
)
from attnreg.data import synthetic_regression

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def seeded():
    """Every test draws the same random numbers on every run."""
    torch.manual_seed(0)


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    """30 examples of a sparse 5-D linear model in float64, noise standard deviation 1."""
    w = torch.tensor([1.5, -2.0, 0.0, 0.0, 0.5], dtype=torch.float64)
    return synthetic_regression(w, 0.0, 30, noise_std=1.0, generator=torch.Generator().manual_seed(0))


def sklearn_fit(model, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return torch.from_numpy(model.fit(X.numpy(), y.numpy()).coef_)


# ------------------------------------------------------------------ penalty strengths

def test_prior_lambdas():
    assert gaussian_prior_lambda(3.0, 2.0) == pytest.approx(9 / 4)
    assert gaussian_prior_lambda(0.5, 0.5) == pytest.approx(1.0)
    assert laplace_prior_lambda(3.0, 2.0) == pytest.approx(2 * 9 / 2)
    assert laplace_prior_lambda(0.1, 0.02) == pytest.approx(1.0)


@pytest.mark.parametrize("call, name", [
    (lambda: gaussian_prior_lambda(0.0, 1.0), "sigma"),
    (lambda: gaussian_prior_lambda(-1.0, 1.0), "sigma"),
    (lambda: gaussian_prior_lambda(1.0, 0.0), "tau"),
    (lambda: gaussian_prior_lambda(1.0, -2.0), "tau"),
    (lambda: gaussian_prior_lambda(1.0, math.inf), "tau"),
    (lambda: laplace_prior_lambda(-0.5, 1.0), "sigma"),
    (lambda: laplace_prior_lambda(1.0, 0.0), "kappa"),
    (lambda: laplace_prior_lambda(1.0, -1.0), "kappa"),
    (lambda: elastic_net_log_normalizer(0.0, 1.0), "tau"),
    (lambda: elastic_net_log_normalizer(1.0, -1.0), "kappa"),
])
def test_scales_must_be_positive(call, name):
    with pytest.raises(ValueError, match=rf"^{name} must be a finite number > 0, got"):
        call()


def test_scale_type_error_names_argument():
    with pytest.raises(TypeError, match=r"^sigma must be a real number, got '1'"):
        gaussian_prior_lambda("1", 1.0)


# ------------------------------------------------------------------ densities against torch.distributions

def test_log_likelihood_matches_torch_normal(data):
    X, y = data
    theta = torch.randn(5, dtype=torch.float64)
    expected = torch.distributions.Normal(X @ theta, 0.7).log_prob(y).sum()
    assert torch.allclose(log_likelihood(theta, X, y, 0.7), expected)


@pytest.mark.parametrize("prior, scale, distribution", [
    ("gaussian", 0.8, torch.distributions.Normal(0.0, 0.8)),
    ("laplace", 0.3, torch.distributions.Laplace(0.0, 0.3)),
])
def test_log_prior_matches_torch(prior, scale, distribution):
    theta = torch.randn(4, 3, dtype=torch.float64)  # a batch of 4 parameter vectors
    expected = distribution.log_prob(theta).sum(dim=-1)
    assert torch.allclose(log_prior(theta, prior, scale), expected)


def test_flat_prior_is_zero():
    theta = torch.randn(6, 2, dtype=torch.float64)
    assert torch.equal(log_prior(theta, None), torch.zeros(6, dtype=torch.float64))


@pytest.mark.parametrize("tau, kappa", [(1.0, 1.0), (0.3, 2.0), (5.0, 0.1), (100.0, 0.01), (0.01, 100.0)])
def test_elastic_net_normalizer_matches_quadrature(tau, kappa):
    z, _ = integrate.quad(lambda t: math.exp(-t * t / (2 * tau**2) - abs(t) / kappa), -math.inf, math.inf,
                          epsabs=0, epsrel=1e-12, limit=200)
    assert elastic_net_log_normalizer(tau, kappa) == pytest.approx(math.log(z), rel=1e-9, abs=1e-9)


def test_elastic_net_normalizer_limits():
    # kappa -> infinity: the Gaussian normaliser sqrt(2 pi) tau; tau -> infinity: the Laplace normaliser 2 kappa.
    assert elastic_net_log_normalizer(0.7, 1e9) == pytest.approx(math.log(math.sqrt(2 * math.pi) * 0.7), abs=1e-8)
    assert elastic_net_log_normalizer(1e6, 0.4) == pytest.approx(math.log(2 * 0.4), abs=1e-6)


def test_elastic_net_prior_density_integrates_to_one():
    t = torch.linspace(-30, 30, 200_001, dtype=torch.float64).unsqueeze(-1)  # d = 1
    density = log_prior(t, "elastic_net", (1.2, 0.5)).exp()
    assert torch.trapezoid(density, t.squeeze(-1)).item() == pytest.approx(1.0, abs=1e-6)


def test_neg_log_posterior_is_sum_and_batches(data):
    X, y = data
    thetas = torch.randn(3, 4, 5, dtype=torch.float64)
    value = neg_log_posterior(thetas, X, y, 1.3, "gaussian", 0.5)
    assert value.shape == (3, 4)
    expected = -(log_likelihood(thetas, X, y, 1.3) + log_prior(thetas, "gaussian", 0.5))
    assert torch.allclose(value, expected)
    single = neg_log_posterior(thetas[1, 2], X, y, 1.3, "gaussian", 0.5)
    assert single.shape == () and torch.allclose(single, value[1, 2])


@pytest.mark.parametrize("prior, scale, penalty, constant", [
    (None, None, lambda t: 0.0, lambda n, d: 0.0),
    ("gaussian", 0.4, lambda t: gaussian_prior_lambda(0.9, 0.4) * t.pow(2).sum(-1),
     lambda n, d: 0.5 * d * math.log(2 * math.pi * 0.4**2)),
    ("laplace", 0.25, lambda t: laplace_prior_lambda(0.9, 0.25) * t.abs().sum(-1),
     lambda n, d: d * math.log(2 * 0.25)),
])
def test_neg_log_posterior_is_scaled_objective_plus_constant(data, prior, scale, penalty, constant):
    """-log p(y|theta) - log p(theta) = J(theta) / (2 sigma^2) + n/2 log(2 pi sigma^2) + (prior's constant)."""
    X, y = data
    sigma, (n, d) = 0.9, X.shape
    thetas = 2 * torch.randn(10, d, dtype=torch.float64)
    objective = (y - thetas @ X.T).pow(2).sum(-1) + penalty(thetas)
    difference = neg_log_posterior(thetas, X, y, sigma, prior, scale) - objective / (2 * sigma**2)
    expected = 0.5 * n * math.log(2 * math.pi * sigma**2) + constant(n, d)
    assert torch.allclose(difference, torch.full_like(difference, expected))


def test_neg_log_posterior_is_differentiable(data):
    X, y = data
    theta = torch.randn(5, dtype=torch.float64, requires_grad=True)
    neg_log_posterior(theta, X, y, 1.0, "gaussian", 2.0).backward()
    expected = (X.T @ (X @ theta - y)) / 1.0 + theta / 4.0
    assert torch.allclose(theta.grad, expected.detach())


# ------------------------------------------------------------------ estimators

def test_least_squares_mle(data):
    X, y = data
    expected = np.linalg.lstsq(X.numpy(), y.numpy(), rcond=None)[0]
    assert torch.allclose(least_squares_mle(X, y), torch.from_numpy(expected), atol=1e-12)


def test_ridge_map_matches_sklearn_and_zero_gradient(data):
    X, y = data
    theta = ridge_map(X, y, 1.0, 0.5)
    reference = sklearn_fit(Ridge(alpha=gaussian_prior_lambda(1.0, 0.5), fit_intercept=False), X, y)
    assert torch.allclose(theta, reference, atol=1e-10)
    theta = theta.clone().requires_grad_(True)
    neg_log_posterior(theta, X, y, 1.0, "gaussian", 0.5).backward()
    assert theta.grad.abs().max() < 1e-9


def test_ridge_map_tends_to_mle_as_prior_widens(data):
    X, y = data
    assert torch.allclose(ridge_map(X, y, 1.0, 1e6), least_squares_mle(X, y), atol=1e-9)


def test_lasso_map_matches_sklearn(data):
    X, y = data
    n = X.shape[0]
    theta = lasso_map(X, y, 1.0, 0.5)
    alpha = laplace_prior_lambda(1.0, 0.5) / (2 * n)
    reference = sklearn_fit(Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=100_000), X, y)
    assert torch.allclose(theta, reference, atol=1e-8)
    assert (theta == 0).sum() >= 1  # the prior of a sparse model gives exact zeros


def test_lasso_map_is_zero_for_a_narrow_prior(data):
    X, y = data
    kappa = 0.99 * 2 / (2 * (X.T @ y).abs().max().item())  # lambda just above max |2 X^T y|
    assert torch.equal(lasso_map(X, y, 1.0, kappa), torch.zeros(5, dtype=torch.float64))


def test_elastic_net_map_matches_sklearn(data):
    X, y = data
    n = X.shape[0]
    l2, l1 = gaussian_prior_lambda(1.0, 0.5), laplace_prior_lambda(1.0, 0.5)
    alpha = l1 / (2 * n) + l2 / n  # sklearn: 1/(2n) ||y - Xw||^2 + alpha rho ||w||_1 + alpha (1 - rho)/2 ||w||^2
    model = ElasticNet(alpha=alpha, l1_ratio=l1 / (2 * n) / alpha, fit_intercept=False, tol=1e-14, max_iter=100_000)
    assert torch.allclose(elastic_net_map(X, y, 1.0, 0.5, 0.5), sklearn_fit(model, X, y), atol=1e-8)


def test_elastic_net_map_limits(data):
    X, y = data
    assert torch.allclose(elastic_net_map(X, y, 1.0, 0.5, 1e9), ridge_map(X, y, 1.0, 0.5), atol=1e-7)
    assert torch.allclose(elastic_net_map(X, y, 1.0, 1e9, 0.5), lasso_map(X, y, 1.0, 0.5), atol=1e-7)


def test_lasso_map_warns_when_out_of_iterations(data):
    X, y = data
    with pytest.warns(RuntimeWarning, match="stopped after max_iter=2 iterations"):
        lasso_map(X, y, 1.0, 0.5, max_iter=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lasso_map(X, y, 1.0, 0.5)


@pytest.mark.parametrize("call, message", [
    (lambda X, y: lasso_map(X, y, 1.0, 0.5, tol=0.0), r"^tol must be a finite number > 0, got 0.0"),
    (lambda X, y: elastic_net_map(X, y, 1.0, 0.5, 0.5, max_iter=0), r"^max_iter must be an integer in \[1, inf\], got 0"),
])
def test_solver_settings_are_checked(data, call, message):
    with pytest.raises(ValueError, match=message):
        call(*data)


def test_lasso_map_satisfies_the_optimality_conditions(data):
    """2 X_j^T (X theta - y) + lambda sign(theta_j) = 0 where theta_j != 0, |2 X_j^T (X theta - y)| <= lambda where 0."""
    X, y = data
    theta, lam = lasso_map(X, y, 1.0, 0.5), laplace_prior_lambda(1.0, 0.5)
    gradient = 2 * X.T @ (X @ theta - y)
    nonzero = theta != 0
    assert torch.allclose(gradient[nonzero], -lam * torch.sign(theta[nonzero]), atol=1e-6)
    assert (gradient[~nonzero].abs() <= lam + 1e-6).all()


# ------------------------------------------------------------------ bad data, priors and scales

X_OK = torch.randn(10, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
Y_OK = torch.randn(10, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
THETA_OK = torch.zeros(3, dtype=torch.float64)


@pytest.mark.parametrize("call", [
    lambda X, y: neg_log_posterior(THETA_OK, X, y, 1.0),
    lambda X, y: least_squares_mle(X, y),
    lambda X, y: ridge_map(X, y, 1.0, 1.0),
    lambda X, y: lasso_map(X, y, 1.0, 1.0),
    lambda X, y: elastic_net_map(X, y, 1.0, 1.0, 1.0),
])
def test_data_errors_name_the_argument(call):
    with pytest.raises(ValueError, match=r"^X and y must have the same number of rows, got X of shape \(10, 3\) "
                                         r"and y of shape \(9,\)"):
        call(X_OK, Y_OK[:9])
    with pytest.raises(ValueError, match=r"^X must be 2-dimensional, got shape \(10,\)"):
        call(Y_OK, Y_OK)
    with pytest.raises(ValueError, match=r"^y must be 1-dimensional, got shape \(10, 1\)"):
        call(X_OK, Y_OK.unsqueeze(1))
    with pytest.raises(ValueError, match=r"^y must have the dtype and device of X \(torch.float64 on cpu\), "
                                         r"got torch.float32"):
        call(X_OK, Y_OK.float())
    with pytest.raises(TypeError, match=r"^X must be a torch.Tensor, got ndarray"):
        call(X_OK.numpy(), Y_OK)


@pytest.mark.parametrize("call, error, message", [
    (lambda: neg_log_posterior(torch.zeros(4, dtype=torch.float64), X_OK, Y_OK, 1.0), ValueError,
     r"^theta must have 3 entries in its last dimension \(one per column of X\), got shape \(4,\)"),
    (lambda: neg_log_posterior(THETA_OK, X_OK, Y_OK, 0.0), ValueError, r"^sigma must be a finite number > 0, got 0.0"),
    (lambda: neg_log_posterior(THETA_OK, X_OK, Y_OK, 1.0, "cauchy", 1.0), ValueError,
     r"^prior must be one of None, 'gaussian', 'laplace', 'elastic_net', got 'cauchy'"),
    (lambda: neg_log_posterior(THETA_OK, X_OK, Y_OK, 1.0, "gaussian"), TypeError,
     r"^scale \(tau of the Gaussian prior\) must be a real number, got None"),
    (lambda: neg_log_posterior(THETA_OK, X_OK, Y_OK, 1.0, "gaussian", -1.0), ValueError,
     r"^scale \(tau of the Gaussian prior\) must be a finite number > 0, got -1.0"),
    (lambda: neg_log_posterior(THETA_OK, X_OK, Y_OK, 1.0, "laplace", 0.0), ValueError,
     r"^scale \(kappa of the Laplace prior\) must be a finite number > 0, got 0.0"),
    (lambda: neg_log_posterior(THETA_OK, X_OK, Y_OK, 1.0, None, 2.0), ValueError,
     r"^scale must be None when prior is None \(a flat prior has no scale\), got 2.0"),
    (lambda: neg_log_posterior(THETA_OK, X_OK, Y_OK, 1.0, "elastic_net", 1.0), ValueError,
     r"^scale must be a pair \(tau, kappa\) when prior is 'elastic_net', got 1.0"),
    (lambda: neg_log_posterior(THETA_OK, X_OK, Y_OK, 1.0, "elastic_net", (1.0, -2.0)), ValueError,
     r"^scale\[1\] \(kappa of the elastic-net prior\) must be a finite number > 0, got -2.0"),
    (lambda: log_prior(torch.zeros(3, dtype=torch.long), "gaussian", 1.0), TypeError,
     r"^theta must be a floating-point tensor, got dtype torch.int64"),
    (lambda: ridge_map(X_OK, Y_OK, 1.0, 0.0), ValueError, r"^tau must be a finite number > 0, got 0.0"),
    (lambda: lasso_map(X_OK, Y_OK, -1.0, 1.0), ValueError, r"^sigma must be a finite number > 0, got -1.0"),
    (lambda: lasso_map(X_OK, Y_OK, 1.0, -1.0), ValueError, r"^kappa must be a finite number > 0, got -1.0"),
    (lambda: elastic_net_map(X_OK, Y_OK, 1.0, 1.0, 0.0), ValueError, r"^kappa must be a finite number > 0, got 0.0"),
    (lambda: gaussian_posterior(X_OK, Y_OK, 1.0, -2.0), ValueError, r"^tau must be a finite number > 0, got -2.0"),
    (lambda: predictive(X_OK, torch.zeros(3, dtype=torch.float64), torch.eye(2, dtype=torch.float64), 1.0),
     ValueError, r"^covariance must have shape \(3, 3\), got \(2, 2\)"),
    (lambda: predictive(X_OK, torch.zeros(2, dtype=torch.float64), torch.eye(3, dtype=torch.float64), 1.0),
     ValueError, r"^theta must have 3 entries"),
])
def test_bad_arguments_name_the_argument(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ------------------------------------------------------------------ the posterior beyond MAP

def test_gaussian_posterior_mean_is_ridge_and_covariance_the_inverse_hessian(data):
    X, y = data
    mean, cov = gaussian_posterior(X, y, 1.3, 0.4)
    assert torch.allclose(mean, ridge_map(X, y, 1.3, 0.4), atol=1e-12)
    hessian = torch.autograd.functional.hessian(lambda t: neg_log_posterior(t, X, y, 1.3, "gaussian", 0.4), mean)
    assert torch.allclose(cov, torch.linalg.inv(hessian), atol=1e-12)
    assert torch.allclose(cov, cov.T) and (torch.linalg.eigvalsh(cov) > 0).all()


def test_gaussian_posterior_by_quadrature_in_one_dimension():
    X = torch.tensor([[0.5], [-1.0], [2.0], [0.3]], dtype=torch.float64)
    y = torch.tensor([0.2, -1.1, 1.5, 0.4], dtype=torch.float64)
    sigma, tau = 0.7, 0.5
    mean, cov = gaussian_posterior(X, y, sigma, tau)
    def density(t, power):
        theta = torch.tensor([t], dtype=torch.float64)
        return t**power * math.exp(-neg_log_posterior(theta, X, y, sigma, "gaussian", tau).item())
    z = integrate.quad(density, -10, 10, args=(0,), epsabs=0, epsrel=1e-12)[0]
    m1 = integrate.quad(density, -10, 10, args=(1,), epsabs=0, epsrel=1e-12)[0] / z
    m2 = integrate.quad(density, -10, 10, args=(2,), epsabs=0, epsrel=1e-12)[0] / z
    assert mean.item() == pytest.approx(m1, rel=1e-9)
    assert cov.item() == pytest.approx(m2 - m1**2, rel=1e-9)


def test_predictive_matches_samples(data):
    X, y = data
    mean, cov = gaussian_posterior(X, y, 1.0, 0.5)
    X_new = torch.tensor([[0.0] * 5, [1.0, 0.0, -1.0, 2.0, 0.5], [3.0] * 5], dtype=torch.float64)
    mu, sd = predictive(X_new, mean, cov, 1.0)
    gen = torch.Generator().manual_seed(1)
    thetas = mean + torch.randn(200_000, 5, generator=gen, dtype=torch.float64) @ torch.linalg.cholesky(cov).T
    ys = thetas @ X_new.T + torch.randn(200_000, 3, generator=gen, dtype=torch.float64)
    assert torch.allclose(mu, X_new @ mean)
    assert sd[0].item() == pytest.approx(1.0)  # at x = 0 only the noise is left
    assert torch.allclose(ys.mean(0), mu, atol=0.02) and torch.allclose(ys.std(0), sd, rtol=0.01)
    assert sd[2] > sd[1] > sd[0]


def test_log_evidence_is_the_marginal_of_y(data):
    X, y = data
    C = 1.3**2 * torch.eye(len(X), dtype=torch.float64) + 0.4**2 * X @ X.T
    expected = torch.distributions.MultivariateNormal(torch.zeros(len(X), dtype=torch.float64), C).log_prob(y)
    assert log_evidence(X, y, 1.3, 0.4) == pytest.approx(expected.item(), rel=1e-12)


def test_log_evidence_by_integrating_theta_out():
    X = torch.tensor([[0.5], [-1.0], [2.0]], dtype=torch.float64)
    y = torch.tensor([0.2, -1.1, 1.5], dtype=torch.float64)
    sigma, tau = 0.7, 0.5
    def joint(t):  # p(y | X, theta) p(theta) = exp(-neg_log_posterior)
        return math.exp(-neg_log_posterior(torch.tensor([t], dtype=torch.float64), X, y, sigma, "gaussian", tau).item())
    z = integrate.quad(joint, -10, 10, epsabs=0, epsrel=1e-12)[0]
    assert log_evidence(X, y, sigma, tau) == pytest.approx(math.log(z), rel=1e-10)
    with pytest.raises(ValueError, match=r"^sigma must be a finite number > 0, got 0.0"):
        log_evidence(X, y, 0.0, tau)
