"""The run directory: one owner for what a run writes, for text and image runs alike.

Contract (see ``docs/architecture.md``):

* ``run.json`` — the run record (:func:`run_record`): kind (``text`` | ``image``), model, task, reward spec and
  its components (kind, direction, range), agent, seed, the full resolved config, library versions, status.
  Its presence is what makes a directory an aigc-rl run: ``--overwrite`` removes nothing from a directory
  without it, and removes only the entries aigc-rl writes (:data:`RUN_ENTRIES`) from one with it.
* ``.lock`` — held (``fcntl.flock``) by every writer for its whole life: train, eval, overwrite. A second
  writer fails at once with :class:`~aigc_rl.errors.RunLockedError` naming the holder's process id.
* ``metrics.jsonl`` — :class:`MetricsWriter`: one JSON object per logged step, flushed and fsynced; strict
  JSON (a non-finite number is written as ``null``); on resume truncated back to the checkpoint's step.
* ``checkpoints/checkpoint-N/`` — complete only once :func:`mark_complete` wrote its marker; resume takes
  :func:`latest_complete_checkpoint`.
* Every other file is written atomically (:func:`atomic_write_text`): a temporary name, then ``os.replace``.
"""

from __future__ import annotations

import fnmatch
import json
import logging
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from .errors import RunDirError, RunLockedError

logger = logging.getLogger(__name__)

__all__ = [
    "RECORD",
    "RUN_ENTRIES",
    "RunDir",
    "MetricsWriter",
    "atomic_write_text",
    "atomic_write_json",
    "json_safe",
    "mark_complete",
    "is_complete",
    "complete_checkpoints",
    "latest_complete_checkpoint",
    "checkpoint_step",
    "library_versions",
    "run_record",
    "graceful_signals",
    "TrainingInterrupted",
]

RECORD = "run.json"
LOCK = ".lock"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
COMPLETE_MARKER = ".aigc-rl-complete"

#: Top-level entries (glob patterns) that aigc-rl writes into a run directory. ``--overwrite`` removes these
#: and nothing else; anything not listed stays where it is.
RUN_ENTRIES: tuple[str, ...] = (
    RECORD,
    LOCK,
    METRICS,
    CHECKPOINTS,
    "config.yaml",
    "train_summary.json",
    "adapter",
    "model",
    "init",
    "policy.safetensors",
    "policy.json",
    "optim.safetensors",
    "replay.safetensors",
    "latent.json",
    "sb3_model.zip",
    "eval.json",
    "samples.jsonl",
    "samples_*.png",
    "report.html",
    "report.md",
    "report.json",
    "training-*.png",
    "pareto-*.png",
    "*.tmp",
    "tb",  # --report-to tensorboard
    "wandb",  # --report-to wandb
)

# Files that marked a run before run.json existed (aigc-rl 0.1.0): config.yaml plus one of these.
_LEGACY_MARKERS = ("metrics.jsonl", "checkpoints", "adapter", "policy.json")


