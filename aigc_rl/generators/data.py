"""Handwritten-digit image data: scikit-learn's bundled 8×8 digits, user-supplied 28×28 MNIST IDX files, NPZ.

Nothing here downloads. ``load_images("digits")`` reads the 1,797 digits that ship inside scikit-learn
(``sklearn.datasets.load_digits``, the UCI "Optical Recognition of Handwritten Digits" test set); MNIST
(LeCun et al. 1998) is read from IDX files in a directory the user points to; any other images from a NumPy
``.npz`` file (:func:`load_npz`).

Every loader returns images as ``float32`` arrays of shape ``(N, H, W)`` with values in ``[0, 1]`` and labels
as ``int64`` arrays of shape ``(N,)`` with values ``0..9`` (``-1`` for every image of an unlabelled NPZ file).
"""

from __future__ import annotations

import gzip
import struct
import zipfile
from pathlib import Path

import numpy as np

from ..errors import ConfigError, UserFileError

__all__ = [
    "SPLITS",
    "load_digits_images",
    "read_idx",
    "load_mnist",
    "load_images",
    "split_indices",
    "dataset_name",
    "load_npz",
    "parse_classes",
    "select_classes",
    "resize_images",
    "UNLABELLED",
]

#: Label of every image of an NPZ file without a label array.
UNLABELLED = -1

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


def load_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Images (and optionally labels) from a NumPy ``.npz`` file, read without unpickling.

    The images are the array named ``images`` (or ``x``, or the file's only array): ``(N, H, W)``, or
    ``(N, H*W)`` with a square number of pixels (``(N, 64)`` -> 8×8, ``(N, 784)`` -> 28×28); either floats in
    ``[0, 1]`` or integers in ``0..255`` (``uint8`` as MNIST stores them), which are divided by 255. Labels, if
    any, are the array named ``labels`` (or ``y``): integers ``0..9`` of shape ``(N,)``.

    Args:
        path: The ``.npz`` file (``numpy.savez`` / ``savez_compressed``).

    Returns:
        ``(images float32 (N, H, W) in [0, 1], labels int64 (N,))``; labels are all :data:`UNLABELLED` (-1)
        when the file has none.

    Raises:
        FileNotFoundError: no such file.
        UserFileError: not an NPZ file, object arrays (would need unpickling), no image array, a wrong shape
            or dtype, NaN/inf or values outside the range, labels of another length or outside ``0..9``.
    """
    path = Path(path)
    where = f"--data {str(path)!r}"
    if not path.is_file():
        raise FileNotFoundError(f"{where}: NPZ file does not exist")
    if not zipfile.is_zipfile(path):  # np.load would take any other file for a pickle or a .npy
        raise UserFileError(
            f"{where} is not a readable .npz file (not a zip archive); write one with numpy.savez"
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except ValueError as e:  # object arrays: numpy refuses to unpickle them
        raise UserFileError(
            f"{where}: cannot read the arrays without unpickling ({e}); save plain numeric arrays with numpy.savez"
        ) from e
    except (
        OSError,
        EOFError,
    ) as e:  # not a zip archive, or a truncated one (zipfile.BadZipFile is an OSError)
        raise UserFileError(
            f"{where} is not a readable .npz file ({type(e).__name__}: {e}); write one with numpy.savez"
        ) from e
    except Exception as e:  # noqa: BLE001 - zipfile.BadZipFile and friends: a damaged archive
        raise UserFileError(f"{where} is not a readable .npz file ({type(e).__name__}: {e})") from e
    key = next((k for k in ("images", "x") if k in arrays), None)
    if key is None:
        if len(arrays) != 1:
            raise UserFileError(
                f"{where} holds arrays {sorted(arrays)} but none named 'images' (or 'x'); save the images as "
                "numpy.savez(FILE, images=..., labels=...)"
            )
        key = next(iter(arrays))
    raw = arrays[key]
    if raw.ndim == 2 and raw.shape[1] > 0 and int(round(raw.shape[1] ** 0.5)) ** 2 == raw.shape[1]:
        side = int(round(raw.shape[1] ** 0.5))
        raw = raw.reshape(raw.shape[0], side, side)
    if raw.ndim != 3 or raw.shape[0] < 1 or raw.shape[1] < 2 or raw.shape[2] < 2:
        raise UserFileError(
            f"{where}: array {key!r} has shape {raw.shape}; expected images (N, H, W) such as (N, 8, 8) or "
            "(N, 28, 28), or flattened (N, 64) / (N, 784), with N >= 1"
        )
    if raw.dtype.kind in "ui":
        if raw.min() < 0 or raw.max() > 255:
            raise UserFileError(
                f"{where}: integer images of array {key!r} span {raw.min()}..{raw.max()}; expected 0..255 "
                "(or floats in [0, 1])"
            )
        images = raw.astype(np.float32) / 255.0
    elif raw.dtype.kind == "f":
        if not np.isfinite(raw).all():
            raise UserFileError(
                f"{where}: array {key!r} holds NaN or infinite values; expected floats in [0, 1]"
            )
        if raw.min() < 0 or raw.max() > 1:
            raise UserFileError(
                f"{where}: float images of array {key!r} span [{raw.min():g}, {raw.max():g}]; expected [0, 1] "
                "(divide 0..255 data by 255, or save it as uint8)"
            )
        images = raw.astype(np.float32)
    else:
        raise UserFileError(
            f"{where}: array {key!r} has dtype {raw.dtype}; expected uint8 0..255 or floats in [0, 1]"
        )
    n = images.shape[0]
    lkey = next((k for k in ("labels", "y") if k in arrays), None)
    if lkey is None:
        return images, np.full(n, UNLABELLED, dtype=np.int64)
    lab = arrays[lkey]
    if lab.shape != (n,) or lab.dtype.kind not in "ui" or (n and (lab.min() < 0 or lab.max() > 9)):
        raise UserFileError(
            f"{where}: array {lkey!r} (dtype {lab.dtype}, shape {lab.shape}) is not {n} integer labels in 0..9; "
            "fix it or leave the labels out"
        )
    return images, lab.astype(np.int64)


def parse_classes(text: str | list[int] | tuple[int, ...]) -> tuple[int, ...]:
    """Digit classes to keep, from ``"3,5,8"`` or a list of ints.

    Returns:
        Sorted, distinct classes in ``0..9``.

    Raises:
        ConfigError: empty, not integers, or outside ``0..9``.
    """
    items = [t.strip() for t in text.split(",") if t.strip()] if isinstance(text, str) else list(text)
    out: set[int] = set()
    for t in items:
        try:
            c = int(t)
        except (TypeError, ValueError):
            raise ConfigError(
                f"--classes {text!r}: {t!r} is not a digit class; give e.g. --classes 3,5,8"
            ) from None
        if str(t).strip() != str(c) or not 0 <= c <= 9:
            raise ConfigError(
                f"--classes {text!r}: {t!r} is not a digit class 0..9; give e.g. --classes 3,5,8"
            )
        out.add(c)
    if not out:
        raise ConfigError(f"--classes {text!r} names no class; give e.g. --classes 3,5,8")
    return tuple(sorted(out))


def select_classes(
    images: np.ndarray, labels: np.ndarray, classes: tuple[int, ...], data: str = "data"
) -> tuple[np.ndarray, np.ndarray]:
    """The images whose label is one of ``classes``.

    Raises:
        ConfigError: the data has no labels, or none of its images is of those classes.
    """
    if len(labels) and bool((labels == UNLABELLED).all()):
        raise ConfigError(
            f"--classes needs labels, but {data} has none; add a 'labels' array to the NPZ file or drop --classes"
        )
    keep = np.isin(labels, np.asarray(classes, dtype=np.int64))
    if not keep.any():
        raise ConfigError(f"{data} holds no image of classes {list(classes)}; pick classes that occur in it")
    return images[keep], labels[keep]


def resize_images(images: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Shrink images to ``shape`` by area averaging (``torch.nn.functional.interpolate(mode="area")``).

    That is adaptive average pooling: output row ``i`` averages input rows ``floor(i*H/h) .. ceil((i+1)*H/h)-1``
    (for 28 -> 8, blocks of 4 rows overlapping by one). The 8×8 digits were made alike, from pixel counts over
    4×4 blocks of 32×32 bitmaps (UCI optdigits), so a 28×28 MNIST image averaged down to 8×8 resembles them.
    Enlarging is refused.

    Args:
        images: float32 ``(N, H, W)`` in ``[0, 1]``.
        shape: target ``(h, w)`` with ``h <= H`` and ``w <= W``.

    Returns:
        float32 ``(N, h, w)`` in ``[0, 1]`` (the input itself when the shape already matches).

    Raises:
        ConfigError: the target is larger than the images.
    """
    h, w = int(shape[0]), int(shape[1])
    if images.shape[1:] == (h, w):
        return images
    if h > images.shape[1] or w > images.shape[2]:
        raise ConfigError(
            f"the images are {images.shape[1]}x{images.shape[2]} but the model makes {h}x{w} images; aigc-rl "
            "shrinks images to the model's size but does not enlarge them: give data at least that large"
        )
    import torch
    from torch.nn import functional as F

    t = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32)).unsqueeze(1)
    return F.interpolate(t, size=(h, w), mode="area").squeeze(1).numpy().clip(0.0, 1.0)


