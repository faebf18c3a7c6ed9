"""Small regression problems shared by the tests of ``attnreg.regularization``."""

import torch

from attnreg.data import synthetic_regression

F64 = torch.float64


def regression_data(n=40, d=6, seed=0, noise=0.3, sparse=False):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g, dtype=F64)
    if sparse:
        w[d // 2:] = 0.0
    return synthetic_regression(w, 0.7, n, noise, generator=g)