def json_safe(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by ``None``, so that ``json.dumps(allow_nan=False)`` works."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory and ``os.replace``.

    A reader sees the old content or the new one, never a torn file; a kill leaves at most a ``*.tmp`` file.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """:func:`atomic_write_text` of strict JSON (non-finite numbers become ``null``), indented."""
    atomic_write_text(path, json.dumps(json_safe(obj), indent=2, allow_nan=False) + "\n")


def library_versions() -> dict[str, str | None]:
    """Versions of the libraries a run depends on (``None`` where one is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {"python": sys.version.split()[0]}
    for dist in ("aigc-rl", "torch", "transformers", "trl", "peft", "stable-baselines3", "gymnasium"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


# ---------------------------------------------------------------------------------------------------------
# checkpoints
# ---------------------------------------------------------------------------------------------------------
def mark_complete(checkpoint_dir: str | Path) -> None:
    """Mark a checkpoint directory as completely written (call after every file in it is saved)."""
    atomic_write_text(Path(checkpoint_dir) / COMPLETE_MARKER, "complete\n")


def is_complete(checkpoint_dir: str | Path) -> bool:
    """True when :func:`mark_complete` ran for ``checkpoint_dir``."""
    return (Path(checkpoint_dir) / COMPLETE_MARKER).is_file()


def checkpoint_step(p: Path) -> int:
    """``N`` of a ``checkpoint-N`` directory (``-1`` when the name is not of that form, e.g. ``*.tmp``)."""
    try:
        return int(p.name.rsplit("-", 1)[-1])
    except ValueError:
        return -1


def complete_checkpoints(checkpoints_dir: str | Path) -> list[Path]:
    """``checkpoint-N`` directories that are complete, oldest first (by ``N``)."""
    d = Path(checkpoints_dir)
    if not d.is_dir():
        return []
    found = [p for p in d.glob("checkpoint-*") if p.is_dir() and checkpoint_step(p) >= 0 and is_complete(p)]
    return sorted(found, key=checkpoint_step)


def latest_complete_checkpoint(checkpoints_dir: str | Path) -> Path | None:
    """The newest complete checkpoint, or ``None``; incomplete ones (a kill mid-save) are skipped."""
    found = complete_checkpoints(checkpoints_dir)
    return found[-1] if found else None


# ---------------------------------------------------------------------------------------------------------
# metrics
# ---------------------------------------------------------------------------------------------------------
class MetricsWriter:
    """Appends one strict-JSON line per logged step to ``metrics.jsonl``, flushed and fsynced.

    Args:
        path: The ``metrics.jsonl`` file (created on first write).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` (must hold an integer ``step``); non-finite floats are written as ``null``."""
        line = json.dumps(json_safe(dict(record)), allow_nan=False)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def truncate_after(self, step: int) -> int:
        """Drop every line whose ``step`` is greater than ``step`` (and any torn last line); atomic.

        Called on resume from the checkpoint of ``step``: the steps after it are trained, and logged, again.

        Returns:
            The number of lines dropped.
        """
        if not self.path.is_file():
            return 0
        kept: list[str] = []
        dropped = 0
        with self.path.open("r", encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    s = int(rec["step"])
                except (ValueError, KeyError, TypeError):
                    dropped += 1
                    continue
                if s <= step and line.endswith("\n"):
                    kept.append(line)
                else:
                    dropped += 1
        if dropped:
            atomic_write_text(self.path, "".join(kept))
        return dropped


# ---------------------------------------------------------------------------------------------------------
# the run directory
# ---------------------------------------------------------------------------------------------------------
# Locks this process holds: resolved run path -> [open lock file, number of RunDir holders]. A second RunDir of
# the same path in the same process shares the lock (flock would refuse a second descriptor).
_HELD_LOCKS: dict[str, list[Any]] = {}


class RunDir:
    """A run directory and its rules.

    The lock is re-entrant within a process: a second :class:`RunDir` of the same directory in the process
    that holds the lock shares it (the lock is released when the last holder releases it).

    Args:
        path: The directory (need not exist yet).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_fh: IO[str] | None = None

    # -- paths ------------------------------------------------------------------------------------------
    @property
    def record_path(self) -> Path:
        return self.path / RECORD

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def checkpoints_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def metrics(self) -> MetricsWriter:
        return MetricsWriter(self.metrics_path)

    # -- state ------------------------------------------------------------------------------------------
    def holds_run(self) -> bool:
        """True when the directory holds an aigc-rl run (its ``run.json``, or a 0.1.0 run's files)."""
        if self.record_path.is_file():
            return True
        return (self.path / "config.yaml").is_file() and any(
            (self.path / m).exists() for m in _LEGACY_MARKERS
        )

    def read_record(self) -> dict[str, Any]:
        """The run record.

        Raises:
            RunDirError: no ``run.json``, or it is not a JSON object.
        """
        if not self.record_path.is_file():
            raise RunDirError(
                f"{self.path} holds no run record ({RECORD}); it is not an aigc-rl run directory"
            )
        try:
            rec = json.loads(self.record_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise RunDirError(f"{self.record_path}: unreadable run record ({e})") from None
        if not isinstance(rec, dict):
            raise RunDirError(f"{self.record_path}: the run record must be a JSON object")
        return rec

    def write_record(self, record: Mapping[str, Any]) -> None:
        """Write ``run.json`` atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        atomic_write_json(self.record_path, record)

    def update_record(self, **fields: Any) -> None:
        """Set ``fields`` in ``run.json`` (read, update, atomic write)."""
        rec = self.read_record()
        rec.update(fields)
        self.write_record(rec)

    # -- lock -------------------------------------------------------------------------------------------
    def acquire(self) -> None:
        """Take the run's lock (creating the directory); held until :meth:`release` or process exit.

        Raises:
            RunLockedError: another process holds it (the message names its process id).
        """
        import fcntl

        if self._lock_fh is not None:
            return
        self.path.mkdir(parents=True, exist_ok=True)
        key = str(self.path.resolve())
        if key in _HELD_LOCKS:  # this process holds it already (e.g. eval inside the CLI's lock): share it
            _HELD_LOCKS[key][1] += 1
            self._lock_fh = _HELD_LOCKS[key][0]
            return
        fh = (self.path / LOCK).open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise RunLockedError(
                f"{self.path} is in use by another aigc-rl process ({holder}); wait for it to finish or stop it, "
                "or choose another --output-dir"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}\n")
        fh.flush()
        self._lock_fh = fh
        _HELD_LOCKS[key] = [fh, 1]

    def release(self) -> None:
        """Release the lock taken by :meth:`acquire` (the lock file stays)."""
        if self._lock_fh is not None:
            for key, held in list(_HELD_LOCKS.items()):
                if held[0] is self._lock_fh:
                    held[1] -= 1
                    if held[1] <= 0:
                        del _HELD_LOCKS[key]
                        self._lock_fh.close()  # closing the descriptor releases the flock
                    break
            else:
                self._lock_fh.close()
            self._lock_fh = None

    @contextmanager
    def locked(self) -> Iterator[RunDir]:
        """``with run_dir.locked(): ...`` — :meth:`acquire` on entry, :meth:`release` on exit."""
        held = self._lock_fh is not None
        self.acquire()
        try:
            yield self
        finally:
            if not held:
                self.release()

    # -- start rules --------------------------------------------------------------------------------------
    def prepare(self, *, resume: bool = False, overwrite: bool = False) -> None:
        """Check the directory for a new, resumed or overwritten run, take the lock, and clear it if asked.

        Rules: a directory holding a run needs ``resume`` or ``overwrite``; ``resume`` needs a run;
        ``overwrite`` of a directory that is not empty needs a run record, and removes only
        :data:`RUN_ENTRIES` (other files are kept). A new run may start in a directory of other files (they
        are left alone).

        Raises:
            RunDirError: the rules above, naming the flag to use.
            RunLockedError: another process is writing this run.
        """
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"{self.path} is a file, not a directory; choose another --output-dir")
        holds = self.holds_run()
        if holds and not (resume or overwrite):
            raise RunDirError(
                f"{self.path} already holds a run; pass --resume to continue it, --overwrite to replace it, "
                "or choose another --output-dir"
            )
        if resume and not holds:
            raise RunDirError(f"--resume: {self.path} holds no run to resume")
        if overwrite and not holds and self.path.is_dir() and any(self.path.iterdir()):
            raise RunDirError(
                f"--overwrite: {self.path} holds files but no aigc-rl run ({RECORD}); nothing was deleted. "
                "Choose another --output-dir"
            )
        if not holds and not resume and not overwrite and self.path.is_dir():
            # A new run would write over files of these names that are not its own: refuse, change nothing.
            clash = sorted(
                e.name
                for e in self.path.iterdir()
                if e.name != LOCK and any(fnmatch.fnmatch(e.name, pat) for pat in RUN_ENTRIES)
            )
            if clash:
                raise RunDirError(
                    f"{self.path} holds {', '.join(clash[:5])} but no aigc-rl run record ({RECORD}); a new run "
                    "would write over them, so nothing was changed. Choose another --output-dir (--resume and "
                    "--overwrite need an aigc-rl run)"
                )
        self.acquire()
        if overwrite and holds:
            self.clear()

    def clear(self) -> list[Path]:
        """Remove the entries aigc-rl writes (:data:`RUN_ENTRIES`, except the lock); keep everything else.

        Must be called with the lock held.

        Returns:
            The entries that were kept (not written by aigc-rl).
        """
        if self._lock_fh is None:
            raise RuntimeError("RunDir.clear() needs the lock: call acquire() first")
        kept: list[Path] = []
        for entry in sorted(self.path.iterdir()):
            if entry.name == LOCK:
                continue
            if any(fnmatch.fnmatch(entry.name, pat) for pat in RUN_ENTRIES):
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            else:
                kept.append(entry)
        return kept


def run_record(
    *,
    kind: str,
    config: Mapping[str, Any],
    reward: Any = None,
    status: str = "running",
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The run record written as ``run.json``.

    Args:
        kind: ``"text"`` or ``"image"``.
        config: The resolved configuration (``TrainConfig.to_dict()``).
        reward: The run's reward object; its components' metadata (kind, direction, range) are recorded
            when it has ``info()``.
        status: ``"running"``, ``"finished"`` or ``"interrupted"``.
        extra: Other fields to record.

    Returns:
        A JSON-serialisable dict.
    """
    import time

    components: list[dict[str, Any]] = []
    for comp, weight in getattr(reward, "components", None) or (
        [(reward, 1.0)] if reward is not None else []
    ):
        info = comp.info() if hasattr(comp, "info") else {"name": getattr(comp, "__name__", repr(comp))}
        components.append({**json_safe(info), "weight": weight})
    rec: dict[str, Any] = {
        "format": 1,
        "kind": kind,
        "model": config.get("model"),
        "task": config.get("task"),
        "reward": config.get("reward"),
        "reward_components": components,
        "agent": config.get("agent"),
        "seed": config.get("seed"),
        "status": status,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "versions": library_versions(),
        "config": json_safe(dict(config)),
    }
    rec.update(extra or {})
    return rec


class TrainingInterrupted(Exception):
    """Training stopped on a signal after saving a checkpoint; the run can be resumed.

    Raised by the image trainer (and, with the same signature, by the text trainer) once the run record says
    ``"status": "interrupted"``; the command line prints the message and exits with :attr:`exit_status`.

    Attributes:
        run_dir: The run directory.
        step: The step of the newest complete checkpoint (where ``--resume`` continues; 0 = from the start).
        signum: The signal that stopped it (``signal.SIGINT`` or ``signal.SIGTERM``).
    """

    def __init__(self, run_dir: str | Path, step: int, signum: int) -> None:
        self.run_dir, self.step, self.signum = Path(run_dir), int(step), int(signum)
        super().__init__(
            f"interrupted at step {self.step}; resume with: aigc-rl train --output-dir {self.run_dir} --resume"
        )

    @property
    def exit_status(self) -> int:
        """``128 + signal number``: 130 for SIGINT, 143 for SIGTERM (the shell convention)."""
        return 128 + self.signum


@contextmanager
def graceful_signals(flag: Any, unit: str = "step") -> Iterator[None]:
    """Handle SIGINT and SIGTERM alike while training: the first sets ``flag.requested`` to the signal number
    (the trainer finishes the current ``unit``, saves a checkpoint and stops), a second raises
    ``KeyboardInterrupt`` at once. Previous handlers are restored on exit; outside the main thread (where
    signals cannot be handled) nothing is installed.

    Args:
        flag: Any object with a ``requested: int | None`` attribute, read by the training loop.
        unit: What is finished before stopping, for the message (``"step"``, ``"update"``).
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        if flag.requested is None:
            flag.requested = signum
            logger.warning(
                "aigc-rl train: %s: finishing this %s and saving a checkpoint; send it again to abort now",
                signal.Signals(signum).name,
                unit,
            )
        else:
            raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
