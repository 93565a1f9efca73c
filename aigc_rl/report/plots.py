"""Figures for the report, drawn with matplotlib's object API on the Agg canvas (no pyplot, no global backend
change, no display needed). Every function returns PNG bytes or ``None`` when there is nothing to draw."""

from __future__ import annotations

import io
import math
import re
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .runs import RunData

__all__ = ["training_series", "training_figure", "comparison_figure", "pareto_figure", "component_keys"]

_COMPONENT_RE = re.compile(r"^rewards/(?P<name>.+?)(?P<suffix>/mean|/std)?$")
_STEP_KEYS = ("step", "global_step", "timesteps", "num_timesteps")
_DPI = 100


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return buf.getvalue()


def _num(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _step(row: dict[str, Any], i: int) -> float:
    for k in _STEP_KEYS:
        v = _num(row.get(k))
        if v is not None:
            return v
    return float(i + 1)


def component_keys(metrics: list[dict[str, Any]]) -> dict[str, tuple[str, str | None]]:
    """Reward components logged in metrics rows.

    Recognises ``rewards/<name>/mean`` (with ``rewards/<name>/std``) and ``rewards/<name>``; skips
    ``.../weighted`` contributions and a component named ``reward`` (the total, logged as ``reward``).

    Returns:
        Component name -> ``(mean key, std key or None)``, in first-seen order.
    """
    out: dict[str, tuple[str, str | None]] = {}
    keys: list[str] = []
    for row in metrics:
        for k in row:
            if k not in keys:
                keys.append(k)
    keyset = set(keys)
    for k in keys:
        m = _COMPONENT_RE.match(k)
        if not m or m.group("suffix") == "/std":
            continue
        name = m.group("name")
        if name.endswith("/weighted") or name == "reward" or name in out:
            continue
        if m.group("suffix") is None and f"rewards/{name}/mean" in keyset:
            continue
        std = f"rewards/{name}/std"
        out[name] = (k, std if std in keyset else None)
    return out


def training_series(run: RunData) -> list[dict[str, Any]]:
    """The curves of one run's training: reward, each component, KL, completion length, policy entropy and
    completion rate.

    The completion rate is ``1 - completions/clipped_ratio`` (TRL logs the share of completions that hit
    ``max_completion_length``), i.e. the share that ended inside the token limit; ``entropy`` is TRL's mean
    token entropy of the policy (nats).

    Returns:
        A list of panels ``{"title", "key", "x": [...], "y": [...], "std": [...] | None, "ylabel"}``, only
        those with at least one finite value; ``key`` is the metrics.jsonl key the panel is read from.
    """
    comps = component_keys(run.metrics)
    wanted: list[tuple[str, str, str | None, str]] = [("reward (total)", "reward", "reward_std", "reward")]
    wanted += [(f"reward component: {c}", mk, sk, c) for c, (mk, sk) in comps.items()]
    wanted += [
        ("KL to reference", "kl", None, "nats/token"),
        ("completion length", "completions/mean_length", None, "tokens"),
        ("policy entropy", "entropy", None, "nats/token"),
        ("completion rate (ended inside the limit)", "completions/clipped_ratio", None, "share"),
    ]
    panels = []
    for title, key, std_key, ylabel in wanted:
        xs, ys, ss = [], [], []
        for i, row in enumerate(run.metrics):
            y = _num(row.get(key))
            if y is None:
                continue
            if key == "completions/clipped_ratio":
                y = 1.0 - y
            xs.append(_step(row, i))
            ys.append(y)
            ss.append(_num(row.get(std_key)) if std_key else None)
        if not ys:
            continue
        std = ss if std_key and all(s is not None for s in ss) else None
        panels.append({"title": title, "key": key, "x": xs, "y": ys, "std": std, "ylabel": ylabel})
    return panels


def _grid(n: int, ncols: int = 3) -> tuple[int, int]:
    ncols = min(ncols, n)
    return math.ceil(n / ncols), ncols


def training_figure(run: RunData, kl_budget: float | None = None) -> bytes | None:
    """Training curves of one run as a PNG (one panel per curve, ±1 std band where logged), or ``None``.

    Args:
        run: A loaded run.
        kl_budget: Drawn as a dashed line on the KL panel when given (nats/token).
    """
    panels = training_series(run)
    if not panels:
        return None
    nrows, ncols = _grid(len(panels))
    fig = Figure(figsize=(4.2 * ncols, 2.8 * nrows), layout="constrained")
    for i, p in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        ax.plot(p["x"], p["y"], color="#1f5fa8", lw=1.6, marker="o" if len(p["x"]) < 12 else None, ms=3)
        if p["std"] is not None:
            lo = [y - s for y, s in zip(p["y"], p["std"], strict=True)]
            hi = [y + s for y, s in zip(p["y"], p["std"], strict=True)]
            ax.fill_between(p["x"], lo, hi, color="#1f5fa8", alpha=0.18, lw=0)
        if p["key"] == "kl" and kl_budget is not None:
            ax.axhline(kl_budget, color="#c0392b", ls="--", lw=1.1, label=f"KL budget {kl_budget:g}")
            ax.legend(fontsize=8, loc="upper left")
        if (
            p["key"] == "completions/clipped_ratio"
        ):  # a share: the whole [0, 1] scale, so 0.9 does not look high
            ax.set_ylim(-0.05, 1.05)
        ax.set_title(p["title"], fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.set_ylabel(p["ylabel"], fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Training curves: {run.name}", fontsize=11)
    return _png(fig)


def comparison_figure(runs: list[RunData], keys: list[tuple[str, str]]) -> bytes | None:
    """Overlay of the same curves across runs (one panel per key, one line per run), or ``None``.

    Args:
        runs: Runs with metrics.
        keys: ``(panel title, metrics key)`` pairs; panels where fewer than two runs have data are dropped.
    """
    panels = []
    for title, key in keys:
        lines = []
        for run in runs:
            xs, ys = [], []
            for i, row in enumerate(run.metrics):
                y = _num(row.get(key))
                if y is not None:
                    xs.append(_step(row, i))
                    ys.append(y)
            if ys:
                lines.append((run.name, xs, ys))
        if len(lines) >= 2:
            panels.append((title, lines))
    if not panels:
        return None
    nrows, ncols = _grid(len(panels))
    fig = Figure(figsize=(4.2 * ncols, 2.9 * nrows), layout="constrained")
    for i, (title, lines) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for name, xs, ys in lines:
            ax.plot(xs, ys, lw=1.6, label=name)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Training curves compared across runs", fontsize=11)
    return _png(fig)


def pareto_figure(points: list[dict[str, Any]], title: str) -> bytes | None:
    """Quality-versus-creativity scatter with the Pareto front drawn as a step line.

    Args:
        points: ``{"label", "policy", "quality", "creativity", "on_front"}`` dicts (scores in [0, 1]), with
            ``"run"`` where known: a run that has an ``"init"`` policy (started with ``--init``) gets its base,
            init and tuned points joined by arrows in lineage order.
        title: Axes title.

    Returns:
        PNG bytes, or ``None`` without points.
    """
    pts = [p for p in points if p.get("quality") is not None and p.get("creativity") is not None]
    if not pts:
        return None
    fig = Figure(figsize=(6.4, 4.6), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    front = sorted((p for p in pts if p["on_front"]), key=lambda p: p["quality"])
    if len(front) > 1:
        xs: list[float] = []
        ys: list[float] = []
        for p in front:  # staircase: sorted by quality ascending, creativity descending
            if xs:
                xs.append(p["quality"])
                ys.append(ys[-1])
            xs.append(p["quality"])
            ys.append(p["creativity"])
        ax.plot(xs, ys, color="#c0392b", lw=1.2, ls="--", label="Pareto front")
    by_run: dict[str, dict[str, dict[str, Any]]] = {}
    for p in pts:
        by_run.setdefault(str(p.get("run")), {})[p["policy"]] = p
    for pols in by_run.values():  # a run started from --init: base -> init -> tuned joined in lineage order
        if "init" in pols:
            chain = [pols[k] for k in ("base", "init", "tuned") if k in pols]
            ax.plot(
                [p["quality"] for p in chain],
                [p["creativity"] for p in chain],
                color="#555555",
                lw=1.0,
                zorder=2,
                marker="",
            )
            for a, b in zip(chain, chain[1:], strict=False):
                ax.annotate(
                    "",
                    (b["quality"], b["creativity"]),
                    (a["quality"], a["creativity"]),
                    arrowprops={"arrowstyle": "->", "color": "#555555", "lw": 1.0},
                    zorder=2,
                )
    style = {"base": ("s", "#7f8c8d"), "init": ("^", "#27ae60")}
    labels: dict[tuple[float, float], list[str]] = {}
    for p in pts:
        marker, color = style.get(p["policy"], ("o", "#1f5fa8"))
        ax.scatter(
            p["quality"],
            p["creativity"],
            s=70,
            marker=marker,
            color=color,
            edgecolor="#c0392b" if p["on_front"] else "white",
            linewidth=2 if p["on_front"] else 0.5,
            zorder=3,
        )
        labels.setdefault((round(p["quality"], 3), round(p["creativity"], 3)), []).append(p["label"])
    for (q, c), names in labels.items():  # points that coincide (e.g. the same base policy) share one label
        ax.annotate(
            "\n".join(names), (q, c), textcoords="offset points", xytext=(7, 4), fontsize=8, va="bottom"
        )
    ax.scatter([], [], marker="s", color="#7f8c8d", label="base policy")
    if any(p["policy"] == "init" for p in pts):
        ax.scatter([], [], marker="^", color="#27ae60", label="init policy (--init)")
    ax.scatter([], [], marker="o", color="#1f5fa8", label="tuned policy")
    ax.set_xlabel("quality (mean of normalised quality components, 1 = best)", fontsize=9)
    ax.set_ylabel("creativity (normalised, 1 = best)", fontsize=9)
    qs = [p["quality"] for p in pts]
    cs = [p["creativity"] for p in pts]
    pad_q = max(0.05, (max(qs) - min(qs)) * 0.25)
    pad_c = max(0.05, (max(cs) - min(cs)) * 0.25)
    ax.set_xlim(max(-0.02, min(qs) - pad_q), min(1.02, max(qs) + pad_q * 1.6))
    ax.set_ylim(max(-0.02, min(cs) - pad_c), min(1.02, max(cs) + pad_c))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    ax.set_title(title, fontsize=10)
    return _png(fig)
