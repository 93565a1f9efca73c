"""Supervised fine-tuning (``aigc-rl sft``, ``agent: sft``): TRL's ``SFTTrainer`` with a LoRA adapter.

The fine-tuning stage before RL (issue 12): the policy is trained on demonstrations, prompt + completion pairs,
with the loss on the completion only, and saved like an RL run's policy, so that ``aigc-rl eval``, the report,
``--resume`` and RL from the fine-tuned policy treat it as any other text run.

Data (:func:`load_sft_rows`), checked in full before the run directory is touched:

* a task name (``content``, ``support``, ``education``): the shipped ``aigc_rl/data/demos/<task>.jsonl``;
* a ``.jsonl`` file: one object per line, either ``{"prompt": str, "completion": str}`` (other keys such as
  ``id`` are kept aside) or ``{"messages": [{"role": ..., "content": ...}, ...]}`` ending with an assistant turn;
* a ``.csv`` file with a header holding ``prompt`` and ``completion`` columns;
* a directory written by ``datasets``' ``save_to_disk`` (a ``Dataset``, or a ``DatasetDict`` with a ``train``
  split) with those columns.

Prompt format: a prompt/completion pair becomes TRL's *conversational prompt-completion* row
``{"prompt": [user turn], "completion": [assistant turn]}``, the user content cut from the left to
``max_prompt_tokens`` by the same :class:`~aigc_rl.prompt_encoding.PromptEncoder` the RL trainer and
evaluation use (:func:`aigc_rl.agents.trl.trainer.build_dataset`), so SFT trains on exactly the prompt tokens
RL and ``aigc-rl eval`` sample from (the model's chat template with the generation prompt). A ``messages`` row
is split the same way: every turn before the last is the prompt (at most ``max_prompt_tokens`` tokens, not
cut: a longer one is refused), the last (assistant) turn the completion.
TRL's ``assistant_only_loss`` is not used: it needs ``{% generation %}`` markers that neither SmolLM2's nor most
templates have (TRL ships training templates for a fixed list of model families), whereas the split keeps the
loss on the final assistant turn with any template. A tokenizer without a chat template gets plain
prompt + completion strings (TRL appends the EOS token to the completion).

Loss: TRL's ``completion_only_loss`` (``SFTConfig``) labels every prompt token ``-100``; the completion's tokens,
end-of-turn included, carry the loss. Sequences are limited to ``max_prompt_tokens + max_new_tokens`` tokens
(longer completions are cut at the end, as the policy is limited to ``max_new_tokens`` when sampling); how many
sequences reach that limit is recorded in ``train_summary.json``.

Run directory (:class:`~aigc_rl.run.RunDir`, the contract of ``aigc-rl train``): ``run.json`` (kind ``text``,
agent ``sft``, status ``running`` -> ``finished`` | ``interrupted``, ``sft_data``: source, format, rows,
SHA-256), ``config.yaml``, ``metrics.jsonl`` (TRL's ``loss``, ``grad_norm``, ``learning_rate``,
``mean_token_accuracy``, ``entropy``, ``num_tokens`` per logged step), ``checkpoints/checkpoint-N`` (marked
complete), then ``adapter/`` (LoRA, safetensors, tokenizer) or, with ``full_finetune``, ``model/`` (the whole
model, safetensors, tokenizer), and ``train_summary.json``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import stat
from pathlib import Path
from typing import Any

import aigc_rl as _aigc_rl
from aigc_rl.config import ConfigError, TrainConfig
from aigc_rl.errors import UserFileError
from aigc_rl.progress import progress_enabled
from aigc_rl.prompts import TASKS, is_blank, task_names
from aigc_rl.run import (
    RunDir,
    checkpoint_step,
    run_record,
)

logger = logging.getLogger(__name__)

__all__ = [
    "SFTDataError",
    "DEMOS_DIR",
    "demos_path",
    "load_sft_rows",
    "SFTData",
    "sft_source",
    "format_sft_rows",
    "prepare_sft_data",
    "build_sft_trainer",
    "train_sft",
]

#: Where the shipped demonstrations live: ``<task>.jsonl`` per task.
DEMOS_DIR = Path(_aigc_rl.__file__).resolve().parent / "data" / "demos"
#: Largest data file read (bytes): demonstrations are text; a larger file is almost surely the wrong file.
MAX_FILE_BYTES = 1024 * 1024 * 1024
_ROLES = ("system", "user", "assistant")


class SFTDataError(UserFileError):
    """A fine-tuning data source is missing, empty or malformed; the message names the file, line and fix."""


def demos_path(task: str) -> Path:
    """The shipped demonstrations of a task, ``aigc_rl/data/demos/<task>.jsonl``.

    Raises:
        SFTDataError: unknown task (lists the tasks), or the task ships no demonstrations file.
    """
    if task not in TASKS:
        raise SFTDataError(
            f"unknown task {task!r} for --sft-data; available: {', '.join(task_names())}, or a .jsonl/.csv "
            "file or a datasets directory"
        )
    path = DEMOS_DIR / f"{task}.jsonl"
    if not path.is_file():
        raise SFTDataError(
            f"task {task!r} ships no demonstrations ({path} is missing); pass your own file with --sft-data"
        )
    return path


def _read_text(path: Path) -> bytes:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SFTDataError(f"SFT data file {path} does not exist (--sft-data)") from None
    except OSError as e:
        raise SFTDataError(f"SFT data file {path} cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise SFTDataError(f"SFT data file {path} is not a regular file; pass a .jsonl or .csv file")
    if st.st_size > MAX_FILE_BYTES:
        raise SFTDataError(
            f"SFT data file {path} is {st.st_size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit"
        )
    try:
        return path.read_bytes()
    except OSError as e:
        raise SFTDataError(f"SFT data file {path} cannot be read ({e.strerror})") from None


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data:
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise SFTDataError(f"{path}:{line}: holds NUL bytes (a binary file?); pass a .jsonl or .csv file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise SFTDataError(f"{path}:{line}: not valid UTF-8; re-save the file as UTF-8") from None


def _text(where: str, name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SFTDataError(f"{where}: {name!r} must be a string, got {type(value).__name__}")
    if is_blank(value):
        raise SFTDataError(f"{where}: empty {name!r}")
    return value


def _check_row(where: str, obj: Any) -> dict[str, Any]:
    """One demonstration: ``{"prompt", "completion"}`` strings or ``{"messages": [...]}`` (copied, checked)."""
    if not isinstance(obj, dict):
        raise SFTDataError(
            f"{where}: expected an object with 'prompt' and 'completion' (or 'messages'), got {type(obj).__name__}"
        )
    if "messages" in obj and "prompt" not in obj:
        msgs = obj["messages"]
        if not isinstance(msgs, list) or len(msgs) < 2:
            raise SFTDataError(
                f"{where}: 'messages' must be a list of at least two {{role, content}} turns (a prompt and the "
                "assistant's answer)"
            )
        out = []
        for j, m in enumerate(msgs):
            if not isinstance(m, dict) or m.get("role") not in _ROLES:
                raise SFTDataError(
                    f"{where}: message {j} must be an object with 'role' ({', '.join(_ROLES)}) and 'content'"
                )
            out.append(
                {"role": m["role"], "content": _text(where, f"messages[{j}].content", m.get("content"))}
            )
        if out[-1]["role"] != "assistant":
            raise SFTDataError(
                f"{where}: the last message must be the assistant's (the completion trained on)"
            )
        return {"messages": out}
    missing = [k for k in ("prompt", "completion") if k not in obj]
    if missing:
        raise SFTDataError(
            f"{where}: no {' or '.join(repr(k) for k in missing)} field (fields: {', '.join(map(str, obj)) or 'none'}); "
            "each row needs 'prompt' and 'completion' strings, or chat 'messages'"
        )
    return {
        "prompt": _text(where, "prompt", obj["prompt"]),
        "completion": _text(where, "completion", obj["completion"]),
    }


def _parse_jsonl(path: Path, text: str) -> list[dict[str, Any]]:
    from aigc_rl.prompts import jsonl_objects

    return [_check_row(where, obj) for where, _, obj in jsonl_objects(path, text, SFTDataError)]


def _parse_csv(path: Path, text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    limit = csv.field_size_limit()
    csv.field_size_limit(10_000_000)
    rows = []
    try:
        fields = reader.fieldnames or []
        missing = [k for k in ("prompt", "completion") if k not in fields]
        if missing:
            raise SFTDataError(
                f"{path}:1: the CSV header needs 'prompt' and 'completion' columns (missing "
                f"{', '.join(missing)}; header: {fields})"
            )
        for row in reader:
            if None in row:
                raise SFTDataError(f"{path}:{reader.line_num}: more fields than the header has")
            rows.append(_check_row(f"{path}:{reader.line_num}", dict(row)))
    except csv.Error as e:
        raise SFTDataError(f"{path}:{reader.line_num + 1}: malformed CSV ({e})") from None
    finally:
        csv.field_size_limit(limit)
    return rows


def _load_saved_dataset(path: Path) -> list[dict[str, Any]]:
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        ds = load_from_disk(str(path))
    except (FileNotFoundError, OSError, ValueError) as e:
        raise SFTDataError(
            f"{path}: not a dataset saved with datasets' save_to_disk ({' '.join(str(e).split())[:200]}); pass a "
            ".jsonl/.csv file or such a directory"
        ) from None
    if isinstance(ds, DatasetDict):
        if "train" not in ds:
            raise SFTDataError(f"{path}: a DatasetDict without a 'train' split (splits: {', '.join(ds)})")
        ds = ds["train"]
    if not isinstance(ds, Dataset):
        raise SFTDataError(f"{path}: expected a datasets.Dataset, got {type(ds).__name__}")
    cols = set(ds.column_names)
    if not ({"prompt", "completion"} <= cols or "messages" in cols):
        raise SFTDataError(
            f"{path}: the dataset needs 'prompt' and 'completion' columns, or 'messages' (columns: "
            f"{', '.join(ds.column_names)})"
        )
    return [_check_row(f"{path} row {i}", row) for i, row in enumerate(ds)]


def load_sft_rows(source: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Read and check every demonstration of ``source``.

    Args:
        source: A task name (the shipped demos), a ``.jsonl``/``.csv`` file, or a ``save_to_disk`` directory.

    Returns:
        ``(rows, info)``: each row ``{"prompt": str, "completion": str}`` or ``{"messages": [{"role",
        "content"}, ...]}`` (last turn the assistant's); ``info`` = ``{"source", "path", "format"
        ("prompt-completion" | "messages"), "rows", "sha256"}`` (SHA-256 of the file; ``None`` for a directory).

    Raises:
        SFTDataError: unknown task, missing/empty/non-UTF-8 file, a row that is not JSON, misses ``prompt`` or
            ``completion``, holds a non-string or blank value, a CSV without the columns, rows mixing the two
            formats, or an unsupported file type (the message names the file, line and fix).
    """
    src = str(source)
    if src in TASKS:
        path = demos_path(src)
    else:
        path = Path(src).expanduser()
        if not path.exists() and "/" not in src and "." not in src:
            demos_path(src)  # an unknown task name: raises with the list of tasks
    digest: str | None = None
    if path.is_dir():
        rows = _load_saved_dataset(path)
    else:
        data = _read_text(path)
        digest = hashlib.sha256(data).hexdigest()
        text = _decode(path, data)
        suffix = path.suffix.lower()
        if suffix in (".jsonl", ".json", ".ndjson"):
            rows = _parse_jsonl(path, text)
        elif suffix == ".csv":
            rows = _parse_csv(path, text)
        else:
            raise SFTDataError(
                f"SFT data file {path}: unsupported type {suffix or '(no suffix)'!r}; pass a .jsonl or .csv file "
                "with prompt and completion, or a datasets save_to_disk directory"
            )
    if not rows:
        raise SFTDataError(f"{path}: holds no demonstration; add prompt/completion rows")
    kinds = {"messages" if "messages" in r else "prompt-completion" for r in rows}
    if len(kinds) > 1:
        raise SFTDataError(
            f"{path}: rows mix 'messages' and 'prompt'/'completion'; use one format for the whole file"
        )
    info = {"source": src, "path": str(path), "format": kinds.pop(), "rows": len(rows), "sha256": digest}
    return rows, info


