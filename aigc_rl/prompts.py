"""Prompt sets: the shipped tasks (``content``, ``support``, ``education``) and user files.

A shipped task is a JSONL file in ``aigc_rl/data/prompts/`` with ``{"id", "prompt", "split"}`` per line and a
fixed split (the last 60 lines are ``eval``). A user file may be

* JSONL: one object per line with a ``prompt`` field (``id``, ``split`` and any other column are kept and
  passed to reward models as dataset columns, e.g. ``references``);
* CSV: a header row with a ``prompt`` column (other columns kept);
* plain text: one prompt per non-empty line.

A user file without a ``split`` column gets a deterministic split: every 5th prompt (20%) is ``eval``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import unicodedata
from pathlib import Path
from typing import Any

from .errors import PromptFileError

__all__ = ["TASKS", "PromptFileError", "load_prompts", "task_names", "task_path", "is_blank"]

_DATA = Path(__file__).resolve().parent / "data" / "prompts"

#: Shipped task names and what they hold.
TASKS: dict[str, str] = {
    "content": "content creation: slogans, headlines, product blurbs, short ad copy",
    "support": "customer-service replies to customer messages",
    "education": "exercise questions and short explanations",
}

SPLITS = ("train", "eval", "all")

#: Largest prompt file read (bytes). A prompt set is text; a larger file is almost surely the wrong file.
MAX_FILE_BYTES = 256 * 1024 * 1024
#: Longest prompt (characters) accepted in any format, CSV fields included.
MAX_PROMPT_CHARS = 1_000_000


def task_names() -> list[str]:
    """Names of the shipped prompt sets."""
    return sorted(TASKS)


def task_path(task: str) -> Path:
    """Path of a shipped task's JSONL file.

    Raises:
        PromptFileError: unknown task; the message lists the available ones.
    """
    if task not in TASKS:
        raise PromptFileError(
            f"unknown task {task!r}; available: {', '.join(task_names())} (or pass your own file with --prompts)"
        )
    return _DATA / f"{task}.jsonl"


def _read_text(path: Path) -> str:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise PromptFileError(f"prompt file {path} does not exist") from None
    except OSError as e:
        raise PromptFileError(f"prompt file {path} cannot be read ({e.strerror})") from None
    if stat.S_ISDIR(st.st_mode):
        raise PromptFileError(f"prompt file {path} is a directory; pass a .jsonl, .csv or .txt file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO, socket or device would block or never end
        raise PromptFileError(
            f"prompt file {path} is not a regular file (a pipe, socket or device); save the prompts to a file"
        )
    if st.st_size > MAX_FILE_BYTES:
        raise PromptFileError(
            f"prompt file {path} is {st.st_size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit "
            "for a prompt set; pass a smaller file"
        )
    try:
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)
        )  # never blocks, even if swapped for a FIFO
        with os.fdopen(fd, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise PromptFileError(f"prompt file {path} cannot be read ({e.strerror})") from None
    if b"\x00" in data:  # valid UTF-8 but not text: a binary file passed by mistake
        line = data[: data.index(b"\x00")].count(b"\n") + 1
        raise PromptFileError(
            f"{path}:{line}: holds NUL bytes (a binary file?); pass a .jsonl, .csv or .txt file"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise PromptFileError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start}); re-save the file "
            "as UTF-8"
        ) from None


def is_blank(text: str) -> bool:
    """True when ``text`` shows nothing: only whitespace, control, format (zero-width) or separator characters.

    Unicode general categories ``C*`` (control, format such as U+200B ZERO WIDTH SPACE, U+FEFF, NUL) and
    ``Z*`` (separators) are invisible; a prompt made only of them is empty.
    """
    return all(ch.isspace() or unicodedata.category(ch)[0] in "CZ" for ch in text)


def _check_prompt(path: Path, line: int, value: Any) -> str:
    if not isinstance(value, str):
        raise PromptFileError(f"{path}:{line}: 'prompt' must be a string, got {type(value).__name__}")
    if is_blank(value):
        what = (
            "empty prompt"
            if not value.strip()
            else "prompt of invisible characters only (NUL, zero-width ...)"
        )
        raise PromptFileError(f"{path}:{line}: {what}")
    if len(value) > MAX_PROMPT_CHARS:
        raise PromptFileError(
            f"{path}:{line}: prompt of {len(value):,} characters, over the {MAX_PROMPT_CHARS:,}-character limit"
        )
    return value


def _parse_jsonl(path: Path, text: str) -> list[dict[str, Any]]:
    rows = []
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise PromptFileError(f"{path}:{i}: invalid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(obj, dict):
            raise PromptFileError(
                f"{path}:{i}: expected a JSON object with a 'prompt' field, got {type(obj).__name__}"
            )
        if "prompt" not in obj:
            raise PromptFileError(f"{path}:{i}: no 'prompt' field (fields: {', '.join(obj) or 'none'})")
        obj["prompt"] = _check_prompt(path, i, obj["prompt"])
        rows.append(obj)
    return rows


def _parse_csv(path: Path, text: str) -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_PROMPT_CHARS + 1)  # the module default (131,072) is no bound we chose
    try:
        if reader.fieldnames is None or "prompt" not in reader.fieldnames:
            raise PromptFileError(
                f"{path}:1: the CSV header needs a 'prompt' column (got {reader.fieldnames})"
            )
        for row in reader:
            line = reader.line_num
            if None in row:
                raise PromptFileError(f"{path}:{line}: more fields than the header has")
            row["prompt"] = _check_prompt(path, line, row["prompt"])
            rows.append(dict(row))
    except csv.Error as e:
        raise PromptFileError(f"{path}:{reader.line_num + 1}: malformed CSV ({e})") from None
    finally:
        csv.field_size_limit(limit)
    return rows


def _parse_txt(path: Path, text: str) -> list[dict[str, Any]]:
    rows = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not is_blank(line):
            rows.append({"prompt": _check_prompt(path, i, line.strip())})
    return rows


def load_prompts(source: str | Path = "content", split: str = "train") -> list[dict[str, Any]]:
    """Load a prompt set.

    Args:
        source: A shipped task name (``content``, ``support``, ``education``) or a path to a ``.jsonl``,
            ``.csv`` or ``.txt`` file.
        split: ``"train"``, ``"eval"`` or ``"all"``.

    Returns:
        A list of row dicts, each with at least ``"id"`` (str), ``"prompt"`` (str) and ``"split"``.

    Raises:
        PromptFileError: unknown task, missing/empty/non-UTF-8/malformed file (file and line number given),
            unknown split, or no prompt in the requested split.
    """
    if split not in SPLITS:
        raise PromptFileError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    src = str(source)
    path = task_path(src) if src in TASKS else Path(src).expanduser()
    if src not in TASKS and not path.exists() and "/" not in src and "." not in src:
        task_path(src)  # raises with the list of tasks
    text = _read_text(path)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows = _parse_jsonl(path, text)
    elif suffix == ".csv":
        rows = _parse_csv(path, text)
    else:
        rows = _parse_txt(path, text)
    if not rows:
        raise PromptFileError(f"{path}: holds no prompt")
    for i, row in enumerate(rows):
        row.setdefault("id", f"{path.stem}-{i:05d}")
        row["id"] = str(row["id"])
        if "split" not in row or row["split"] in (None, ""):
            row["split"] = "eval" if i % 5 == 4 else "train"
        if row["split"] not in ("train", "eval"):
            raise PromptFileError(
                f"{path}: prompt {row['id']!r} has split {row['split']!r}; use 'train' or 'eval'"
            )
    out = rows if split == "all" else [r for r in rows if r["split"] == split]
    if not out:
        raise PromptFileError(f"{path}: no prompt in split {split!r} ({len(rows)} prompts in the file)")
    return out
