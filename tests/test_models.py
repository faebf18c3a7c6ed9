import pytest
import torch
from torch import nn

from attnreg.models import mlp


def test_layers_and_output_shape():
    model = mlp([784, 256, 256, 10], (0.2, 0.5))
    kinds = [type(layer) for layer in model]
    assert kinds == [nn.Linear, nn.ReLU, nn.Dropout, nn.Linear, nn.ReLU, nn.Dropout, nn.Linear]
    assert [layer.p for layer in model if isinstance(layer, nn.Dropout)] == [0.2, 0.5]
    assert model(torch.zeros(3, 784)).shape == (3, 10)


def test_single_rate_and_no_dropout():
    assert sum(isinstance(m, nn.Dropout) for m in mlp([4, 8, 8, 2], 0.3)) == 2
    assert not any(isinstance(m, nn.Dropout) for m in mlp([4, 8, 2]))
    assert len(mlp([4, 2])) == 1  # no hidden layer: a single linear map


def test_custom_layers_are_used():
    calls = []

    def linear(fan_in, fan_out):
        calls.append((fan_in, fan_out))
        return nn.Linear(fan_in, fan_out, bias=False)

    model = mlp([5, 3, 2], 0.1, linear=linear, dropout_layer=nn.AlphaDropout, activation=nn.Tanh)
    assert calls == [(5, 3), (3, 2)]
    assert isinstance(model[1], nn.Tanh) and isinstance(model[2], nn.AlphaDropout)


@pytest.mark.parametrize(
    "sizes, dropout, error, message",
    [
        ([784], 0.0, ValueError, "sizes must list at least an input and an output size"),
        ([784, 0, 10], 0.0, ValueError, r"sizes\[1\] must be an integer in \[1, inf\], got 0"),
        ([784, 256, 10], (0.2, 0.5), ValueError, r"dropout must be one rate or one per hidden layer \(1\)"),
        ([784, 256, 10], 1.0, ValueError, r"dropout\[0\] must be a probability in \[0, 1\), got 1.0"),
        ([784, 256, 10], -0.1, ValueError, r"dropout\[0\] must be a probability"),
    ],
)
def test_bad_input(sizes, dropout, error, message):
    with pytest.raises(error, match=message):
        mlp(sizes, dropout)