class SFTData:
    """Demonstrations as TRL rows, built with the run's tokenizer (see the module docstring).

    Attributes:
        rows: TRL rows: ``{"prompt": [messages], "completion": [assistant message]}`` (chat template) or
            ``{"prompt": str, "completion": str}`` (no template).
        info: :func:`load_sft_rows`'s info, plus ``truncated_prompts`` (prompts cut to ``max_prompt_tokens``).
    """

    def __init__(self, rows: list[dict[str, Any]], info: dict[str, Any]) -> None:
        self.rows, self.info = rows, info

    def dataset(self) -> Any:
        """The rows as a ``datasets.Dataset``."""
        from datasets import Dataset

        return Dataset.from_list(self.rows)


def sft_source(cfg: TrainConfig) -> str:
    """The run's demonstrations: ``cfg.sft_data``, else the shipped demos of ``cfg.task``.

    Raises:
        ConfigError: no ``sft_data`` with a ``--prompts`` file (there are no shipped demos for it).
    """
    if cfg.sft_data is not None:
        return cfg.sft_data
    if cfg.prompts:
        raise ConfigError(
            f"--prompts {cfg.prompts} has no shipped demonstrations: pass your demonstrations with --sft-data"
        )
    return cfg.task


def prepare_sft_data(cfg: TrainConfig, tokenizer: Any) -> SFTData:
    """:func:`load_sft_rows` of :func:`sft_source`, then :func:`format_sft_rows`.

    Raises:
        SFTDataError, ConfigError: as there.
    """
    rows, info = load_sft_rows(sft_source(cfg))
    return format_sft_rows(cfg, rows, info, tokenizer)


