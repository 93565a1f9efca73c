"""Image rewards: quality (target-class probability), realism, diversity, class coverage and novelty.

Image reward models follow the protocol of :mod:`aigc_rl.rewards.base` with images in place of completion
texts: ``reward(images, prompts=None, **columns) -> list[float | None]``, where ``images`` is a float array or
tensor of shape ``(N, H, W)`` (or ``(N, 1, H, W)``, or a list of ``(H, W)`` arrays) with pixel intensities in
``[0, 1]`` (0 = background). Per-image columns (``target``, ``group_ids``) hold one entry per image. Values are
validated like every reward (case A1, huggingface/trl#6533) and minimised metrics have their sign flipped by ``__call__``.

Distances between images are root-mean-square pixel differences, ``||x - y||_2 / sqrt(H * W)``, in
``[0, 1]`` whatever the resolution.

The default models are the shipped 8×8 digits models (``aigc_rl/data/digits/``): the MLP ``classifier``
(reward model) and the ``vae``; pass a model directory for 28×28 MNIST models trained with
``aigc-rl pretrain``.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from .base import _TRL_EXTRA_KWARGS, RewardModel, RewardOutputError, validate_rewards

__all__ = [
    "ImageRewardModel",
    "TargetClass",
    "Realism",
    "ImageDiversity",
    "ClassCoverage",
    "ImageNovelty",
    "as_images",
    "rms_distances",
    "group_codes",
]


def as_images(images: Any) -> torch.Tensor:
    """Convert an image batch to a float32 CPU tensor of shape ``(N, H, W)``.

    Args:
        images: numpy array or torch tensor ``(N, H, W)`` / ``(N, 1, H, W)``, or a sequence of ``(H, W)``
            arrays, intensities in ``[0, 1]``.

    Returns:
        float32 tensor ``(N, H, W)``.

    Raises:
        TypeError: text or another non-array input (text completions belong to the text rewards).
        ValueError: wrong number of dimensions, non-finite pixels, or values outside ``[0, 1]``.
    """
    if isinstance(images, str) or (isinstance(images, Sequence) and images and isinstance(images[0], str)):
        raise TypeError("image rewards take image arrays (N, H, W) in [0, 1], not text completions")
    if isinstance(images, torch.Tensor):
        t = images.detach().to("cpu", torch.float32)
    else:
        try:
            t = torch.as_tensor(np.asarray(images, dtype=np.float32))
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"image rewards take float arrays of shape (N, H, W); got {type(images).__name__}: {e}"
            ) from None
    if t.ndim == 4 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 3:
        raise ValueError(f"expected images of shape (N, H, W) or (N, 1, H, W), got shape {tuple(t.shape)}")
    if t.numel():
        lo, hi = (float(v) for v in torch.aminmax(t))
        if not (lo >= -1e-4 and hi <= 1 + 1e-4):  # also catches NaN (comparisons with NaN are False) and inf
            if not bool(torch.isfinite(t).all()):
                i = int((~torch.isfinite(t)).flatten(1).any(1).nonzero()[0])
                raise ValueError(f"images contain NaN or inf pixels (first at image index {i})")
            raise ValueError(
                f"image pixels must lie in [0, 1], got [{lo:.3g}, {hi:.3g}]; rescale "
                "(e.g. (x + 1) / 2 for tanh outputs, x / 255 for uint8)"
            )
    return t.contiguous()


def rms_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Root-mean-square pixel distances ``(len(a), len(b))`` between two image batches ``(N, H, W)``."""
    fa = a.reshape(len(a), -1)
    fb = b.reshape(len(b), -1)
    if fa.shape[1] != fb.shape[1]:
        raise ValueError(f"image sizes differ: {tuple(a.shape[1:])} vs {tuple(b.shape[1:])}")
    return torch.cdist(fa, fb) / math.sqrt(fa.shape[1])


@functools.lru_cache(maxsize=16)
def _load(name_or_path: str) -> Any:  # a GAN, VAE or classifier of aigc_rl.generators
    from aigc_rl.generators.store import load_model

    return load_model(name_or_path)