def load_images(data: str | Path = "digits", split: str = "all") -> tuple[np.ndarray, np.ndarray]:
    """Load ``"digits"`` (scikit-learn), MNIST from a directory of IDX files, or an ``.npz`` file.

    Args:
        data: ``"digits"``, a directory with MNIST IDX files, or a ``.npz`` file (:func:`load_npz`).
        split: See :data:`SPLITS` (an NPZ file has no ``"test"`` split; ``a``/``b`` halve it by label).

    Returns:
        ``(images float32 (N, H, W) in [0, 1], labels int64 (N,))``.

    Raises:
        FileNotFoundError / ValueError: see :func:`load_mnist`, :func:`load_npz` and :func:`load_digits_images`.
    """
    if str(data) == "digits":
        return load_digits_images(split)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    if str(data).endswith(".npz"):
        if split == "test":
            raise ConfigError(f"--data {str(data)!r}: an NPZ file has no 'test' split; use 'all', 'a' or 'b'")
        x, y = load_npz(data)
        idx = split_indices(y, split)
        return x[idx], y[idx]
    return load_mnist(data, split)


def dataset_name(data: str | Path) -> str:
    """Short name of a data source: ``"digits"``, ``"npz"`` (a ``.npz`` file) or ``"mnist"`` (a directory)."""
    if str(data) == "digits":
        return "digits"
    return "npz" if str(data).endswith(".npz") else "mnist"