def format_sft_rows(
    cfg: TrainConfig, rows: list[dict[str, Any]], info: dict[str, Any], tokenizer: Any
) -> SFTData:
    """Format checked demonstrations as TRL rows, the prompts as RL formats them (module docstring).

    Args:
        cfg: The run config (``max_prompt_tokens``, ``model`` for messages).
        rows: :func:`load_sft_rows`'s rows.
        info: Its info (copied into the result, with ``truncated_prompts`` added).
        tokenizer: The policy's tokenizer (its chat template formats the prompts).

    Returns:
        The :class:`SFTData`.

    Raises:
        SFTDataError: ``messages`` rows with a tokenizer that has no chat template.
        ConfigError: ``max_prompt_tokens`` too small for the chat template.
    """
    from aigc_rl.chat import messages_for
    from aigc_rl.prompt_encoding import PromptEncoder

    info = dict(info)
    templated = getattr(tokenizer, "chat_template", None) is not None
    try:
        encoder = PromptEncoder(tokenizer, cfg.max_prompt_tokens)
    except ValueError as e:
        raise ConfigError(f"{e} (--max-prompt-tokens)") from None
    out: list[dict[str, Any]] = []
    cut = 0
    for r in rows:
        if "messages" in r:
            if not templated:
                raise SFTDataError(
                    f"{info['path']}: chat 'messages' need a model with a chat template; {cfg.model} has none: "
                    "pass prompt/completion rows"
                )
            prompt = r["messages"][:-1]
            n = len(
                tokenizer.apply_chat_template(
                    prompt, tokenize=True, add_generation_prompt=True, return_dict=True
                )["input_ids"]
            )
            if (
                n > cfg.max_prompt_tokens
            ):  # RL's prompt limit; TRL would drop a row whose prompt fills max_length
                raise SFTDataError(
                    f"{info['path']}: row {len(out) + 1}: the turns before the last take {n} tokens, over "
                    f"--max-prompt-tokens {cfg.max_prompt_tokens}; raise --max-prompt-tokens or shorten the row"
                )
            out.append({"prompt": prompt, "completion": r["messages"][-1:]})
            continue
        content = encoder.encode(r["prompt"])[1]  # the user content RL keeps (left-truncated)
        cut += content != r["prompt"]
        if templated:
            out.append(
                {
                    "prompt": messages_for(content),
                    "completion": [{"role": "assistant", "content": r["completion"]}],
                }
            )
        else:
            out.append({"prompt": content, "completion": r["completion"]})
    info["truncated_prompts"] = cut
    return SFTData(out, info)