def group_codes(
    n: int,
    kwargs: dict[str, Any],
    prompts: Sequence[Any] | None,
    keys: Sequence[str] = ("group_ids", "target"),
) -> tuple[np.ndarray, dict[Any, int]]:
    """Integer group code per image for group rewards.

    The key of image ``i`` is ``group_ids[i]`` if given, else ``target[i]`` (when ``"target"`` is in ``keys``),
    else ``prompts[i]``; with none of them the whole batch is one group.

    Returns:
        ``(codes int64 (n,), {key: code})``.

    Raises:
        ValueError: a key column without one entry per image.
    """
    for key in keys:
        v = kwargs.get(key)
        if v is None:
            continue
        if isinstance(v, torch.Tensor):
            v = v.cpu().numpy()
        if isinstance(v, np.ndarray) and np.issubdtype(v.dtype, np.integer):
            if v.shape != (n,):
                raise ValueError(f"{key!r} has {v.size} entries for {n} images; pass one per image")
            uniq, codes = np.unique(v, return_inverse=True)
            return codes.astype(np.int64), {k: i for i, k in enumerate(uniq.tolist())}
        vals = list(v)
        if len(vals) != n:
            raise ValueError(f"{key!r} has {len(vals)} entries for {n} images; pass one per image")
        return _codes([x if isinstance(x, (str, int)) or x is None else repr(x) for x in vals])
    if prompts is not None:
        return _codes([x if isinstance(x, str) else repr(x) for x in prompts])
    return np.zeros(n, dtype=np.int64), {None: 0}


def _codes(vals: list[Any]) -> tuple[np.ndarray, dict[Any, int]]:
    table: dict[Any, int] = {}
    codes = np.array([table.setdefault(x, len(table)) for x in vals], dtype=np.int64)
    return codes, table


class ImageRewardModel(RewardModel):
    """Base class of image rewards: :meth:`raw` takes an image batch instead of texts.

    Subclasses implement ``score(images: torch.Tensor (N, H, W), prompts, **kwargs)`` returning ``N`` raw values:
    a list (entries may be ``None`` for "not applicable") or, on the fast path, a float tensor / array with
    every entry applicable. Models load lazily on first use and are shared between rewards (one copy per path).
    """

    modality: ClassVar[str] = "image"

    def raw_array(self, completions: Any, prompts: Sequence[Any] | None = None, **kwargs: Any) -> np.ndarray:
        """Validated raw metric per image as float64 ``(N,)``, ``NaN`` marking "not applicable" (``None``).

        A NaN or inf *computed* by the metric is an error (case A1, huggingface/trl#6533), never a silent "not applicable".

        Raises:
            TypeError / ValueError: see :func:`as_images`; prompts of the wrong length.
            RewardOutputError: wrong number of values or a non-finite value (names the reward and the index).
        """
        try:
            images = as_images(completions)
        except ValueError as e:  # name the reward, as for bad outputs (case A1, huggingface/trl#6533)
            raise ValueError(f"reward {self.name!r}: {e}") from None
        n = len(images)
        # an empty batch scores nothing (case B1, huggingface/evaluate#601); metrics need not handle zero images
        if n == 0:
            return np.zeros(0, dtype=np.float64)
        if prompts is not None and len(prompts) != n:
            raise ValueError(
                f"reward {self.name!r}: got {n} images but {len(prompts)} prompts; pass one per image"
            )
        kwargs = {k: v for k, v in kwargs.items() if k not in _TRL_EXTRA_KWARGS}
        with torch.no_grad():
            values = self.score(images, list(prompts) if prompts is not None else None, **kwargs)
        if isinstance(values, (torch.Tensor, np.ndarray)):
            arr = (
                values.detach().cpu().double().numpy()
                if isinstance(values, torch.Tensor)
                else values.astype(np.float64)
            )
            if arr.shape != (n,):
                raise RewardOutputError(
                    f"reward {self.name!r}: expected {n} values, got {arr.size} (one reward per image is required; "
                    "values are never broadcast)"
                )
            bad = ~np.isfinite(arr)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise RewardOutputError(
                    f"reward {self.name!r}: value at index {i} is {arr[i]} (NaN/inf); return None for 'not applicable'"
                )
            return arr
        checked = validate_rewards(self.name, values, n)
        return np.array([np.nan if v is None else v for v in checked], dtype=np.float64)

    def raw(
        self, completions: Any, prompts: Sequence[Any] | None = None, **kwargs: Any
    ) -> list[float | None]:
        """Validated raw metric per image (no sign flip), ``None`` where not applicable.

        Args:
            completions: Images, see :func:`as_images`.
            prompts: Optional conditions, one per image (used as group keys when no ``target``/``group_ids``).
            **kwargs: Per-image columns (``target``, ``group_ids``) and reward-specific keywords.

        Raises:
            TypeError / ValueError: see :func:`as_images`; prompts of the wrong length.
            RewardOutputError: see :func:`~aigc_rl.rewards.base.validate_rewards`.
        """
        arr = self.raw_array(completions, prompts, **kwargs)
        return [None if v != v else v for v in arr.tolist()]

    def score(self, completions: Any, prompts: list[str] | None = None, **kwargs: Any) -> Sequence[Any]:  # noqa: D102
        raise NotImplementedError


