"""Prompt sets: the shipped tasks (``content``, ``support``, ``education``) and user files.

A shipped task is a JSONL file in ``aigc_rl/data/prompts/`` with ``{"id", "prompt", "split"}`` per line and a
fixed split (the last 60 lines are ``eval``). A user file may be

* JSONL: one object per line with a ``prompt`` field (``id``, ``split`` and any other column are kept and
  passed to reward models as dataset columns, e.g. ``references``);
* CSV: a header row with a ``prompt`` column (other columns kept);
* plain text: one prompt per non-empty line;
* a Hugging Face ``datasets`` dataset: a directory written by ``Dataset.save_to_disk`` /
  ``DatasetDict.save_to_disk`` (a ``DatasetDict`` needs a dataset split: ``DIR:SPLIT``), a Parquet file
  (``.parquet``) or an Arrow file (``.arrow``, the stream format ``datasets`` writes or the IPC file format);
* a Hugging Face Hub dataset id ``owner/name[:SPLIT]``, read with ``datasets.load_dataset`` only when the hub is
  reachable (``HF_HUB_OFFLINE`` set, or one ``huggingface_hub.dataset_info`` request failing, gives an error
  that says how to supply it locally).

The prompt column is ``prompt`` unless ``prompt_column`` names another (``--prompt-column``);
``reference_columns`` (``--reference-columns a,b``) gathers the strings (or lists of strings) of those columns
into the ``references`` column that reference rewards (``bleu``, ``chrf``, ``rouge-l``) read.

A user file without a ``split`` column gets a deterministic split: every 5th prompt (20%) is ``eval``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .errors import PromptFileError

__all__ = [
    "TASKS",
    "PromptFileError",
    "load_prompts",
    "task_names",
    "task_path",
    "is_blank",
    "jsonl_objects",
    "local_source_path",
    "source_name",
]

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


def _check_prompt(where: str, value: Any, column: str = "prompt") -> str:
    """``value`` if it is a usable prompt; ``where`` (``"FILE:LINE"`` or ``"SOURCE row N"``) starts the error."""
    if not isinstance(value, str):
        raise PromptFileError(f"{where}: {column!r} must be a string, got {type(value).__name__}")
    if is_blank(value):
        what = (
            "empty prompt"
            if not value.strip()
            else "prompt of invisible characters only (NUL, zero-width ...)"
        )
        raise PromptFileError(f"{where}: {what}")
    if len(value) > MAX_PROMPT_CHARS:
        raise PromptFileError(
            f"{where}: prompt of {len(value):,} characters, over the {MAX_PROMPT_CHARS:,}-character limit"
        )
    return value


def _column_hint(column: str) -> str:
    return "pass --prompt-column NAME" if column == "prompt" else "fix --prompt-column"


def jsonl_objects(path: Path | str, text: str, error: type[Exception]) -> Iterator[tuple[str, int, Any]]:
    """The JSON value of each non-blank line of a JSONL file's ``text``: ``(where, line, value)`` with
    ``where = "PATH:LINE"`` for messages.

    Raises:
        error: a line that is not valid JSON, named by path, line and column.
    """
    for i, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as e:
            raise error(f"{path}:{i}: invalid JSON ({e.msg} at column {e.colno})") from None
        yield f"{path}:{i}", i, obj


def _parse_jsonl(path: Path, text: str, column: str = "prompt") -> list[dict[str, Any]]:
    rows = []
    for _, i, obj in jsonl_objects(path, text, PromptFileError):
        if not isinstance(obj, dict):
            raise PromptFileError(
                f"{path}:{i}: expected a JSON object with a 'prompt' field, got {type(obj).__name__}"
            )
        if column not in obj:
            raise PromptFileError(
                f"{path}:{i}: no {column!r} field (fields: {', '.join(obj) or 'none'}); {_column_hint(column)}"
            )
        obj["prompt"] = _check_prompt(f"{path}:{i}", obj.pop(column), column)
        rows.append(obj)
    return rows


def _parse_csv(path: Path, text: str, column: str = "prompt") -> list[dict[str, Any]]:
    reader = csv.DictReader(io.StringIO(text))
    rows = []
    limit = csv.field_size_limit()
    csv.field_size_limit(MAX_PROMPT_CHARS + 1)  # the module default (131,072) is no bound we chose
    try:
        if reader.fieldnames is None or column not in reader.fieldnames:
            raise PromptFileError(
                f"{path}:1: the CSV header needs a {column!r} column (got {reader.fieldnames}); "
                f"{_column_hint(column)}"
            )
        for row in reader:
            line = reader.line_num
            if None in row:
                raise PromptFileError(f"{path}:{line}: more fields than the header has")
            row["prompt"] = _check_prompt(f"{path}:{line}", row.pop(column), column)
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
            rows.append({"prompt": _check_prompt(f"{path}:{i}", line.strip())})
    return rows


#: File suffixes read as a ``datasets`` table (Parquet, Arrow) rather than as text.
TABLE_SUFFIXES = (".parquet", ".arrow")
_TEXT_SUFFIXES = (".jsonl", ".json", ".ndjson", ".csv", ".txt")
#: ``owner/name`` with an optional ``:split`` (``train``, ``test[:100]`` ...): a Hub dataset id.
_HUB_ID = re.compile(r"^(?P<name>[A-Za-z0-9][\w.-]*/[\w.-]+)(?::(?P<split>[^:/\\][^/\\]*))?$")
_TRUE = ("1", "true", "yes", "on")


def _local_and_split(src: str) -> tuple[Path, str | None] | None:
    """``(path, dataset split)`` when ``src`` names an existing local path, with or without ``:SPLIT``."""
    path = Path(src).expanduser()
    if path.exists() or path.is_symlink():
        return path, None
    if ":" in src:
        left, split = src.rsplit(":", 1)
        base = Path(left).expanduser()
        if left and split and (base.exists() or base.is_symlink()):
            return base, split
    return None


def local_source_path(source: str | Path | None) -> Path | None:
    """The local file or directory a ``--prompts`` value reads (its ``:SPLIT`` suffix dropped), or ``None``
    for a shipped task, a Hub dataset id or a path that does not exist."""
    if source is None or str(source) in TASKS:
        return None
    found = _local_and_split(str(source))
    return found[0] if found else None


def source_name(source: str | Path) -> str:
    """A short name for a prompt source, usable in a directory name (``runs/<name>-grpo-seed0``).

    ``data/p.jsonl`` gives ``p``, ``DIR:test`` gives ``DIR-test``, ``owner/name:train`` gives ``name-train``.
    """
    src = str(source)
    found = _local_and_split(src)
    if found is not None:
        stem = found[0].stem if found[0].is_file() else found[0].name
        name = stem + (f"-{found[1]}" if found[1] else "")
    else:
        hub = _HUB_ID.match(src)
        name = (
            hub.group("name").split("/")[-1] + (f"-{hub.group('split')}" if hub.group("split") else "")
            if hub
            else Path(src).stem
        )
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "prompts"


def _hub_offline() -> bool:
    if any(os.environ.get(v, "").strip().lower() in _TRUE for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")):
        return True
    try:
        from huggingface_hub import constants

        return bool(constants.HF_HUB_OFFLINE)
    except ImportError:  # pragma: no cover - a dependency of datasets and transformers
        return False


def _hub_hint(name: str, split: str | None) -> str:
    return (
        'supply it locally: where the hub is reachable, run python -c "import datasets; '
        f"datasets.load_dataset('{name}', split='{split or 'train'}').save_to_disk('DIR')\" and pass "
        "--prompts DIR (a .parquet, .arrow, .jsonl or .csv file works too)"
    )


def _pick_split(where: str, dsd: Any, split: str | None) -> Any:
    """One split of a ``DatasetDict``: ``split``, or its only split when ``split`` is ``None``."""
    names = list(dsd)
    if split is None:
        if len(names) == 1:
            return dsd[names[0]]
        raise PromptFileError(
            f"{where} is a DatasetDict with splits {', '.join(names) or 'none'}; pick one: --prompts "
            f"{where}:{names[0] if names else 'SPLIT'}"
        )
    if split not in dsd:
        raise PromptFileError(
            f"{where} has no dataset split {split!r} (splits: {', '.join(names) or 'none'}); pass "
            f"--prompts {where}:SPLIT with one of them"
        )
    return dsd[split]


def _dataset_rows(where: str, ds: Any) -> tuple[list[str], list[dict[str, Any]]]:
    """Column names and rows of a ``datasets.Dataset`` (or a ``pyarrow.Table``), size-checked."""
    table = getattr(ds, "data", ds)  # a Dataset's memory-mapped table, or the table itself
    nbytes = int(getattr(table, "nbytes", 0))
    if nbytes > MAX_FILE_BYTES:
        raise PromptFileError(
            f"{where} holds {nbytes / 2**20:.0f} MiB of data, over the {MAX_FILE_BYTES // 2**20} MiB limit for a "
            "prompt set; select fewer rows or columns (Dataset.select / select_columns) and save that"
        )
    columns = list(ds.column_names)
    rows = ds.to_list() if hasattr(ds, "to_list") else ds.to_pylist()
    return columns, rows


def _load_dataset_dir(path: Path, split: str | None) -> tuple[list[str], list[dict[str, Any]]]:
    """A directory written by ``save_to_disk``: a ``Dataset`` or (with a split) a ``DatasetDict``."""
    is_dict = (path / "dataset_dict.json").is_file()
    if not is_dict and not (path / "state.json").is_file():
        raise PromptFileError(
            f"prompt source {path} is a directory but not a saved `datasets` dataset (no state.json or "
            "dataset_dict.json); pass a .jsonl, .csv, .txt, .parquet or .arrow file, or a directory written by "
            "Dataset.save_to_disk"
        )
    if not is_dict and split is not None:
        raise PromptFileError(
            f"{path} holds one Dataset, not a DatasetDict: it has no split {split!r}; pass --prompts {path}"
        )
    from datasets import load_from_disk

    try:
        ds = load_from_disk(str(path))
    except Exception as e:  # noqa: BLE001 - a damaged directory; any reason is the user's data
        raise PromptFileError(
            f"{path}: cannot load the saved dataset ({type(e).__name__}: {' '.join(str(e).split())[:200]}); "
            "save it again with save_to_disk"
        ) from None
    if is_dict:
        ds = _pick_split(str(path), ds, split)
    return _dataset_rows(str(path), ds)


def _load_table_file(path: Path, split: str | None) -> tuple[list[str], list[dict[str, Any]]]:
    """A Parquet or Arrow file (read with pyarrow, so nothing is written to the ``datasets`` cache)."""
    if split is not None:
        raise PromptFileError(
            f"{path} is one table, it has no split {split!r}; a split applies to a DatasetDict directory or a "
            f"hub id: pass --prompts {path}"
        )
    st = path.stat()
    if not stat.S_ISREG(st.st_mode):
        raise PromptFileError(f"prompt file {path} is not a regular file; save the prompts to a file")
    if st.st_size > MAX_FILE_BYTES:
        raise PromptFileError(
            f"prompt file {path} is {st.st_size / 2**20:.0f} MiB, over the {MAX_FILE_BYTES // 2**20} MiB limit "
            "for a prompt set; pass a smaller file"
        )
    import pyarrow as pa

    try:
        if path.suffix.lower() == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
        else:
            try:  # the stream format that datasets writes (Dataset.save_to_disk, the cache)
                with pa.memory_map(str(path)) as src:
                    table = pa.ipc.open_stream(src).read_all()
            except pa.ArrowInvalid:  # the IPC file format (pyarrow.feather, pa.ipc.new_file)
                with pa.memory_map(str(path)) as src:
                    table = pa.ipc.open_file(src).read_all()
    except (pa.ArrowException, OSError) as e:
        kind = "Parquet" if path.suffix.lower() == ".parquet" else "Arrow"
        raise PromptFileError(
            f"{path}: not a readable {kind} file ({' '.join(str(e).split())[:200]}); write it with "
            f"Dataset.to_parquet or save_to_disk"
        ) from None
    return _dataset_rows(str(path), table)


def _probe_hub(src: str, name: str, split: str | None) -> None:
    """Ask the Hub for the dataset's info once, without retries, before ``load_dataset`` (which retries an
    unreachable hub for about 20 s).

    Raises:
        PromptFileError: the hub is unreachable (saying how to supply the dataset locally), or has no such
            dataset (or it is private or gated).
    """
    import huggingface_hub
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        huggingface_hub.dataset_info(name, timeout=10)
    except (RepositoryNotFoundError, GatedRepoError) as e:
        raise PromptFileError(
            f"--prompts {src}: no such local file or directory, and the Hugging Face Hub has no dataset {name!r} "
            f"(or it is private or gated: log in with `hf auth login`) ({type(e).__name__}); check the id"
        ) from None
    except Exception as e:  # noqa: BLE001 - DNS, connection, proxy, timeout: the hub is not reachable
        raise PromptFileError(
            f"--prompts {src}: no such local file or directory, and the Hugging Face Hub is unreachable "
            f"({type(e).__name__}: {' '.join(str(e).split())[:120]}); {_hub_hint(name, split)}"
        ) from None


def _load_hub(src: str, name: str, split: str | None) -> tuple[list[str], list[dict[str, Any]]]:
    """A Hub dataset through ``datasets.load_dataset``, only when the hub is reachable."""
    if _hub_offline():
        raise PromptFileError(
            f"--prompts {src}: no such local file or directory, and as a Hugging Face Hub dataset id it needs the "
            f"hub, which is offline (HF_HUB_OFFLINE); {_hub_hint(name, split)}"
        )
    _probe_hub(src, name, split)
    from datasets import load_dataset

    try:
        ds = load_dataset(name, split=split)
    except Exception as e:  # noqa: BLE001 - unreachable hub, unknown id or split: the user's input
        raise PromptFileError(
            f"--prompts {src}: cannot load the Hub dataset {name!r} ({type(e).__name__}: "
            f"{' '.join(str(e).split())[:200]}); check the id and split, or {_hub_hint(name, split)}"
        ) from None
    if split is None and hasattr(ds, "keys"):
        ds = _pick_split(name, ds, None)
    return _dataset_rows(src, ds)


def _table_prompts(
    where: str, columns: list[str], rows: list[dict[str, Any]], column: str
) -> list[dict[str, Any]]:
    """Rows of a dataset/table with their ``column`` checked and renamed to ``prompt``."""
    if column not in columns:
        raise PromptFileError(
            f"{where}: no column {column!r} (columns: {', '.join(columns) or 'none'}); {_column_hint(column)}"
        )
    for i, row in enumerate(rows, start=1):
        row["prompt"] = _check_prompt(f"{where} row {i}", row.pop(column), column)
    return rows


def _add_references(where: str, rows: list[dict[str, Any]], columns: Sequence[str]) -> None:
    """Gather the strings of ``columns`` into each row's ``references`` list (``None`` values skipped).

    Raises:
        PromptFileError: a column no row has (the message lists the columns), or a value that is neither a
            string, a list of strings nor ``None``.
    """
    available = sorted({k for r in rows for k in r if k != "prompt"} | {"prompt"})
    missing = [c for c in columns if not any(c in r for r in rows)]
    if missing:
        raise PromptFileError(
            f"{where}: no reference column {', '.join(map(repr, missing))} (columns: {', '.join(available)}); "
            "fix --reference-columns"
        )
    for i, row in enumerate(rows, start=1):
        refs: list[str] = []
        for c in columns:
            v = row.get(c)
            if v is None:
                continue
            items = [v] if isinstance(v, str) else v
            if not isinstance(items, (list, tuple)) or not all(isinstance(x, str) for x in items):
                raise PromptFileError(
                    f"{where} row {i}: reference column {c!r} must hold a string or a list of strings, got "
                    f"{type(v).__name__}"
                )
            refs.extend(items)
        row["references"] = refs


def load_prompts(
    source: str | Path = "content",
    split: str = "train",
    *,
    prompt_column: str = "prompt",
    reference_columns: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Load a prompt set.

    Args:
        source: A shipped task name (``content``, ``support``, ``education``); a path to a ``.jsonl``, ``.csv``
            or ``.txt`` file, a ``.parquet`` or ``.arrow`` file, or a ``save_to_disk`` directory (a
            ``DatasetDict`` directory as ``DIR:SPLIT`` unless it has one split); or a Hugging Face Hub dataset
            id ``owner/name[:SPLIT]`` (read only when the hub is reachable).
        split: ``"train"``, ``"eval"`` or ``"all"`` (aigc-rl's own split: a ``split`` column, else every 5th
            prompt is ``eval``).
        prompt_column: The column (JSONL field) holding the prompt text; it becomes ``prompt`` in the rows.
        reference_columns: Columns whose strings (or lists of strings) are gathered, in this order, into each
            row's ``references`` list (``None`` values skipped).

    Returns:
        A list of row dicts, each with at least ``"id"`` (str), ``"prompt"`` (str) and ``"split"``.

    Raises:
        PromptFileError: unknown task, missing/empty/non-UTF-8/malformed file (file and line or row given), a
            missing prompt or reference column (the columns available listed), a non-string prompt, a
            DatasetDict without a split, a Hub id while the hub is offline (saying how to supply it locally),
            unknown split, or no prompt in the requested split.
    """
    if split not in SPLITS:
        raise PromptFileError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    src = str(source)
    refs = [c for c in (reference_columns or ()) if c]
    if src in TASKS:
        path, dsplit = task_path(src), None
    else:
        found = _local_and_split(src)
        hub = _HUB_ID.match(src) if found is None else None
        if found is None and hub is not None and not src.lower().endswith(_TEXT_SUFFIXES + TABLE_SUFFIXES):
            columns, rows = _load_hub(src, hub.group("name"), hub.group("split"))
            return _finish(
                src,
                Path(hub.group("name")).name,
                _table_prompts(src, columns, rows, prompt_column),
                refs,
                split,
            )
        path, dsplit = found if found is not None else (Path(src).expanduser(), None)
        if found is None and "/" not in src and "." not in src:
            task_path(src)  # raises with the list of tasks
    suffix = path.suffix.lower()
    if path.is_dir():
        columns, rows = _load_dataset_dir(path, dsplit)
        rows = _table_prompts(str(path), columns, rows, prompt_column)
    elif suffix in TABLE_SUFFIXES and path.exists():
        columns, rows = _load_table_file(path, dsplit)
        rows = _table_prompts(str(path), columns, rows, prompt_column)
    else:
        if dsplit is not None:
            raise PromptFileError(
                f"{path} is a {suffix or 'text'} file, it has no split {dsplit!r}; a split applies to a "
                f"DatasetDict directory or a hub id: pass --prompts {path}"
            )
        text = _read_text(path)
        if suffix in (".jsonl", ".json", ".ndjson"):
            rows = _parse_jsonl(path, text, prompt_column)
        elif suffix == ".csv":
            rows = _parse_csv(path, text, prompt_column)
        else:
            if prompt_column != "prompt" or refs:
                raise PromptFileError(
                    f"{path}: a text file holds one prompt per line and has no columns; drop --prompt-column "
                    "and --reference-columns, or use a .jsonl, .csv, .parquet or .arrow file"
                )
            rows = _parse_txt(path, text)
    return _finish(str(path), path.stem, rows, refs, split)


def _finish(
    where: str, stem: str, rows: list[dict[str, Any]], refs: Sequence[str], split: str
) -> list[dict[str, Any]]:
    """Ids, references and aigc-rl's train/eval split of the parsed rows; the rows of ``split``."""
    if not rows:
        raise PromptFileError(f"{where}: holds no prompt")
    if refs:
        _add_references(where, rows, refs)
    for i, row in enumerate(rows):
        row.setdefault("id", f"{stem}-{i:05d}")
        row["id"] = str(row["id"])
        if "split" not in row or row["split"] in (None, ""):
            row["split"] = "eval" if i % 5 == 4 else "train"
        if row["split"] not in ("train", "eval"):
            raise PromptFileError(
                f"{where}: prompt {row['id']!r} has split {row['split']!r}; use 'train' or 'eval'"
            )
    out = rows if split == "all" else [r for r in rows if r["split"] == split]
    if not out:
        raise PromptFileError(f"{where}: no prompt in split {split!r} ({len(rows)} prompts in the file)")
    return out