def build_sft_trainer(
    cfg: TrainConfig,
    data: SFTData,
    model: Any,
    tokenizer: Any,
    run_dir: Path,
    use_cuda: bool,
    **sft_args: Any,
) -> Any:
    """A TRL ``SFTTrainer`` on ``data`` with a LoRA adapter (or every weight, ``cfg.full_finetune``).

    Args:
        cfg: The run config: ``learning_rate``, ``prompts_per_step`` (demonstrations per optimiser step),
            ``max_steps``, ``max_prompt_tokens + max_new_tokens`` (sequence limit), ``lora_r``, ``lora_alpha``,
            ``logging_steps``, ``save_steps``, ``seed``.
        data: :func:`prepare_sft_data`'s demonstrations.
        model: The base ``PreTrainedModel``.
        tokenizer: Its tokenizer.
        run_dir: The run directory; checkpoints go to ``run_dir/checkpoints``.
        use_cuda: Train on the GPU in bf16.
        **sft_args: Any other ``SFTConfig`` field, overriding the values derived from ``cfg``.

    Returns:
        The trainer, with :class:`~aigc_rl.agents.trl.trainer.MetricsLogger`,
        :class:`~aigc_rl.agents.trl.trainer.CheckpointMarker` and a
        :class:`~aigc_rl.agents.trl.trainer.StopFlag` (``trainer.stop_flag``) attached.
    """
    from trl import SFTConfig, SFTTrainer

    from aigc_rl.agents.trl.trainer import (
        CheckpointMarker,
        MetricsLogger,
        StopFlag,
        lora_config,
        shared_trainer_args,
        use_run_tb_dir,
    )

    args: dict[str, Any] = dict(
        **shared_trainer_args(cfg, run_dir, use_cuda),
        per_device_train_batch_size=cfg.prompts_per_step,
        max_length=cfg.max_prompt_tokens + cfg.max_new_tokens,
        completion_only_loss=True,  # prompt tokens get label -100
        packing=False,
    )
    args.update(sft_args)
    lora = None if cfg.full_finetune else lora_config(cfg)
    stop = StopFlag()
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(**args),
        train_dataset=data.dataset(),
        processing_class=tokenizer,
        peft_config=lora,
        callbacks=[MetricsLogger(run_dir / "metrics.jsonl"), CheckpointMarker(), stop],
    )
    trainer.stop_flag = stop  # type: ignore[attr-defined]  # aigc-rl's own attribute, as on the RL trainers
    if not progress_enabled():
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)  # --quiet: no log dicts on stdout (metrics.jsonl has them)
    use_run_tb_dir(trainer, run_dir)  # --report-to tensorboard: event files in run_dir/tb
    return trainer