def _targets(kwargs: dict[str, Any], n: int, name: str, n_classes: int) -> np.ndarray | list[int | None]:
    """Target classes: an int64 array when every image has one (fast path), else a list with ``None``s."""
    t = kwargs.get("target")
    if t is None:
        raise ValueError(
            f"reward {name!r} needs the target class of each image: call it with target=[...] (ints 0..{n_classes - 1})"
        )
    if isinstance(t, torch.Tensor):
        t = t.cpu().numpy()
    if isinstance(t, np.ndarray) and np.issubdtype(t.dtype, np.integer):
        arr = t.reshape(-1).astype(np.int64)
        if len(arr) != n:
            raise ValueError(
                f"reward {name!r}: 'target' has {len(arr)} entries for {n} images; pass one per image"
            )
        bad = (arr < 0) | (arr >= n_classes)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"reward {name!r}: target at index {i} is {arr[i]}; expected an int in 0..{n_classes - 1}"
            )
        return arr
    t = list(np.asarray(t, dtype=object).reshape(-1).tolist()) if not isinstance(t, list) else t
    if len(t) != n:
        raise ValueError(f"reward {name!r}: 'target' has {len(t)} entries for {n} images; pass one per image")
    out: list[int | None] = []
    for i, v in enumerate(t):
        if v is None:
            out.append(None)
            continue
        if isinstance(v, (str, bytes)) or int(v) != v or not 0 <= int(v) < n_classes:
            raise ValueError(
                f"reward {name!r}: target at index {i} is {v!r}; expected an int in 0..{n_classes - 1}"
            )
        out.append(int(v))
    if all(v is not None for v in out):
        return np.array(out, dtype=np.int64)
    return out


class TargetClass(ImageRewardModel):
    """Quality: the reward classifier's probability that the image shows its target class.

    ``p(target | x)`` from a softmax classifier (default: the shipped MLP digits ``classifier``, trained on
    split ``a``; the evaluation judge is a different model). With ``log=True`` the raw value is
    ``log p(target | x)`` (range ``(-inf, 0]``). A ``None`` target gives ``None``. Maximise.

    Keywords: ``target`` (one int class per image, required).

    Args:
        model: Classifier name (``classifier``, ``judge``) or a directory from ``aigc-rl pretrain classifier``.
        log: Return the log-probability instead of the probability.
    """

    name: ClassVar[str] = "target-class"
    kind: ClassVar[str] = "quality"
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    range_note: ClassVar[str] = "`log=True`: (-inf, 0]; needs `target=[...]`"
    source: ClassVar[str] = (
        "classifier probability of the condition, as in the auxiliary classifier of Odena et al. 2017 (AC-GAN)"
    )

    def __init__(self, model: str = "classifier", log: bool = False) -> None:
        self.model_name = str(model)
        self.log = bool(log)
        if self.log:
            self.value_range = (-math.inf, 0.0)  # type: ignore[misc]

    def score(self, completions: Any, prompts: list[str] | None = None, **kwargs: Any) -> Any:
        images: torch.Tensor = completions
        clf = _load(self.model_name)
        targets = _targets(kwargs, len(images), self.name, clf.n_classes)
        logp = torch.log_softmax(clf(images), dim=-1)
        if isinstance(targets, np.ndarray):
            v = logp.gather(1, torch.from_numpy(targets)[:, None])[:, 0]
            return v if self.log else v.exp()
        out: list[float | None] = []
        for i, t in enumerate(targets):
            if t is None:
                out.append(None)
            else:
                lv = float(logp[i, t])
                out.append(lv if self.log else math.exp(lv))
        return out


