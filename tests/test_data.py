import gzip
import hashlib

import numpy as np
import pytest
import torch

from attnreg.data import (
    DataUnavailableError,
    data_root,
    load_fashion_mnist,
    load_mnist,
    load_mnist_subset,
    parse_idx,
    sine_regression,
    synthetic_regression,
)
from attnreg.data import mnist as mnist_module

# ---------------------------------------------------------------------------------------------
# The embedded subset


def test_subset_default_split_is_stratified_and_in_range():
    data = load_mnist_subset()
    assert data.X_train.shape == (1000, 784) and data.X_test.shape == (4000, 784)
    assert data.X_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    assert torch.bincount(data.y_train).tolist() == [100] * 10
    assert torch.bincount(data.y_test).tolist() == [400] * 10
    assert 0.0 <= data.X_train.min() and data.X_train.max() == 1.0


def test_subset_split_is_fixed_disjoint_and_shuffled():
    first, second = load_mnist_subset(), load_mnist_subset()
    assert torch.equal(first.X_train, second.X_train) and torch.equal(first.y_test, second.y_test)
    train_rows = {tuple(row) for row in first.X_train.numpy().round(4)}
    test_rows = {tuple(row) for row in first.X_test.numpy().round(4)}
    assert not train_rows & test_rows
    assert len(set(first.y_train[:20].tolist())) > 3  # not sorted by digit


def test_subset_options():
    data = load_mnist_subset(n_train=200, flatten=False)
    assert data.X_train.shape == (200, 1, 28, 28) and data.X_test.shape == (4800, 1, 28, 28)
    assert "X_train=(200, 1, 28, 28)" in repr(data)


@pytest.mark.parametrize(
    "n_train, error, message",
    [(5, ValueError, r"n_train must be an integer in \[10, 4990\]"), (105, ValueError, "n_train must be a multiple of 10"),
     (100.0, TypeError, "n_train must be an integer")],
)
def test_subset_bad_input(n_train, error, message):
    with pytest.raises(error, match=message):
        load_mnist_subset(n_train)


# ---------------------------------------------------------------------------------------------
# IDX parsing


def idx_bytes(array: np.ndarray) -> bytes:
    codes = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    return header + array.tobytes()


@pytest.mark.parametrize("dtype", [np.uint8, ">i4", ">f4"])
def test_parse_idx_round_trip(dtype):
    array = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    assert np.array_equal(parse_idx(idx_bytes(array)), array)


@pytest.mark.parametrize(
    "data, message",
    [(b"\x01\x00\x08\x01", "not an IDX file"), (b"\x00\x00\x08\x02\x00\x00", "truncated IDX file"),
     (idx_bytes(np.zeros((2, 2), np.uint8))[:-1], r"shape \(2, 2\) that needs 16 bytes, got 15")],
)
def test_parse_idx_rejects_bad_data(data, message):
    with pytest.raises(ValueError, match=message):
        parse_idx(data)


# ---------------------------------------------------------------------------------------------
# Download, checksum and cache, against a local "mirror" (file:// URLs, no network)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """Small IDX files in a local folder that stands in for the MNIST mirrors."""
    source = tmp_path / "mirror"
    source.mkdir()
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, 6, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (4, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, 4, dtype=np.uint8),
    }
    sha256 = {}
    for name, array in arrays.items():
        (source / name).write_bytes(gzip.compress(idx_bytes(array), mtime=0))
        sha256[name] = hashlib.sha256((source / name).read_bytes()).hexdigest()
    dataset = mnist_module._RemoteDataset("mnist", (source.as_uri() + "/",), sha256, "https://example.org")
    monkeypatch.setattr(mnist_module, "MNIST", dataset)
    return source, arrays


def test_download_verifies_parses_and_caches(mirror, tmp_path):
    source, arrays = mirror
    cache = tmp_path / "cache"
    data = load_mnist(root=cache)
    assert data.X_train.shape == (6, 784) and data.X_test.shape == (4, 784)
    assert torch.equal(data.y_train, torch.from_numpy(arrays["train-labels-idx1-ubyte.gz"].astype(np.int64)))
    assert torch.allclose(data.X_test[0] * 255, torch.from_numpy(arrays["t10k-images-idx3-ubyte.gz"][0].reshape(-1)).float())
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(arrays)
    # Cached: a second load works with the mirror gone.
    for path in source.iterdir():
        path.unlink()
    assert torch.equal(load_mnist(root=cache, download=False).X_train, data.X_train)


def test_truncated_cache_file_is_fetched_again(mirror, tmp_path):
    cache = tmp_path / "cache"
    load_mnist(root=cache)
    cached = cache / "mnist" / "train-images-idx3-ubyte.gz"
    cached.write_bytes(cached.read_bytes()[:100])
    with pytest.raises(DataUnavailableError, match="is corrupt or truncated .* download=False"):
        load_mnist(root=cache, download=False)
    assert load_mnist(root=cache).X_train.shape == (6, 784)
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == mnist_module.MNIST.sha256[cached.name]