def _check_same_data(cfg: TrainConfig, run_dir: Path, info: dict[str, Any]) -> None:
    """``--resume``: refuse demonstrations that differ from those the run started on (by SHA-256).

    Raises:
        ConfigError: the file's digest differs from the one in ``run.json`` (names the file and the fix).
    """
    rd = RunDir(run_dir)
    if not cfg.resume or not rd.record_path.is_file():
        return
    recorded = (rd.read_record().get("sft_data") or {}).get("sha256")
    if recorded and info.get("sha256") and recorded != info["sha256"]:
        raise ConfigError(
            f"--resume: {info['path']} changed since the run started (SHA-256 {info['sha256'][:12]}... vs "
            f"{recorded[:12]}...); restore the file, or start a new run in another --output-dir"
        )


def train_sft(cfg: TrainConfig) -> Path:
    """The text backend's supervised fine-tuning (:class:`aigc_rl.backends.TextBackend`, ``agent: sft``).

    Call :func:`aigc_rl.train.run_train`, which applies the checks every run kind shares first. Everything
    that can fail on bad input (data, model files, lengths) is checked before the run directory is touched.

    Args:
        cfg: The run config, ``agent == "sft"``.

    Returns:
        The run directory.

    Raises:
        SFTDataError, ConfigError, ModelNotFoundError, UserFileError, RunDirError, RunLockedError: bad input,
            before the run directory is touched.
        TrainingInterrupted: a signal stopped training (status ``interrupted`` in ``run.json``).
    """
    import torch
    from transformers import AutoTokenizer

    from aigc_rl.agents.trl.run import _resolve_run_init, check_model_limits
    from aigc_rl.models import check_model_files, resolve_model

    if cfg.agent != "sft":
        raise ValueError(f"train_sft trains agent 'sft', got {cfg.agent!r}")
    run_dir = cfg.resolved_output_dir()
    rows, info = load_sft_rows(sft_source(cfg))  # a bad data file fails first, before the model is resolved
    from aigc_rl.tracking import parse_report_to, require_trackers

    require_trackers(parse_report_to(cfg.report_to, "text"))  # a missing tensorboard/wandb fails here
    model_path = resolve_model(cfg.model)
    check_model_files(model_path)
    check_model_limits(cfg, model_path)
    init = _resolve_run_init(cfg, run_dir)  # a bad --init fails here, before the run directory is touched
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    data = format_sft_rows(cfg, rows, info, tokenizer)
    _check_same_data(cfg, run_dir, info)
    use_cuda = cfg.device.startswith("cuda") or (cfg.device == "auto" and torch.cuda.is_available())
    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' was asked for but torch sees no GPU; use --device cpu or auto")

    from aigc_rl.agents.trl.run import run_in_dir

    return run_in_dir(cfg, lambda rd, main, stop: _train_sft(cfg, rd, main, data, use_cuda, stop, init))


