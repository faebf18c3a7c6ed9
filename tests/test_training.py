import pytest
import torch
import torch.nn.functional as F
from torch import nn

from attnreg import set_seed
from attnreg.data import ImageSplit
from attnreg.training import (
    History,
    evaluate,
    evaluate_accuracy,
    fit_epochs,
    make_optimizer,
    progress_enabled,
    train_classifier,
)


def blobs(n_per_class: int = 40, seed: int = 0) -> ImageSplit:
    """Three well-separated Gaussian blobs in 2-D, split in halves."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 4.0], [4.0, -2.0], [-4.0, -2.0]])
    X = torch.cat([c + torch.randn(n_per_class, 2, generator=g) * 0.5 for c in centres])
    y = torch.arange(3).repeat_interleave(n_per_class)
    order = torch.randperm(len(X), generator=g)
    X, y = X[order], y[order]
    half = len(X) // 2
    return ImageSplit(X[:half], y[:half], X[half:], y[half:])


def small_model() -> nn.Module:
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 3))


def test_training_learns_and_records_every_epoch():
    set_seed(0)
    model = small_model()
    history = train_classifier(model, blobs(), epochs=15, lr=0.1, batch_size=8, device="cpu", progress=False)
    assert history.epochs == 15
    assert all(len(values) == 15 for values in (history.train_loss, history.train_acc, history.test_loss, history.epoch_seconds))
    assert history.test_loss[-1] < history.test_loss[0]
    assert history.final()["test_acc"] == 1.0 and history.final()["train_acc"] == 1.0


def test_training_is_repeatable_with_seeds():
    def run(seed: int) -> History:
        set_seed(seed)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
        return train_classifier(model, blobs(), epochs=3, lr=0.05, batch_size=8, seed=seed, device="cpu", progress=False)

    assert run(1).test_loss == run(1).test_loss
    assert run(1).test_loss != run(2).test_loss


def test_history_metrics_are_eval_mode_measurements():
    set_seed(0)
    model = small_model()
    data = blobs()
    history = train_classifier(model, data, epochs=2, lr=0.1, device="cpu", progress=False)
    loss, acc = evaluate(model, data.X_test, data.y_test)
    assert history.test_loss[-1] == pytest.approx(loss) and history.test_acc[-1] == pytest.approx(acc)


def test_custom_loss_and_optimizers():
    calls = []

    def loss_fn(model, X, y):
        calls.append(len(X))
        return F.cross_entropy(model(X), y)

    for optimizer in ("sgd", "adam", "adamw"):
        calls.clear()
        train_classifier(small_model(), blobs(), epochs=1, lr=0.01, batch_size=16, optimizer=optimizer,
                         loss_fn=loss_fn, device="cpu", progress=False)
        assert sum(calls) == 60 and max(calls) == 16  # every training example once per epoch


def test_sgd_weight_decay_and_momentum_reach_the_optimizer():
    opt = make_optimizer(small_model().parameters(), "sgd", lr=0.1, weight_decay=0.01, momentum=0.9)
    assert isinstance(opt, torch.optim.SGD)
    assert opt.defaults["weight_decay"] == 0.01 and opt.defaults["momentum"] == 0.9
    assert isinstance(make_optimizer(small_model().parameters(), "adamw", lr=0.1), torch.optim.AdamW)


def test_evaluate_matches_direct_computation_and_restores_mode():
    model = small_model()
    data = blobs()
    model.train()
    loss, acc = evaluate(model, data.X_test, data.y_test, batch_size=7)
    model.eval()
    with torch.no_grad():
        logits = model(data.X_test)
    assert loss == pytest.approx(F.cross_entropy(logits, data.y_test).item(), rel=1e-5)
    assert acc == pytest.approx((logits.argmax(1) == data.y_test).float().mean().item())
    model.train()
    evaluate_accuracy(model, data.X_test, data.y_test)
    assert model.training


def test_progress_bar_setting(monkeypatch, capsys):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("ATTNREG_QUIET", raising=False)
    assert progress_enabled()
    monkeypatch.setenv("ATTNREG_QUIET", "1")
    assert not progress_enabled()
    monkeypatch.setenv("ATTNREG_QUIET", "0")
    monkeypatch.setenv("CI", "true")
    assert not progress_enabled()
    train_classifier(small_model(), blobs(), epochs=2, lr=0.1, device="cpu", progress=True)
    assert "epochs" in capsys.readouterr().err


def test_empty_history_has_no_final():
    with pytest.raises(ValueError, match="history is empty"):
        History().final()


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"epochs": 0}, ValueError, r"epochs must be an integer in \[1, inf\], got 0"),
        ({"lr": 0.0}, ValueError, "lr must be a finite number > 0, got 0.0"),
        ({"batch_size": 0}, ValueError, "batch_size must be an integer"),
        ({"weight_decay": -1.0}, ValueError, "weight_decay must be a finite number >= 0"),
        ({"optimizer": "rmsprop"}, ValueError, "optimizer must be one of 'sgd', 'adam', 'adamw', got 'rmsprop'"),
        ({"optimizer": "adam", "momentum": 0.9}, ValueError, "momentum applies to optimizer='sgd' only"),
        ({"eval_every": 0}, ValueError, r"eval_every must be an integer in \[1, inf\], got 0"),
        ({"eval_every": 2.0}, TypeError, "eval_every must be an integer, got 2.0"),
    ],
)
def test_bad_training_arguments(kwargs, error, message):
    args = {"epochs": 1, "lr": 0.1} | kwargs
    with pytest.raises(error, match=message):
        train_classifier(small_model(), blobs(), device="cpu", progress=False, **args)


def test_bad_data():
    data = blobs()
    with pytest.raises(TypeError, match="data.y_train must hold int64 class labels, got dtype torch.float32"):
        train_classifier(small_model(), ImageSplit(data.X_train, data.y_train.float(), data.X_test, data.y_test),
                         epochs=1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="data.X_test and data.y_test must have the same number of rows"):
        train_classifier(small_model(), ImageSplit(data.X_train, data.y_train, data.X_test, data.y_test[:-1]),
                         epochs=1, lr=0.1, progress=False)
    with pytest.raises(ValueError, match="y must be 1-dimensional"):
        evaluate(small_model(), data.X_test, data.y_test[:, None])


def test_fit_epochs_visits_every_index_once_per_epoch_and_records_the_evaluation():
    model = nn.Linear(1, 1)
    seen: list[torch.Tensor] = []

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        seen.append(idx)
        return model(torch.ones(len(idx), 1)).pow(2).mean()

    evaluations = iter([(1.0, 0.1), (2.0, 0.2), (3.0, 0.3), (4.0, 0.4)])

    def evaluate_splits() -> dict[str, tuple[float, float]]:
        return {"train": next(evaluations), "test": next(evaluations)}

    history = fit_epochs(model, batch_loss, 10, evaluate_splits, torch.optim.SGD(model.parameters(), lr=0.1),
                         epochs=2, batch_size=4, seed=3, progress=False)
    assert [len(idx) for idx in seen] == [4, 4, 2, 4, 4, 2]
    for epoch in (seen[:3], seen[3:]):
        assert sorted(torch.cat(epoch).tolist()) == list(range(10))
    assert history.train_loss == [1.0, 3.0] and history.test_acc == [0.2, 0.4]
    assert len(history.epoch_seconds) == 2 and history.eval_epochs == [1, 2] and history.epochs == 2


@pytest.mark.parametrize("epochs, eval_every, expected", [(7, 1, [1, 2, 3, 4, 5, 6, 7]), (7, 3, [3, 6, 7]),
                                                          (6, 3, [3, 6]), (7, 7, [7]), (7, 50, [7])])
def test_fit_epochs_evaluates_every_eval_every_epochs_and_after_the_last(epochs, eval_every, expected):
    model = nn.Linear(1, 1)
    calls = []

    def evaluate_splits() -> dict[str, tuple[float, float]]:
        calls.append(None)
        return {"train": (0.0, float(len(calls))), "test": (1.0, float(len(calls)))}

    history = fit_epochs(model, lambda idx: model(torch.ones(len(idx), 1)).pow(2).mean(), 4, evaluate_splits,
                         torch.optim.SGD(model.parameters(), lr=0.1), epochs=epochs, batch_size=2,
                         eval_every=eval_every, progress=False)
    assert history.eval_epochs == expected and history.epoch_numbers() == expected
    assert history.test_acc == [float(i) for i in range(1, len(expected) + 1)] and len(calls) == len(expected)
    assert len(history.epoch_seconds) == epochs and history.epochs == epochs


def test_eval_every_changes_only_which_epochs_are_measured():
    def run(eval_every: int) -> tuple[History, nn.Module]:
        set_seed(4)
        model = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
        history = train_classifier(model, blobs(), epochs=6, lr=0.05, batch_size=8, seed=4, device="cpu",
                                   progress=False, eval_every=eval_every)
        return history, model

    every, every_model = run(1)
    sparse, sparse_model = run(4)
    assert sparse.eval_epochs == [4, 6] and sparse.epochs == every.epochs == 6
    assert sparse.test_loss == [every.test_loss[3], every.test_loss[5]]
    assert sparse.train_acc == [every.train_acc[3], every.train_acc[5]]
    assert sparse.final() == every.final()
    assert all(torch.equal(a, b) for a, b in zip(every_model.state_dict().values(), sparse_model.state_dict().values()))


def test_history_filled_by_hand_counts_one_evaluation_per_epoch():
    history = History(train_loss=[1.0, 0.5], train_acc=[0.5, 0.7], test_loss=[1.1, 0.6], test_acc=[0.4, 0.6])
    assert history.epoch_numbers() == [1, 2] and history.epochs == 2
    assert History().epochs == 0 and History().epoch_numbers() == []


def test_fit_epochs_draws_the_shuffles_from_a_given_generator():
    model = nn.Linear(1, 1)
    seen: list[torch.Tensor] = []

    def batch_loss(idx: torch.Tensor) -> torch.Tensor:
        seen.append(idx)
        return model(torch.ones(len(idx), 1)).pow(2).mean()

    generator = torch.Generator().manual_seed(5)
    torch.randn(3, generator=generator)   # the caller draws first (an initialisation, say)
    fit_epochs(model, batch_loss, 6, dict, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1, batch_size=6,
               seed=generator, progress=False)
    expected = torch.Generator().manual_seed(5)
    torch.randn(3, generator=expected)
    assert torch.equal(seen[0], torch.randperm(6, generator=expected))


@pytest.mark.parametrize("name, kwargs", [("epochs", {"epochs": 0}), ("batch_size", {"batch_size": 0}),
                                          ("num_train", {"num_train": 0}), ("eval_every", {"eval_every": 0})])
def test_fit_epochs_rejects_bad_counts(name, kwargs):
    model = nn.Linear(1, 1)
    arguments = {"epochs": 1, "batch_size": 1, "num_train": 1} | kwargs
    num_train = arguments.pop("num_train")
    with pytest.raises(ValueError, match=name):
        fit_epochs(model, lambda idx: model.weight.sum(), num_train, dict, torch.optim.SGD(model.parameters(), lr=0.1),
                   progress=False, **arguments)