def test_corrupt_download_is_rejected_and_removed(mirror, tmp_path):
    source, _ = mirror
    (source / "t10k-labels-idx1-ubyte.gz").write_bytes(b"not the real file")
    cache = tmp_path / "cache"
    with pytest.raises(DataUnavailableError, match="t10k-labels-idx1-ubyte.gz of mnist has SHA-256"):
        load_mnist(root=cache)
    assert not (cache / "mnist" / "t10k-labels-idx1-ubyte.gz").exists()


def test_offline_error_says_what_is_missing_where_and_how_to_fix(mirror, tmp_path):
    source, _ = mirror
    (source / "train-images-idx3-ubyte.gz").unlink()
    cache = tmp_path / "cache"
    with pytest.raises(DataUnavailableError) as info:
        load_mnist(root=cache)
    message = str(info.value)
    assert "could not download train-images-idx3-ubyte.gz of mnist" in message
    assert str(cache / "mnist") in message and "ATTNREG_DATA" in message
    assert not list((cache / "mnist").glob("*.part"))


def test_no_download_and_no_cache(tmp_path):
    with pytest.raises(DataUnavailableError, match="not in .* and download=False"):
        load_fashion_mnist(root=tmp_path, download=False)


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("ATTNREG_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "attnreg"
    monkeypatch.setenv("ATTNREG_DATA", str(tmp_path / "env"))
    assert data_root() == tmp_path / "env"
    assert data_root(tmp_path / "arg") == tmp_path / "arg"


def test_published_checksums_are_well_formed():
    for dataset in (mnist_module.MNIST, mnist_module.FASHION_MNIST):
        assert sorted(dataset.sha256) == sorted(mnist_module._IMAGE_FILES)
        assert all(len(h) == 64 and int(h, 16) >= 0 for h in dataset.sha256.values())
        assert all(m.endswith("/") for m in dataset.mirrors)


# ---------------------------------------------------------------------------------------------
# Synthetic regression


def test_synthetic_regression_follows_the_model():
    w = torch.tensor([2.0, -1.0, 0.5])
    X, y = synthetic_regression(w, b=0.3, n=2000, noise_std=0.1, generator=torch.Generator().manual_seed(0))
    assert X.shape == (2000, 3) and y.shape == (2000,)
    residual = y - (X @ w + 0.3)
    assert abs(residual.std().item() - 0.1) < 0.01 and abs(residual.mean().item()) < 0.01
    w_hat = torch.linalg.lstsq(torch.cat([X, torch.ones(2000, 1)], 1), y[:, None]).solution.squeeze()
    assert torch.allclose(w_hat, torch.tensor([2.0, -1.0, 0.5, 0.3]), atol=0.01)


def test_synthetic_regression_is_seeded_and_noise_free_when_asked():
    w = torch.ones(4)
    a = synthetic_regression(w, 0.0, 5, 0.5, torch.Generator().manual_seed(1))
    b = synthetic_regression(w, 0.0, 5, 0.5, torch.Generator().manual_seed(1))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    X, y = synthetic_regression(w, 1.0, 5, 0.0)
    assert torch.allclose(y, X.sum(1) + 1.0)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"w": [1.0, 2.0]}, TypeError, "w must be a torch.Tensor"),
        ({"w": torch.ones(2, 2)}, ValueError, "w must be 1-dimensional"),
        ({"w": torch.ones(2, dtype=torch.long)}, TypeError, "w must be a floating-point tensor"),
        ({"n": 0}, ValueError, r"n must be an integer in \[1, inf\], got 0"),
        ({"noise_std": -0.1}, ValueError, "noise_std must be a finite number >= 0, got -0.1"),
        ({"b": "0"}, TypeError, "b must be a real number"),
    ],
)
def test_synthetic_regression_bad_input(kwargs, error, message):
    args = {"w": torch.ones(2), "b": 0.0, "n": 3, "noise_std": 0.1} | kwargs
    with pytest.raises(error, match=message):
        synthetic_regression(**args)


def test_sine_regression_follows_its_curve():
    x, y = sine_regression(256, generator=torch.Generator().manual_seed(22))
    assert x.shape == y.shape == (256, 1)
    assert x.min() >= -3 and x.max() <= 3
    assert (y - torch.sin(x) - x / 2).std() == pytest.approx(0.1, rel=0.2)


def test_sine_regression_rejects_bad_arguments():
    with pytest.raises(ValueError, match="low must be below high, got low=1.0 and high=1.0"):
        sine_regression(5, low=1.0, high=1.0)
    with pytest.raises(TypeError, match="low must be a real number, got None"):
        sine_regression(5, low=None)
