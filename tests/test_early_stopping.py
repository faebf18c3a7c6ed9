import pytest
import torch
from torch import nn

from attnreg.regularization import EarlyStopping


def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=2)
    losses = [1.0, 0.5, 0.6, 0.4, 0.45, 0.41, 0.3]
    decisions, weights = [], []
    for loss in losses:
        with torch.no_grad():
            model.weight.add_(1.0)  # the weights change every epoch
        weights.append(model.weight.detach().clone())
        decisions.append(stopper.step(loss, model))
    assert decisions == [False, False, False, False, False, True, True]
    assert stopper.best_epoch == 4 and stopper.best_loss == 0.4 and stopper.stopped_epoch == 6
    assert stopper.should_stop
    stopper.restore(model)
    assert torch.equal(model.weight, weights[3])  # epoch 7's 0.3 came after the stop: ignored


def test_early_stopping_min_delta_and_nan():
    stopper = EarlyStopping(patience=2, min_delta=0.1)
    assert not stopper.step(1.0)
    assert not stopper.step(0.95)  # better, but not by more than min_delta
    assert stopper.step(float("nan"))
    assert stopper.best_loss == 1.0 and stopper.best_epoch == 1
    assert not EarlyStopping(patience=1).step(torch.tensor(0.3))


def test_early_stopping_saved_weights_are_a_copy():
    model = nn.Linear(2, 1)
    stopper = EarlyStopping(patience=3)
    stopper.step(1.0, model)
    saved = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.mul_(0.0)
    stopper.restore(model)
    assert torch.equal(model.weight, saved)


def test_early_stopping_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"patience must be an integer in \[1, inf\], got 0"):
        EarlyStopping(patience=0)
    with pytest.raises(TypeError, match="patience must be an integer, got 2.5"):
        EarlyStopping(patience=2.5)
    with pytest.raises(ValueError, match="min_delta must be a finite number >= 0, got -0.1"):
        EarlyStopping(patience=2, min_delta=-0.1)
    stopper = EarlyStopping(patience=2)
    with pytest.raises(TypeError, match="val_loss must be a real number, got str"):
        stopper.step("0.3")
    with pytest.raises(ValueError, match=r"val_loss must be a single number, got a tensor of shape \(2,\)"):
        stopper.step(torch.ones(2))
    with pytest.raises(TypeError, match="model must be an nn.Module or None, got dict"):
        stopper.step(0.3, {})
    with pytest.raises(RuntimeError, match="no weights saved yet"):
        stopper.restore(nn.Linear(2, 1))



def test_early_stopping_restore_rejects_a_non_module():
    stopper = EarlyStopping(patience=1)
    stopper.step(0.5, nn.Linear(2, 1))
    with pytest.raises(TypeError, match="model must be an nn.Module, got dict"):
        stopper.restore({})