def _train_sft(
    cfg: TrainConfig, rd: RunDir, main: bool, data: SFTData, use_cuda: bool, stop: Any, init: Any = None
) -> None:
    """The fine-tuning proper, inside the run's lock and signal handlers (mirrors ``_train_text``).

    ``init`` (``--init``, :func:`aigc_rl.lineage.resolve_init`) is copied into ``RUN/init`` once the run is
    recorded, and the policy fine-tuned is the base with that copy merged in, as for ``aigc-rl train``.

    Raises:
        KeyboardInterrupt: a signal stopped it (after a final checkpoint when it was the first signal).
    """
    from transformers import set_seed

    from aigc_rl.agents.trl.run import _drop_incomplete_checkpoints, resume_checkpoint, train_and_save
    from aigc_rl.agents.trl.trainer import StopFlag
    from aigc_rl.lineage import INIT_DIR, copy_init, init_chain, load_policy

    run_dir = rd.path
    resume_from: str | None = None
    if cfg.resume:
        ckpt = resume_checkpoint(rd)
        start = checkpoint_step(ckpt) if ckpt is not None else 0
        if main:
            _drop_incomplete_checkpoints(rd, start)
            rd.metrics.truncate_after(start)
            where = (
                f"checkpoint {ckpt} (step {start})" if ckpt is not None else "step 0 (no complete checkpoint)"
            )
            logger.info("aigc-rl sft: resuming %s from %s", run_dir, where)
        resume_from = str(ckpt) if ckpt is not None else None
    if main:
        if cfg.resume and rd.record_path.is_file():
            rd.update_record(
                status="running", config=cfg.to_dict(), resumed_from=resume_from, sft_data=data.info
            )
        else:
            extra: dict[str, Any] = {"sft_data": data.info}
            if init is not None:
                extra["init"] = init.record
            rd.write_record(run_record(kind="text", config=cfg.to_dict(), extra=extra))
        if init is not None:
            copy_init(init, run_dir / INIT_DIR)  # the run's own copy: resume, eval and export use it
        cfg.save(run_dir / "config.yaml")
    set_seed(cfg.seed)
    chain = None
    if cfg.init is not None:  # other ranks read the source itself: the copy may not be there yet
        chain = init_chain(run_dir / INIT_DIR) if main or init is None else init.chain()
    model, tokenizer = load_policy(cfg.model, chain, device="cuda" if use_cuda else "cpu")
    trainer = build_sft_trainer(cfg, data, model, tokenizer, run_dir, use_cuda)
    trainer.remove_callback(StopFlag)  # the run's own flag, set by a signal that came before training
    trainer.add_callback(stop)
    trainer.stop_flag = stop
    if stop.requested is not None:
        raise KeyboardInterrupt
    limit = cfg.max_prompt_tokens + cfg.max_new_tokens
    at_limit = sum(1 for ids in trainer.train_dataset["input_ids"] if len(ids) >= limit)
    n_rows = len(trainer.train_dataset)
    saved = "model" if cfg.full_finetune else "adapter"
    train_and_save(
        trainer,
        tokenizer,
        rd,
        cfg,
        stop,
        use_cuda,
        resume_from,
        saved=saved,
        extra=lambda steps: {
            "saved": saved,
            "sft_rows": n_rows,
            "epochs": round(steps * cfg.prompts_per_step / max(1, n_rows), 4),
            "sequences_at_length_limit": at_limit,  # cut to max_prompt_tokens + max_new_tokens (or exactly as long)
            "truncated_prompts": data.info.get("truncated_prompts", 0),
        },
    )
