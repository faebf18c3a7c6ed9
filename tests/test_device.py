import random

import numpy as np
import pytest
import torch

from attnreg import get_device, set_seed


def test_get_device_follows_cuda_availability(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_device() == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_device() == torch.device("cuda")


def test_set_seed_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), np.random.rand(), torch.rand(3), torch.nn.Linear(4, 2).weight.detach().clone()

    set_seed(7)
    first = draw()
    set_seed(7)
    second = draw()
    assert first[0] == second[0] and first[1] == second[1]
    assert torch.equal(first[2], second[2]) and torch.equal(first[3], second[3])
    set_seed(8)
    assert not torch.equal(draw()[2], first[2])


@pytest.mark.parametrize("seed, error", [(-1, ValueError), (2**32, ValueError), (1.5, TypeError), ("0", TypeError)])
def test_set_seed_rejects_bad_seeds(seed, error):
    with pytest.raises(error, match="seed must be an integer"):
        set_seed(seed)


def test_model_device_reads_the_parameters_else_the_fallback():
    from attnreg.device import model_device

    assert model_device(torch.nn.Linear(2, 2).to(torch.float64)) == torch.device("cpu")
    assert model_device(torch.nn.ReLU(), torch.zeros(1, device="meta")) == torch.device("meta")
    assert model_device(torch.nn.ReLU()) == torch.device("cpu")
    assert model_device(torch.nn.Linear(2, 2, device="meta"), torch.zeros(1)) == torch.device("meta")
