"""Read a run directory into a :class:`RunData`, recording what is missing or unreadable instead of failing.

Run directory contract (written by ``aigc-rl train`` / ``aigc-rl eval``):

=================== =====================================================================================
``run.json``        The run record (:func:`aigc_rl.run.run_record`): ``kind`` (``text`` | ``image``) is read
                    from here; runs of aigc-rl 0.1.0 have none, and their kind comes from ``config.yaml``.
``config.yaml``     The resolved config: ``kind`` (``text`` | ``image``), ``model``, ``task``, ``reward``
                    (spec string, e.g. ``"quality+creativity"``), ``agent``, ``max_steps``, ``seed``, ``env``.
``metrics.jsonl``   One JSON object per logging step: ``step``, ``reward``, ``reward_std``,
                    ``rewards/<component>/mean`` and ``/std``, ``kl``, ``completions/mean_length``, ``loss``,
                    ``learning_rate``, ``entropy`` (TRL); ``step``, ``reward``, ``rewards/<component>/mean``
                    (stable-baselines3). Any key may be missing.
``eval.json``       ``{"n_prompts": int, "policies": {"base": {METRIC: {"mean": float, "ci95": [lo, hi]}},
                    "tuned": {...}}}`` plus optional ``kind``, ``reward``, ``components``, ``kl_budget``.
                    Metric values are raw (the natural scale of the metric, no sign flip). Text runs add
                    ``"judges"`` (same shape as ``policies``: the held-out judges, never trained on) and
                    ``"judges_skipped"`` (``{judge: reason}``).
``samples.jsonl``   Text runs: ``{"prompt", "policy": "base"|"tuned", "completion", "reward", <component>...}``.
``samples_*.png``   Image runs: ``samples_base.png`` and ``samples_tuned.png`` (10 x 10 sample grids).
=================== =====================================================================================
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

__all__ = ["RunData", "load_run", "POLICY_ORDER", "IMAGE_POLICIES"]

#: Policies in display order; any other policy name found in eval.json follows these.
POLICY_ORDER = ("base", "init", "tuned")  # the lineage order: base -> init (--init) -> tuned
#: Sample-grid file per policy for image runs.
IMAGE_POLICIES = {"base": "samples_base.png", "tuned": "samples_tuned.png"}
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass
class RunData:
    """Everything the report needs from one run directory.

    Attributes:
        path: The run directory.
        name: Display name (the directory name, made unique across a report by the caller).
        kind: ``"text"``, ``"image"`` or ``None`` when no record says (``run.json``, ``config.yaml``, ``eval.json``).
        config: Parsed ``config.yaml`` (empty when missing).
        metrics: Rows of ``metrics.jsonl`` in file order (JSON objects; rows that are not objects are dropped).
        eval: Parsed ``eval.json`` (``None`` when missing or unreadable).
        samples: Rows of ``samples.jsonl`` (text runs).
        images: Policy -> PNG bytes of the sample grid (image runs).
        missing: Expected files that are absent, e.g. ``["eval.json"]``.
        problems: Plain-language notes about files that exist but could not be (fully) read.
    """

    path: Path
    name: str
    kind: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    eval: dict[str, Any] | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def policies(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``eval.json``'s ``policies`` as policy -> metric -> ``{"mean": float|None, "ci95": [lo, hi]|None}``,
        base first, then init (a run started with ``--init``), then tuned, then any other policy; empty without an eval."""
        pol = (self.eval or {}).get("policies") or {}
        order = [p for p in POLICY_ORDER if p in pol] + [p for p in pol if p not in POLICY_ORDER]
        return {p: pol[p] for p in order}

    @property
    def judges(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``eval.json``'s ``judges`` (held-out judges, never trained on) as policy -> judge -> ``{"mean",
        "ci95"}``, in the order of :attr:`policies`; empty when the evaluation computed none."""
        jud = (self.eval or {}).get("judges") or {}
        order = [p for p in POLICY_ORDER if p in jud] + [p for p in jud if p not in POLICY_ORDER]
        return {p: jud[p] for p in order if jud[p]}

    @property
    def judges_skipped(self) -> dict[str, str]:
        """``eval.json``'s ``judges_skipped``: judge -> why it did not run (e.g. an extra not installed)."""
        sk = (self.eval or {}).get("judges_skipped")
        return {str(k): str(v) for k, v in sk.items()} if isinstance(sk, dict) else {}

    @property
    def model(self) -> str | None:
        m = self.config.get("model", (self.eval or {}).get("model"))
        if isinstance(m, dict):  # {"name": ..., ...} style configs
            m = m.get("name") or m.get("id") or m.get("path")
        return None if m is None else str(m)

    @property
    def reward_spec(self) -> str | None:
        r = self.config.get("reward", (self.eval or {}).get("reward"))
        if isinstance(r, dict):
            r = r.get("spec") or "+".join(f"{k}:{v}" for k, v in r.items())
        return None if r is None else str(r)


