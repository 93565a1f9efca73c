"""Handwritten-digit image data: scikit-learn's bundled 8×8 digits and user-supplied 28×28 MNIST IDX files.

Nothing here downloads. ``load_images("digits")`` reads the 1,797 digits that ship inside scikit-learn
(``sklearn.datasets.load_digits``, the UCI "Optical Recognition of Handwritten Digits" test set); MNIST
(LeCun et al. 1998) is read from IDX files in a directory the user points to.

Every loader returns images as ``float32`` arrays of shape ``(N, H, W)`` with values in ``[0, 1]`` and labels
as ``int64`` arrays of shape ``(N,)`` with values ``0..9``.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

__all__ = [
    "SPLITS",
    "load_digits_images",
    "read_idx",
    "load_mnist",
    "load_images",
    "split_indices",
    "dataset_name",
]

#: Data splits. ``"all"``: every training image. ``"a"`` / ``"b"``: a fixed, stratified halving of the training
#: images (seed 0), used to train the reward classifier (``a``) and the held-out judge classifier (``b``) on
#: disjoint data. ``"test"``: MNIST's t10k files (not defined for the 8×8 digits).
SPLITS = ("all", "a", "b", "test")

_SPLIT_SEED = 0

# IDX type codes (LeCun's MNIST page): code -> (numpy dtype, big-endian)
_IDX_DTYPES: dict[int, str] = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def split_indices(labels: np.ndarray, split: str) -> np.ndarray:
    """Indices of a split of a labelled training set.

    Args:
        labels: ``int`` array of shape ``(N,)``.
        split: ``"all"``, ``"a"`` or ``"b"``: ``a`` and ``b`` are disjoint halves, stratified by label, drawn
            with a fixed seed, so they are the same on every machine.

    Returns:
        Sorted ``int64`` index array.

    Raises:
        ValueError: unknown split.
    """
    n = len(labels)
    if split == "all":
        return np.arange(n, dtype=np.int64)
    if split not in ("a", "b"):
        raise ValueError(f"unknown split {split!r}; use one of 'all', 'a', 'b' (or 'test' for MNIST)")
    rng = np.random.default_rng(_SPLIT_SEED)
    a: list[np.ndarray] = []
    b: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        half = (len(idx) + 1) // 2
        a.append(idx[:half])
        b.append(idx[half:])
    out = np.concatenate(a if split == "a" else b)
    return np.sort(out).astype(np.int64)


def load_digits_images(split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8×8 handwritten digits (1,797 images), scaled from ``0..16`` to ``[0, 1]``.

    Args:
        split: ``"all"`` (1,797 images), ``"a"`` (903) or ``"b"`` (894); see :data:`SPLITS`.

    Returns:
        ``(images, labels)``: ``float32 (N, 8, 8)`` in ``[0, 1]`` and ``int64 (N,)`` in ``0..9``.

    Raises:
        ValueError: unknown split (``"test"`` does not exist for the digits).
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    images = (d.images / 16.0).astype(np.float32)
    labels = d.target.astype(np.int64)
    if split == "test":
        raise ValueError("the 8x8 digits have no 'test' split; use 'all', 'a' or 'b'")
    idx = split_indices(labels, split)
    return images[idx], labels[idx]


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (the MNIST format; gzip-compressed if the name ends in ``.gz``).

    Format (LeCun et al., http://yann.lecun.com/exdb/mnist/): two zero bytes, a type code byte, a byte giving
    the number of dimensions ``k``, ``k`` big-endian uint32 sizes, then the data in C order.

    Args:
        path: The file.

    Returns:
        An array of the stored dtype (``uint8`` for MNIST) and the stored shape.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not an IDX file, or its size does not match its header.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file {str(path)!r} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{str(path)!r} is not an IDX file (bad magic number {data[:4].hex()})")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{str(path)!r}: truncated IDX header")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{str(path)!r}: header says shape {shape} ({expected} bytes of data) but the file holds "
            f"{len(data) - header} bytes"
        )
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        p = directory / name
        if p.is_file():
            return p
    raise FileNotFoundError(
        f"MNIST file {stem!r} (or {stem}.gz) not found in {str(directory)!r}. aigc-rl does not download data: "
        "put the four MNIST IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, "
        "t10k-labels-idx1-ubyte, optionally .gz) there, or use data='digits' (bundled with scikit-learn)"
    )


def load_mnist(directory: str | Path, split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """28×28 MNIST from local IDX files (never downloaded).

    Args:
        directory: Folder holding ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte`` (and for
            ``split="test"`` the ``t10k-*`` files), plain or ``.gz``.
        split: ``"all"`` / ``"a"`` / ``"b"`` (of the 60,000 training images) or ``"test"`` (the 10,000 t10k
            images).

    Returns:
        ``(images, labels)``: ``float32 (N, 28, 28)`` in ``[0, 1]`` and ``int64 (N,)``.

    Raises:
        FileNotFoundError: a file is missing (the message lists the expected names).
        ValueError: malformed files, or images and labels of different length.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"MNIST directory {str(directory)!r} does not exist")
    img_stem, lab_stem = _MNIST_FILES["test" if split == "test" else "train"]
    images = read_idx(_find(directory, img_stem))
    labels = read_idx(_find(directory, lab_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"MNIST files in {str(directory)!r} do not match: images {images.shape}, labels {labels.shape}; "
            "expected (N, H, W) and (N,)"
        )
    images = images.astype(np.float32) / 255.0
    labels = labels.astype(np.int64)
    if split != "test":
        idx = split_indices(labels, split)
        images, labels = images[idx], labels[idx]
    return images, labels


def load_images(data: str | Path = "digits", split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """Load ``"digits"`` (scikit-learn) or MNIST from a directory of IDX files.

    Args:
        data: ``"digits"`` or a directory with MNIST IDX files.
        split: See :data:`SPLITS`.

    Returns:
        ``(images float32 (N, H, W) in [0, 1], labels int64 (N,))``.

    Raises:
        FileNotFoundError / ValueError: see :func:`load_mnist` and :func:`load_digits_images`.
    """
    if str(data) == "digits":
        return load_digits_images(split)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    return load_mnist(data, split)


def dataset_name(data: str | Path) -> str:
    """Short name of a data source: ``"digits"`` or ``"mnist"`` (a directory)."""
    return "digits" if str(data) == "digits" else "mnist"