class Realism(ImageRewardModel):
    """Realism: closeness of an image to the data manifold.

    Methods:
        ``"vae"`` (default): mean squared error between the image and its VAE reconstruction
            ``decode(mu(x))`` (Kingma & Welling 2014; reconstruction error as an out-of-distribution score,
            An & Cho 2015). Range ``[0, 1]``, **minimise**.
        ``"discriminator"``: the GAN discriminator's probability that the image is real (Goodfellow et al.
            2014). Range ``[0, 1]``, maximise.
        ``"knn"``: mean RMS distance to the ``k`` nearest training images. Range ``[0, 1]``, **minimise**.

    Args:
        method: ``"vae"``, ``"discriminator"`` or ``"knn"``.
        model: VAE / GAN name or directory (default ``vae`` / ``gan``), unused for ``knn``.
        data: Training images for ``knn``: ``"digits"`` or an MNIST directory.
        k: Neighbours for ``knn``.

    Raises:
        ValueError: unknown method.
    """

    name: ClassVar[str] = "realism"
    kind: ClassVar[str] = "quality"
    direction: ClassVar[str] = "minimize"
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    range_note: ClassVar[str] = '`method="discriminator"`: maximize'
    source: ClassVar[str] = (
        "VAE reconstruction error (Kingma & Welling 2014; An & Cho 2015) / GAN discriminator (Goodfellow et al. 2014)"
    )

    METHODS = ("vae", "discriminator", "knn")

    def __init__(
        self, method: str = "vae", model: str | None = None, data: str = "digits", k: int = 5
    ) -> None:
        if method not in self.METHODS:
            raise ValueError(f"unknown realism method {method!r}; use one of {self.METHODS}")
        self.method = method
        self.model_name = str(model) if model is not None else ("gan" if method == "discriminator" else "vae")
        self.data = str(data)
        self.k = int(k)
        if method == "discriminator":
            self.direction = "maximize"  # type: ignore[misc]

    def score(self, completions: Any, prompts: list[str] | None = None, **kwargs: Any) -> Any:
        images: torch.Tensor = completions
        if self.method == "vae":
            vae = _load(self.model_name)
            rec = vae.reconstruct(images)
            return ((rec - images) ** 2).flatten(1).mean(1)
        if self.method == "discriminator":
            return _load(self.model_name).realism(images)
        ref = _training_images(self.data)
        d = rms_distances(images, ref)
        return d.topk(min(self.k, d.shape[1]), dim=1, largest=False).values.mean(1)


@functools.lru_cache(maxsize=4)
def _training_images(data: str) -> torch.Tensor:
    from aigc_rl.generators.data import load_images

    x, _ = load_images(data, "all")
    return torch.from_numpy(x)


def _context(kwargs: dict[str, Any]) -> tuple[torch.Tensor | None, list[Any] | None]:
    ctx = kwargs.get("context_images")
    if ctx is None or len(ctx) == 0:
        return None, None
    ci = as_images(ctx)
    cg = kwargs.get("context_groups")
    if cg is not None:
        cg = list(np.asarray(cg).tolist())
        if len(cg) != len(ci):
            raise ValueError(f"context_groups has {len(cg)} entries for {len(ci)} context images")
    return ci, cg


class ImageDiversity(ImageRewardModel):
    """Creativity: mean RMS distance from an image to the other images of its group.

    For image ``i`` in group ``G`` (images with the same ``group_ids``, else the same ``target``, else the same
    prompt, else the whole batch): ``mean_{j in G, j != i} ||x_i - x_j||_2 / sqrt(H W)``. Averaged over a
    group this is its mean pairwise distance, the pixel-space diversity measure used for GAN mode collapse
    (e.g. Srivastava et al. 2017, VEEGAN; Metz et al. 2017). A group of one image with no context gives
    ``None``. Range ``[0, 1]``, maximise.

    Keywords:
        ``context_images`` (M, H, W) and ``context_groups`` (M,): extra images that count as group members
        but are not scored (the env passes its recent samples here, so a batch of one still has siblings;
        without ``context_groups`` every context image joins every group).
    """

    name: ClassVar[str] = "image-diversity"
    kind: ClassVar[str] = "creativity"
    requires_group: ClassVar[bool] = True
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    source: ClassVar[str] = (
        "mean pairwise distance within a batch (Srivastava et al. 2017, VEEGAN; Metz et al. 2017)"
    )

    def score(self, completions: Any, prompts: list[str] | None = None, **kwargs: Any) -> Any:
        images: torch.Tensor = completions
        n = len(images)
        codes, table = group_codes(n, kwargs, prompts)
        c = torch.from_numpy(codes)
        same = c[:, None] == c[None, :]
        sums = (rms_distances(images, images) * same).sum(1)
        counts = same.sum(1).double() - 1.0
        ctx, cgroups = _context(kwargs)
        if ctx is not None and n:
            if cgroups is None or (len(table) == 1 and None in table):
                cmask = torch.ones(n, len(ctx), dtype=torch.bool)
            else:
                cc = torch.tensor([table.get(g, -1) for g in cgroups], dtype=torch.int64)
                cmask = c[:, None] == cc[None, :]
            sums = sums + (rms_distances(images, ctx) * cmask).sum(1)
            counts = counts + cmask.sum(1).double()
        vals = sums.double() / counts.clamp_min(1.0)
        if bool((counts > 0).all()):
            return vals
        return [float(v) if k > 0 else None for v, k in zip(vals.tolist(), counts.tolist(), strict=True)]


