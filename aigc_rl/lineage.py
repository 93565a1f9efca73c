"""The lineage of a text policy: the base model, the fine-tuned policy a run started from (``--init``), the run.

``aigc-rl train --init X`` starts RL from a fine-tuned policy instead of the pretrained base. ``X`` is

* a run directory written by ``aigc-rl train`` or ``aigc-rl sft`` (its ``adapter/`` or, for a full fine-tuning,
  its ``model/``; an adapter of a run that itself started from an init is applied on top of that init),
* a PEFT LoRA adapter directory (``adapter_config.json`` + ``adapter_model.safetensors``), or
* a full transformers model directory (``config.json`` + safetensors weights + tokenizer).

The run copies the init into ``RUN/init/`` (with the source run's own init as ``RUN/init/init/``), so that the
run stays self-contained and ``--resume``, ``aigc-rl eval`` and ``aigc-rl export`` rebuild the same policy
from the run alone; the source is never modified. ``run.json`` records ``"init": {"path", "kind", "weights",
and for a run: "model", "agent", "init"}``, the lineage that the report draws.

The init policy is built by loading the base, applying each adapter of the chain with peft and merging it
(``merge_and_unload``). TRL then adds the run's own LoRA adapter to that merged model and uses the model with
the adapter disabled as its reference, so the KL penalty is measured against the fine-tuned policy (KL at
step 0 is 0 up to rounding).

Every check here runs before a run directory is touched (bad input: exit 2, nothing written).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UserFileError

__all__ = [
    "INIT_DIR",
    "InitSource",
    "InitError",
    "resolve_init",
    "check_adapter_matches",
    "copy_init",
    "init_chain",
    "load_policy",
    "load_run_policy",
    "lineage_of",
    "lineage_text",
    "export_run",
]

#: The run directory's copy of its init policy.
INIT_DIR = "init"

_USAGE = "pass a run directory, a PEFT adapter directory (adapter_config.json) or a transformers model directory (config.json)"


class InitError(UserFileError):
    """``--init`` names nothing usable: missing, empty, not a run/adapter/model, damaged, or for another base."""


@dataclass(frozen=True)
class InitSource:
    """A checked ``--init`` source.

    Attributes:
        path: The directory given, resolved.
        kind: ``"run"``, ``"adapter"`` or ``"model"``.
        weights: The directory holding the policy's weights: an adapter directory or a full model directory.
        nested: A source run's own ``init/`` (the policy its adapter was trained on), else ``None``.
        record: What ``run.json["init"]`` records.
    """

    path: Path
    kind: str
    weights: Path
    nested: Path | None = None
    record: dict[str, Any] = field(default_factory=dict)

    def chain(self) -> list[Path]:
        """The directories to apply, innermost first (see :func:`init_chain`)."""
        return (init_chain(self.nested) if self.nested is not None else []) + [self.weights]


def _is_adapter(d: Path) -> bool:
    return (d / "adapter_config.json").is_file()


def _is_model(d: Path) -> bool:
    return (d / "config.json").is_file()


def init_chain(init_dir: str | os.PathLike[str]) -> list[Path]:
    """The policy directories of an ``init/`` directory, innermost first.

    ``init/`` holds an adapter (then possibly ``init/init/``, the policy that adapter was trained on, and so on)
    or a full model. The first element is a full model directory or the innermost adapter (applied on the
    base); each later one is an adapter applied on the merged result of the ones before.

    Returns:
        A list of directories (at least ``[init_dir]``).
    """
    d = Path(init_dir)
    out = [d]
    while _is_adapter(d) and (d / INIT_DIR).is_dir():
        d = d / INIT_DIR
        out.append(d)
    return out[::-1]


def _shapes(files: list[Path]) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, read from safetensors headers only (no weights are loaded)."""
    from safetensors import safe_open

    out: dict[str, tuple[int, ...]] = {}
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as st:
                for k in st.keys():
                    out[k] = tuple(st.get_slice(k).get_shape())
        except Exception as e:  # SafetensorError, OSError: a damaged file
            raise InitError(
                f"{f}: not a readable safetensors file ({' '.join(str(e).split())[:200]})"
            ) from None
    return out