def _finite(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _clean_metric(v: Any) -> dict[str, Any] | None:
    """Normalise one eval entry to ``{"mean": float|None, "ci95": [lo, hi]|None}``; a bare number is a mean."""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return {"mean": _finite(v), "ci95": None}
    if not isinstance(v, dict):
        return None
    ci = v.get("ci95")
    ci_clean = None
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        lo, hi = _finite(ci[0]), _finite(ci[1])
        if lo is not None and hi is not None:
            ci_clean = [min(lo, hi), max(lo, hi)]
    return {"mean": _finite(v.get("mean")), "ci95": ci_clean}


#: Most ``metrics.jsonl`` rows kept for curves and checks; longer logs are thinned evenly (first and last kept).
MAX_METRIC_ROWS = 2000
#: Longest line read from a JSONL file (characters); a longer one is skipped as malformed.
MAX_LINE_CHARS = 1 << 20


def _lines(fh: Any) -> Iterator[tuple[int, str | None]]:
    """``(line number, text)`` per line, reading at most :data:`MAX_LINE_CHARS` of each; ``None`` = too long."""
    i = 0
    while True:
        line = fh.readline(MAX_LINE_CHARS)
        if not line:
            return
        i += 1
        if len(line) == MAX_LINE_CHARS and not line.endswith("\n"):
            while (rest := fh.readline(MAX_LINE_CHARS)) and not rest.endswith("\n"):
                pass  # skip the rest of an overlong line without holding it
            yield i, None
        else:
            yield i, line


def _read_jsonl(path: Path, problems: list[str], max_rows: int | None = None) -> list[dict[str, Any]]:
    """JSON-object lines of ``path``, streamed: memory stays bounded by ``max_rows``, not by the file size.

    Args:
        path: A JSONL file.
        problems: Receives one line naming the lines that were skipped (not JSON objects, or overlong).
        max_rows: Keep at most about this many rows, evenly spaced (every ``k``-th, ``k`` doubling as the
            file goes on) plus the last row; ``None`` keeps all.
    """
    rows: list[dict[str, Any]] = []
    bad: list[int] = []
    n_bad = 0
    stride, seen = 1, 0
    last: dict[str, Any] | None = None
    with path.open(encoding="utf-8", errors="replace") as fh:
        for i, line in _lines(fh):
            if line is not None and not line.strip():
                continue
            obj: Any = None
            if line is not None:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    obj = None
            if not isinstance(obj, dict):
                n_bad += 1
                if len(bad) < 5:
                    bad.append(i)
                continue
            if max_rows is None:
                rows.append(obj)
                continue
            if seen % stride == 0:
                rows.append(obj)
                if len(rows) >= 2 * max_rows:  # thin: keep every other kept row, sample half as often
                    rows = rows[::2]
                    stride *= 2
                last = None
            else:
                last = obj
            seen += 1
    if last is not None:
        rows.append(last)
    if n_bad:
        shown = ", ".join(map(str, bad)) + (" ..." if n_bad > len(bad) else "")
        problems.append(f"{path.name}: {n_bad} line(s) are not JSON objects and were skipped (line {shown})")
    if max_rows is not None and stride > 1:
        problems.append(f"{path.name}: {seen} rows; one in {stride} is shown (and the last)")
    return rows


def load_run(path: str | Path, name: str | None = None) -> RunData:
    """Read a run directory; never raises for missing or broken files inside it.

    Args:
        path: The run directory.
        name: Display name; default the directory name.

    Returns:
        A :class:`RunData`; ``missing`` lists absent files, ``problems`` unreadable ones.

    Raises:
        FileNotFoundError: ``path`` does not exist or is not a directory (a mistyped run path).
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"run directory {str(path)!r} does not exist or is not a directory; pass the folder that "
            "`aigc-rl train` wrote (it holds config.yaml, metrics.jsonl, eval.json)"
        )
    run = RunData(path=path, name=name or path.resolve().name)

    cfg_path = path / "config.yaml"
    if cfg_path.is_file():
        try:
            cfg = yaml.safe_load(cfg_path.read_text(encoding="utf-8"))
            if isinstance(cfg, dict):
                run.config = cfg
            elif cfg is not None:
                run.problems.append(f"config.yaml holds a {type(cfg).__name__}, not a mapping; ignored")
        except (yaml.YAMLError, UnicodeDecodeError) as e:
            run.problems.append(
                f"config.yaml could not be parsed ({type(e).__name__}: {str(e).splitlines()[0]})"
            )
    else:
        run.missing.append("config.yaml")

    met_path = path / "metrics.jsonl"
    if met_path.is_file():
        run.metrics = _read_jsonl(met_path, run.problems, max_rows=MAX_METRIC_ROWS)
        if not run.metrics:
            run.problems.append("metrics.jsonl holds no rows: no training curves")
    else:
        run.missing.append("metrics.jsonl")

    ev_path = path / "eval.json"
    if ev_path.is_file():
        try:
            ev = json.loads(ev_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            run.problems.append(
                f"eval.json could not be parsed ({type(e).__name__}: {e}); no evaluation tables"
            )
            ev = None
        if ev is not None and not (isinstance(ev, dict) and isinstance(ev.get("policies"), dict)):
            run.problems.append('eval.json has no "policies" mapping; no evaluation tables')
            ev = None
        if ev is not None:
            policies: dict[str, dict[str, Any]] = {}
            for pol, metrics in ev["policies"].items():
                if not isinstance(metrics, dict):
                    run.problems.append(f"eval.json: policy {pol!r} is not a mapping of metrics; skipped")
                    continue
                clean = {str(k): c for k, v in metrics.items() if (c := _clean_metric(v)) is not None}
                policies[str(pol)] = clean
            ev = dict(ev, policies=policies)
            jud = ev.get("judges")
            if jud is not None and not isinstance(jud, dict):
                run.problems.append('eval.json: "judges" is not a mapping of policies; no judges table')
                jud = None
            judges: dict[str, dict[str, Any]] = {}
            for pol, metrics in (jud or {}).items():
                if not isinstance(metrics, dict):
                    run.problems.append(f"eval.json: judges of policy {pol!r} are not a mapping; skipped")
                    continue
                judges[str(pol)] = {
                    str(k): c for k, v in metrics.items() if (c := _clean_metric(v)) is not None
                }
            ev["judges"] = judges
            run.eval = ev
    else:
        run.missing.append("eval.json")

    run.kind = _recorded_kind(path, run)

    if run.kind == "image":
        for pol, fname in IMAGE_POLICIES.items():
            p = path / fname
            if not p.is_file():
                run.missing.append(fname)
                continue
            data = p.read_bytes()
            if data[:8] != _PNG_MAGIC:
                run.problems.append(f"{fname} is not a PNG file; not shown")
                continue
            run.images[pol] = data
    else:
        s_path = path / "samples.jsonl"
        if s_path.is_file():
            run.samples = _read_jsonl(s_path, run.problems)
        else:
            run.missing.append("samples.jsonl")
    return run


def _recorded_kind(path: Path, run: RunData) -> str | None:
    """The run's kind as recorded: ``run.json``'s ``kind``, else (0.1.0 runs) ``config.yaml``'s ``kind`` or
    ``env``, else ``eval.json``'s ``kind``; ``None`` when no record says. Never guessed from which files exist."""
    rec_path = path / "run.json"
    if rec_path.is_file():
        try:
            rec = json.loads(rec_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            run.problems.append(
                f"run.json could not be parsed ({type(e).__name__}); kind taken from config.yaml"
            )
            rec = None
        if isinstance(rec, dict) and rec.get("kind") in ("text", "image"):
            return str(rec["kind"])
    kind = run.config.get("kind")
    env = str(run.config.get("env") or "")
    if kind is None and env:  # 0.1.0 configs that do not store kind: the env id says it (LatentImage-v0, ...)
        kind = "image" if "image" in env.lower() else "text"
    if kind is None:
        kind = (run.eval or {}).get("kind")
    return str(kind) if kind is not None else None