class ClassCoverage(ImageRewardModel):
    """Creativity: how evenly a group of images covers the classes.

    Normalised entropy ``H(p_bar) / log K`` of the group's marginal class distribution
    ``p_bar = mean_i p(y | x_i)`` under the reward classifier (the ``p(y)`` term of the Inception Score,
    Salimans et al. 2016). Every image of a group gets the group's value. Range ``[0, 1]`` (1 = uniform over
    the ``K`` classes), maximise. Groups: ``group_ids``, else prompts, else the whole batch (``target`` is not
    used: images for one target are meant to share a class). ``context_images`` join every group.

    Args:
        model: Classifier name or directory.
    """

    name: ClassVar[str] = "class-coverage"
    kind: ClassVar[str] = "creativity"
    requires_group: ClassVar[bool] = True
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    source: ClassVar[str] = (
        "entropy of the marginal class distribution, Salimans et al. 2016 (Inception Score)"
    )

    def __init__(self, model: str = "classifier") -> None:
        self.model_name = str(model)

    def score(self, completions: Any, prompts: list[str] | None = None, **kwargs: Any) -> Any:
        images: torch.Tensor = completions
        n = len(images)
        clf = _load(self.model_name)
        p = clf.probs(images)
        ctx, _ = _context(kwargs)
        p_ctx = clf.probs(ctx) if ctx is not None else None
        codes, table = group_codes(n, kwargs, prompts, keys=("group_ids",))
        out = torch.zeros(n, dtype=torch.float64)
        for g in range(len(table)):
            idx = torch.from_numpy(np.flatnonzero(codes == g))
            pg = p[idx] if p_ctx is None else torch.cat([p[idx], p_ctx])
            m = pg.double().mean(0).clamp_min(1e-12)
            out[idx] = float(-(m * m.log()).sum() / math.log(clf.n_classes))
        return out.clamp(0.0, 1.0)


class ImageNovelty(ImageRewardModel):
    """Creativity / memorisation penalty: RMS distance to the nearest training image.

    ``min_j ||x - t_j||_2 / sqrt(H W)`` over the generator's training images ``t`` (the nearest-neighbour
    memorisation test of GAN evaluation, e.g. Theis et al. 2016; Borji 2019). A copy of a training image
    scores 0. With ``cap`` the value is ``min(distance, cap)``: no credit for straying beyond it. Range
    ``[0, 1]``, maximise.

    Args:
        data: ``"digits"`` or an MNIST directory (the generator's training images).
        cap: Optional upper clip of the distance.
    """

    name: ClassVar[str] = "image-novelty"
    kind: ClassVar[str] = "creativity"
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    source: ClassVar[str] = "nearest-neighbour distance to the training set (Theis et al. 2016; Borji 2019)"

    def __init__(self, data: str = "digits", cap: float | None = None) -> None:
        self.data = str(data)
        if cap is not None and not cap > 0:
            raise ValueError(f"cap must be > 0 or None, got {cap!r}")
        self.cap = cap

    def score(self, completions: Any, prompts: list[str] | None = None, **kwargs: Any) -> Any:
        images: torch.Tensor = completions
        d = rms_distances(images, _training_images(self.data)).min(1).values
        if self.cap is not None:
            d = d.clamp_max(self.cap)
        return d
