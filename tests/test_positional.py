import math

import pytest
import torch

from attnreg.attention import sinusoidal_positional_encoding


def test_values_follow_the_formula():
    table = sinusoidal_positional_encoding(7, 6)
    assert table.shape == (7, 6) and table.dtype == torch.float32
    for pos in range(7):
        for i in range(3):
            w = 10000 ** (-2 * i / 6)
            assert table[pos, 2 * i].item() == pytest.approx(math.sin(pos * w), abs=1e-6)
            assert table[pos, 2 * i + 1].item() == pytest.approx(math.cos(pos * w), abs=1e-6)


def test_position_zero_and_bounds():
    table = sinusoidal_positional_encoding(50, 16)
    assert torch.equal(table[0, 0::2], torch.zeros(8)) and torch.equal(table[0, 1::2], torch.ones(8))
    assert table.abs().max() <= 1.0
    # Every (sin, cos) pair lies on the unit circle: each row has norm sqrt(dim / 2).
    assert torch.allclose(table.norm(dim=1), torch.full((50,), math.sqrt(8.0)), atol=1e-5)


def test_odd_dim_ends_with_a_sine():
    odd, even = sinusoidal_positional_encoding(10, 5), sinusoidal_positional_encoding(10, 6)
    assert odd.shape == (10, 5)
    positions = torch.arange(10.0)
    for i in range(3):  # frequencies 10000^(-2i/5), i = 0, 1, 2; the last one has only its sine
        angles = positions * 10000 ** (-2 * i / 5)
        assert torch.allclose(odd[:, 2 * i], torch.sin(angles), atol=1e-6)
        if 2 * i + 1 < 5:
            assert torch.allclose(odd[:, 2 * i + 1], torch.cos(angles), atol=1e-6)
    assert not torch.allclose(odd[:, 2:4], even[:, 2:4])  # the frequencies depend on dim


def test_a_shift_is_a_rotation_of_each_pair():
    # [sin w(p+k), cos w(p+k)] = [[cos wk, sin wk], [-sin wk, cos wk]] @ [sin wp, cos wp]
    dim, k = 8, 5
    table = sinusoidal_positional_encoding(40, dim)
    for i in range(dim // 2):
        w = 10000 ** (-2 * i / dim)
        rotation = torch.tensor([[math.cos(w * k), math.sin(w * k)], [-math.sin(w * k), math.cos(w * k)]])
        pairs = table[:, 2 * i:2 * i + 2]
        assert torch.allclose(pairs[:-k] @ rotation.T, pairs[k:], atol=1e-5)


def test_dot_product_depends_only_on_the_offset():
    table = sinusoidal_positional_encoding(60, 16)
    for k in (1, 3, 10):
        dots = (table[:-k] * table[k:]).sum(dim=1)
        expected = sum(math.cos(10000 ** (-2 * i / 16) * k) for i in range(8))
        assert torch.allclose(dots, torch.full_like(dots, expected), atol=1e-4)


@pytest.mark.parametrize(
    "args, error, message",
    [
        ((0, 4), ValueError, r"num_positions must be an integer in \[1, inf\], got 0"),
        ((4, 0), ValueError, r"dim must be an integer in \[1, inf\], got 0"),
        ((4.5, 4), TypeError, "num_positions must be an integer, got 4.5"),
        ((4, 4, -1.0), ValueError, r"base must be a finite number > 0, got -1.0"),
    ],
)
def test_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        sinusoidal_positional_encoding(*args)