def _model_shapes(model_dir: Path) -> dict[str, tuple[int, ...]] | None:
    files = sorted(model_dir.glob("*.safetensors"))
    return _shapes(files) if files else None


def check_adapter_matches(adapter_dir: str | os.PathLike[str], base_dir: str | os.PathLike[str]) -> None:
    """Check that a LoRA adapter was made for the base model in ``base_dir`` (headers only, no weights loaded).

    Compares the adapter's target-module names with the base's module names, and each ``lora_A`` / ``lora_B``
    tensor shape with the shape of the base weight it adapts (``lora_A``: ``[r, in_features]``, ``lora_B``:
    ``[out_features, r]``; for embeddings ``lora_embedding_A``: ``[r, num_embeddings]``,
    ``lora_embedding_B``: ``[embedding_dim, r]``). ``base_model_name_or_path`` alone is not trusted: a local
    path or a renamed copy says nothing.

    Args:
        adapter_dir: Directory with ``adapter_config.json`` and ``adapter_model.safetensors``.
        base_dir: A local model directory (a hub id that is not local is not checked).

    Raises:
        InitError: unreadable ``adapter_config.json`` or weights, a target module or tensor the base does not
            have, or a shape that differs (names the tensor and both shapes).
    """
    a, b = Path(adapter_dir), Path(base_dir)
    try:
        acfg = json.loads((a / "adapter_config.json").read_text(encoding="utf-8"))
        if not isinstance(acfg, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as e:
        raise InitError(
            f"{a / 'adapter_config.json'}: not a readable adapter config ({e}); the adapter is damaged"
        ) from None
    base = _model_shapes(b) if b.is_dir() else None
    if base is None:
        return
    modules = {k.rsplit(".", 1)[0] for k in base}
    leaves = {m.rsplit(".", 1)[-1] for m in modules}
    targets = acfg.get("target_modules")
    if isinstance(targets, list):
        missing = sorted(t for t in targets if t not in leaves and t not in modules)
        missing = [t for t in missing if not any(m.endswith("." + t) for m in modules)]
        if missing:
            raise InitError(
                f"--init {a}: the adapter targets modules {', '.join(missing)} that the base model {b} does not "
                "have: it was made for another base model; pass that model with --model"
            )
    other = f"the adapter was made for another base model than {b}; pass that model with --model"
    for key, shape in _shapes([a / "adapter_model.safetensors"]).items():
        name = key.removeprefix("base_model.model.")
        for tag, dim, base_dim in (
            (".lora_A.", 1, 1),
            (".lora_B.", 0, 0),
            (".lora_embedding_A", 1, 0),
            (".lora_embedding_B", 0, 1),
        ):
            if tag in name:
                module = name.split(tag)[0]
                w = base.get(module + ".weight")
                if w is None and module.endswith("lm_head"):  # tied to the input embeddings
                    w = next((s for k, s in base.items() if k.endswith("embed_tokens.weight")), None)
                if w is None:
                    raise InitError(
                        f"--init {a}: tensor {key} adapts {module}, which {b} does not have: {other}"
                    )
                if len(shape) < 2 or len(w) < 2 or shape[dim] != w[base_dim]:
                    raise InitError(
                        f"--init {a}: tensor {key} has shape {list(shape)} but {module}.weight of the base is "
                        f"{list(w)}: {other}"
                    )
                break


def _check_model_matches(model_dir: Path, base_dir: Path) -> None:
    base = _model_shapes(base_dir) if base_dir.is_dir() else None
    mine = _model_shapes(model_dir)
    if mine is None:
        raise InitError(f"--init {model_dir}: the model directory holds no *.safetensors weights; {_USAGE}")
    if base is None:
        return
    ignore = {"lm_head.weight"}  # saved or not, depending on tied embeddings
    for k in sorted((set(base) | set(mine)) - ignore):
        if base.get(k) != mine.get(k):
            raise InitError(
                f"--init {model_dir}: weight {k} is {list(mine[k]) if k in mine else 'missing'} there but "
                f"{list(base[k]) if k in base else 'missing'} in the base model {base_dir}: it is another "
                "architecture; pass its own base model with --model"
            )


def _check_weights(d: Path, base_dir: Path) -> None:
    """Check an adapter or full model directory against the base (files readable, shapes match)."""
    if _is_adapter(d):
        from .models import check_adapter_files

        try:
            check_adapter_files(d)
        except UserFileError as e:
            raise InitError(f"--init: {e}") from None
        check_adapter_matches(d, base_dir)
    else:
        from .models import check_model_files

        check_model_files(d)
        _check_model_matches(d, base_dir)


def resolve_init(spec: str | os.PathLike[str], base_model: str) -> InitSource:
    """Resolve and check an ``--init`` argument against the run's base model, without writing anything.

    Args:
        spec: A run directory, a PEFT adapter directory or a full transformers model directory.
        base_model: The run's ``--model`` (resolved with :func:`aigc_rl.models.resolve_model`).

    Returns:
        The checked :class:`InitSource`.

    Raises:
        InitError: ``spec`` does not exist, is a file or an empty directory, is neither a run, an adapter nor a
            model directory, is an unfinished run, holds a damaged adapter, or was made for another base model.
        ModelNotFoundError: ``base_model`` cannot be resolved.
    """
    from .models import resolve_model

    p = Path(spec).expanduser()
    if not p.exists():
        raise InitError(f"--init {spec}: no such directory; {_USAGE}")
    if not p.is_dir():
        raise InitError(f"--init {spec} is a file, not a directory; {_USAGE}")
    if not any(p.iterdir()):
        raise InitError(f"--init {spec} is an empty directory; {_USAGE}")
    base_dir = Path(resolve_model(base_model))
    p = p.resolve()
    if (p / "run.json").is_file() or (p / "config.yaml").is_file():
        src = _resolve_run(p)
        inner = init_chain(src.nested)[0] if src.nested is not None else None
        if inner is not None and _is_model(inner):  # the source's adapter sits on a full fine-tuned model
            _check_weights(inner, base_dir)
        else:
            for d in src.chain():
                _check_weights(d, base_dir)
        return src
    if _is_adapter(p):
        _check_weights(p, base_dir)
        return InitSource(p, "adapter", p, None, {"path": str(p), "kind": "adapter", "weights": "adapter"})
    if _is_model(p):
        _check_weights(p, base_dir)
        return InitSource(p, "model", p, None, {"path": str(p), "kind": "model", "weights": "model"})
    raise InitError(
        f"--init {spec} holds neither run.json, adapter_config.json nor config.json: it is not a run, a PEFT "
        f"adapter or a transformers model directory; {_USAGE}"
    )


def _resolve_run(p: Path) -> InitSource:
    from .config import recorded_config
    from .run import RunDir

    rd = RunDir(p)
    rec: dict[str, Any] = {}
    if rd.record_path.is_file():
        try:
            rec = rd.read_record()
        except Exception as e:  # RunDirError: unreadable record
            raise InitError(f"--init {p}: {e}") from None
        if rec.get("status") not in (None, "finished"):
            raise InitError(
                f"--init {p}: the run has not finished (status {rec.get('status')!r}); finish it with "
                f"`aigc-rl train --output-dir {p} --resume` or pass another --init"
            )
    cfg = recorded_config(p) or {}
    if _is_adapter(p / "adapter"):
        weights = p / "adapter"
    elif _is_model(p / "model"):
        weights = p / "model"
    else:
        raise InitError(
            f"--init {p}: the run holds neither adapter/ nor model/ (not finished, or not a text run); finish "
            "it or pass another --init"
        )
    nested = None
    if rec.get("init") and _is_adapter(weights):
        nested = p / INIT_DIR
        if not (_is_adapter(nested) or _is_model(nested)):
            raise InitError(
                f"--init {p}: the run started from an init but its {nested} is missing or damaged"
            )
    record = {
        "path": str(p),
        "kind": "run",
        "weights": "adapter" if _is_adapter(weights) else "model",
        "model": cfg.get("model"),
        "agent": cfg.get("agent"),
        "init": rec.get("init"),
    }
    return InitSource(p, "run", weights, nested, record)


def _copy_files(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(src.iterdir()):
        if f.is_file():
            shutil.copy2(f, dest / f.name)


def copy_init(src: InitSource, dest: str | os.PathLike[str]) -> Path:
    """Copy an init source's policy into ``dest`` (normally ``RUN/init``), atomically (a temporary directory
    next to it, then one rename). The source is only read.

    The files of ``src.weights`` go to ``dest``; a source run's own init (``src.nested``) goes, recursively, to
    ``dest/init``. ``dest`` must not exist.

    Returns:
        ``dest`` as a ``Path``.
    """
    dest = Path(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        _copy_files(src.weights, tmp)
        if src.nested is not None:
            shutil.copytree(src.nested, tmp / INIT_DIR)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def load_policy(
    base_model: str, chain: list[Path] | None, device: str | None = None, dtype: Any = None
) -> tuple[Any, Any]:
    """Load the base model with an init chain merged in (a plain ``PreTrainedModel``, no peft wrapper).

    Args:
        base_model: The run's ``--model``.
        chain: :func:`init_chain` (or :meth:`InitSource.chain`); ``None`` or empty: the base alone. A full model
            directory first replaces the base; each adapter is applied with peft and merged
            (``merge_and_unload``).
        device: As :func:`aigc_rl.models.load_causal_lm`.
        dtype: As :func:`aigc_rl.models.load_causal_lm`.

    Returns:
        ``(model, tokenizer)``; the tokenizer is the base's (or the full model's).

    Raises:
        UserFileError: an adapter that cannot be loaded (names the file).
    """
    from .models import load_adapter, load_causal_lm

    chain = list(chain or [])
    first = base_model
    if chain and _is_model(chain[0]):
        first = str(chain.pop(0))
    model, tokenizer = load_causal_lm(first, device=device, dtype=dtype)
    for d in chain:
        model = load_adapter(model, d).merge_and_unload()
    return model, tokenizer


def load_run_policy(
    run_dir: str | os.PathLike[str], base_model: str, device: str | None = None
) -> tuple[Any, Any]:
    """The init policy of a run: its base with ``RUN/init`` merged in (the base alone without an init)."""
    d = Path(run_dir) / INIT_DIR
    return load_policy(base_model, init_chain(d) if d.is_dir() else None, device=device)


def _label(rec: dict[str, Any]) -> str:
    if rec.get("kind") == "run":
        return f"{rec.get('agent') or 'run'} ({rec.get('path')})"
    return f"{rec.get('kind')} ({rec.get('path')})"


def lineage_of(run_dir: str | Path) -> list[dict[str, Any]]:
    """The lineage of a run from its records, base first: ``[{"stage", "label", "path"}, ...]``.

    ``stage`` is ``"base"``, ``"init"`` (one per init, outermost last) and ``"tuned"`` (the run itself).
    """
    from .config import recorded_config
    from .run import RunDir

    rd = RunDir(run_dir)
    rec = rd.read_record() if rd.record_path.is_file() else {}
    cfg = recorded_config(run_dir) or {}
    inits: list[dict[str, Any]] = []
    i = rec.get("init")
    while isinstance(i, dict):
        inits.append(i)
        i = i.get("init")
    out = [{"stage": "base", "label": str(cfg.get("model")), "path": None}]
    out += [{"stage": "init", "label": _label(r), "path": r.get("path")} for r in reversed(inits)]
    out.append({"stage": "tuned", "label": f"{cfg.get('agent')} ({rd.path})", "path": str(rd.path)})
    return out


def lineage_text(lineage: list[dict[str, Any]]) -> str:
    """``"SmolLM2 → sft (runs/a) → grpo (runs/b)"`` from :func:`lineage_of`."""
    return " → ".join(str(s.get("label")) for s in lineage)


def export_run(run_dir: str | Path, out: str | Path) -> Path:
    """Merge a finished text run's policy into one standalone transformers model (``aigc-rl export``).

    The base model, the run's init chain (``RUN/init``, if any) and the run's LoRA adapter are merged with peft
    (``merge_and_unload``) and saved with the tokenizer as safetensors; ``AutoModelForCausalLM.from_pretrained(out)``
    loads it with no peft and no aigc-rl, and it generates like the adapter-on-base policy. A full fine-tuning
    run (``RUN/model``) is saved as it is. The model is written into a temporary directory next to ``out`` and
    renamed into place; ``out`` also gets ``aigc_rl_export.json`` (the run and its lineage).

    Args:
        run_dir: A finished run directory of ``aigc-rl train`` (or ``aigc-rl sft``).
        out: A directory that does not exist or is empty.

    Returns:
        ``out`` as a ``Path``.

    Raises:
        FileNotFoundError: ``run_dir`` holds no run record.
        RunDirError: ``out`` exists and is a file or not empty (nothing is overwritten), or the run has not
            finished / holds no adapter or model.
        UserFileError: a damaged adapter.
    """
    from .config import recorded_config
    from .errors import RunDirError
    from .run import RunDir, atomic_write_json

    rd = RunDir(run_dir)
    dest = Path(out)
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise RunDirError(
            f"--out {dest} exists and is not an empty directory; nothing was overwritten: choose a new --out"
        )
    if not rd.record_path.is_file():
        raise FileNotFoundError(
            f"{rd.path} holds no run record (run.json): pass a run directory written by `aigc-rl train`"
        )
    rec = rd.read_record()
    cfg = recorded_config(rd.path) or {}
    if rec.get("kind") not in (None, "text"):
        raise RunDirError(f"{rd.path} is an image run: only text runs (a language model) are exported")
    adapter, full = rd.path / "adapter", rd.path / "model"
    if rec.get("status") != "finished" or not (_is_adapter(adapter) or _is_model(full)):
        raise RunDirError(
            f"{rd.path} has not finished training (status {rec.get('status')!r}): resume it with "
            f"`aigc-rl train --output-dir {rd.path} --resume`, then export"
        )
    if cfg.get("init") is not None and not (rd.path / INIT_DIR).is_dir():
        raise RunDirError(
            f"{rd.path / INIT_DIR} is missing: the run started from --init {cfg.get('init')} but holds no copy of "
            "it, so its policy cannot be rebuilt"
        )
    with rd.locked():
        if _is_adapter(adapter):
            from .models import check_adapter_files, load_adapter

            check_adapter_files(adapter)
            model, tokenizer = load_run_policy(rd.path, str(cfg.get("model")), device="cpu")
            model = load_adapter(model, adapter).merge_and_unload()
        else:
            model, tokenizer = load_policy(str(full), None, device="cpu")
        parent = dest.parent
        parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=parent))
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            tokenizer.save_pretrained(tmp)
            atomic_write_json(
                tmp / "aigc_rl_export.json", {"run": str(rd.path.resolve()), "lineage": lineage_of(rd.path)}
            )
            if dest.is_dir():  # empty (checked above): the files move into it, the directory stays the user's
                for f in sorted(tmp.iterdir()):
                    os.replace(f, dest / f.name)
                tmp.rmdir()
            else:
                os.replace(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return dest
