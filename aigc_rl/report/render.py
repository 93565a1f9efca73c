"""Render runs into ``report.html`` (self-contained), ``report.md`` (+ PNG files next to it) and
``report.json``.

Used by ``aigc-rl report RUN [RUN ...] --out DIR`` and by ``aigc-rl eval`` (one run).
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import json
import math
import re
from pathlib import Path
from typing import Any

import yaml
from jinja2 import Environment, select_autoescape

from .build import compare_runs, pareto_points, run_entry
from .diagnostics import Thresholds, kl_budget
from .plots import comparison_figure, pareto_figure, training_figure, training_series
from .runs import RunData, load_run
from .templates import HTML_TEMPLATE

__all__ = ["render_report", "TEXT_CUT"]

#: Completions and prompts longer than this many characters are cut in the HTML/Markdown sample tables
#: (report.json keeps them whole).
TEXT_CUT = 600
STATUS_WORDS = {"warning": "Warning", "ok": "OK", "skipped": "Not checked"}


def _unique_names(paths: list[Path]) -> list[str]:
    plain = [p.resolve().name or str(p) for p in paths]
    names = [
        f"{p.resolve().parent.name}/{n}" if plain.count(n) > 1 else n
        for p, n in zip(paths, plain, strict=True)
    ]
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out


def _slugs(names: list[str]) -> list[str]:
    out: list[str] = []
    for n in names:
        s = re.sub(r"[^A-Za-z0-9._-]+", "-", n).strip("-.") or "run"
        base, k = s, 2
        while s in out:
            s, k = f"{base}-{k}", k + 1
        out.append(s)
    return out


def _fmt(x: Any) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "—"
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int):
        return str(x)
    if x == 0:
        return "0"
    if abs(x) >= 1e9 or abs(x) < 1e-3:
        return f"{x:.3e}"
    if abs(x) >= 1e4:
        return f"{x:.0f}"
    return f"{x:.4g}"


def _ci(ci: Any) -> str:
    if not ci:
        return "—"
    return f"[{_fmt(ci[0])}, {_fmt(ci[1])}]"


def _cell(m: dict[str, Any] | None) -> str:
    if not m:
        return "—"
    return _fmt(m.get("mean")) + (f" {_ci(m.get('ci95'))}" if m.get("ci95") else "")


def _cut(s: str, n: int = TEXT_CUT) -> str:
    return s if len(s) <= n else s[: n - 1].rstrip() + "…"


def _agent_text(agent: Any) -> str | None:
    if agent is None:
        return None
    if isinstance(agent, dict):
        name = agent.get("name") or agent.get("algo") or agent.get("type")
        rest = ", ".join(
            f"{k}={v}"
            for k, v in agent.items()
            if k not in ("name", "algo", "type") and not isinstance(v, (dict, list))
        )
        return f"{name} ({rest})" if name and rest else (str(name) if name else rest)
    return str(agent)


def _json_safe(x: Any) -> Any:
    """Replace non-finite floats by None and make everything JSON-serialisable."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (str, int, bool)) or x is None:
        return x
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, (_dt.date, _dt.datetime)):
        return x.isoformat()
    return str(x)


class _Figure:
    """A PNG written next to report.md and embedded in report.html."""

    def __init__(self, filename: str, png: bytes, alt: str, caption: str) -> None:
        self.filename, self.png, self.alt, self.caption = filename, png, alt, caption
        self.width = _png_width(png)

    @property
    def uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


def _png_width(png: bytes) -> int:
    return int.from_bytes(png[16:20], "big") if len(png) >= 24 else 0


def _eval_rows(entry: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]], bool]:
    pols = list(entry["policies"])
    has_change = "base" in pols and "tuned" in pols
    rows = []
    for m in entry["metric_order"]:
        cells = []
        for p in pols:
            v = entry["policies"][p].get(m) or {}
            cells.append({"mean": _fmt(v.get("mean")), "ci": _ci(v.get("ci95"))})
        change = "—"
        if has_change:
            b = (entry["policies"]["base"].get(m) or {}).get("mean")
            t = (entry["policies"]["tuned"].get(m) or {}).get("mean")
            if b is not None and t is not None:
                d = t - b
                change = ("+" if d > 0 else "") + _fmt(d)
                if abs(b) > 1e-12:
                    change += f" ({d / abs(b) * 100:+.0f}%)"
        rows.append(
            {"metric": m, "category": entry["metric_info"][m]["category"], "cells": cells, "change": change}
        )
    return pols, rows, has_change


#: Heading of the held-out judges' table (report.md and report.html).
JUDGES_TITLE = "Held-out judges: never trained on"


def _judge_rows(entry: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]], bool]:
    """Rows of the held-out judges' table: ``(policies, rows, has_change)`` like the evaluation table's."""
    judges = entry.get("judges") or {}
    pols = list(judges)
    has_change = "base" in pols and "tuned" in pols
    info = entry.get("judge_info") or {}
    rows = []
    for name in dict.fromkeys(j for p in pols for j in judges[p]):
        cells = []
        for p in pols:
            v = judges[p].get(name) or {}
            cells.append({"mean": _fmt(v.get("mean")), "ci": _ci(v.get("ci95"))})
        change = "—"
        b = (judges.get("base", {}).get(name) or {}).get("mean")
        t = (judges.get("tuned", {}).get(name) or {}).get("mean")
        if has_change and b is not None and t is not None:
            d = t - b
            change = ("+" if d > 0 else "") + _fmt(d)
        i = info.get(name) or {}
        better = {"higher": "higher", "lower": "lower"}.get(i.get("direction") or "", "—")
        rows.append(
            {"judge": name, "kind": i.get("kind") or "—", "better": better, "cells": cells, "change": change}
        )
    return pols, rows, has_change


def _sample_groups(samples: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not samples:
        return []
    groups = []
    for key, title in (
        ("best", "Largest reward gains"),
        ("worst", "Smallest gains or losses"),
        ("examples", "Examples"),
    ):
        items = samples.get(key) or []
        if not items:
            continue
        rows = []
        for s in items:
            rows.append(
                {
                    "prompt": _cut(s["prompt"]),
                    "base": _cut(s["base"]),
                    "tuned": _cut(s["tuned"]),
                    "rewards": f"{_fmt(s['base_reward'])} → {_fmt(s['tuned_reward'])}",
                    "delta": ("+" if (s["delta"] or 0) > 0 else "") + _fmt(s["delta"]),
                }
            )
        groups.append({"title": title, "rows": rows})
    return groups


def render_report(
    runs: list[str | Path],
    out_dir: str | Path,
    *,
    thresholds: Thresholds | None = None,
    n_samples: int = 3,
    title: str = "aigc-rl evaluation report",
) -> dict[str, Any]:
    """Render a report over one or more run directories.

    Writes ``out_dir/report.html`` (self-contained: images as base64 data URIs, inline CSS, no script, no
    network), ``out_dir/report.md`` with its figures as PNG files next to it, and ``out_dir/report.json``.

    Args:
        runs: Run directories (see :mod:`aigc_rl.report.runs` for the files read). Files missing inside a
            run are reported in the output, not raised.
        out_dir: Output directory (created).
        thresholds: Reward-hacking flag levels (default :class:`~aigc_rl.report.diagnostics.Thresholds`).
        n_samples: How many best and worst prompts to show per text run.
        title: Report title.

    Returns:
        The content of report.json: ``{"schema", "title", "generated", "aigc_rl_version", "thresholds",
        "runs": [run entry], "comparisons": {kind: comparison}, "findings": [warning], "files": {...}}``.

    Raises:
        ValueError: ``runs`` is empty.
        FileNotFoundError: a run path does not exist or is not a directory.
    """
    if not runs:
        raise ValueError(
            "render_report needs at least one run directory, e.g. render_report(['runs/grpo'], 'out')"
        )
    paths = [Path(r) for r in runs]
    for p in paths:
        if not p.is_dir():
            raise FileNotFoundError(
                f"run directory {str(p)!r} does not exist or is not a directory; pass the folder that "
                "`aigc-rl train` wrote (it holds config.yaml, metrics.jsonl, eval.json)"
            )
    th = thresholds or Thresholds()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    names = _unique_names(paths)
    slugs = _slugs(names)
    loaded: list[RunData] = [load_run(p, name=n) for p, n in zip(paths, names, strict=True)]
    figures: list[_Figure] = []
    try:
        from aigc_rl import __version__ as version
    except Exception:  # pragma: no cover - the package is always importable when this module is
        version = "unknown"

    entries = []
    views = []
    for run, slug in zip(loaded, slugs, strict=True):
        entry = run_entry(run, th, n_samples)
        view: dict[str, Any] = dict(entry, slug=slug, agent_text=_agent_text(entry["agent"]))
        view["config_yaml"] = (
            yaml.safe_dump(_json_safe(run.config), sort_keys=False, allow_unicode=True) if run.config else ""
        )
        view["policy_names"], view["eval_rows"], view["has_change"] = _eval_rows(entry)
        view["judge_policies"], view["judge_rows"], view["judge_change"] = _judge_rows(entry)
        by_reason: dict[str, list[str]] = {}
        for k, why in entry["judges_skipped"].items():
            by_reason.setdefault(why, []).append(k)
        view["judges_not_run"] = [{"names": ", ".join(n), "reason": why} for why, n in by_reason.items()]
        view["training_figure"] = None
        png = training_figure(run, kl_budget(run)[0] if any("kl" in row for row in run.metrics) else None)
        if png is not None:
            panels = [p["title"] for p in training_series(run)]
            steps = len(run.metrics)
            fig = _Figure(
                f"training-{slug}.png",
                png,
                alt=f"Training curves of run {run.name} over {steps} logged steps: "
                + "; ".join(panels)
                + ".",
                caption=f"Training curves of {run.name} (metrics.jsonl; shaded band = ±1 standard deviation within a step where logged).",
            )
            figures.append(fig)
            view["training_figure"] = fig
            entry["figures"]["training"] = fig.filename
        view["grids"] = []
        for pol, data in run.images.items():
            fig = _Figure(
                f"samples-{slug}-{pol}.png",
                data,
                alt=f"Grid of generated samples from the {pol} policy of run {run.name}.",
                caption=f"{pol} policy: sample grid ({'samples_' + pol + '.png'})",
            )
            figures.append(fig)
            view["grids"].append(fig)
            entry["figures"][f"samples_{pol}"] = fig.filename
        view["sample_groups"] = _sample_groups(entry["samples"])
        entries.append(entry)
        views.append(view)

    kinds: list[str] = []
    for r in loaded:
        if r.kind and r.kind not in kinds:
            kinds.append(r.kind)
    comparisons: dict[str, Any] = {}
    comp_views = []
    for kind in kinds:
        kruns = [r for r in loaded if r.kind == kind]
        cmp: dict[str, Any] = (
            compare_runs(kruns)
            if len(kruns) > 1
            else {
                "runs": [r.name for r in kruns],
                "shared": [],
                "not_shared": {},
                "reward_comparable": True,
                "columns": [],
                "table": {},
            }
        )
        par = pareto_points(kruns)
        cmp["pareto"] = par
        cmp["figures"] = {}
        cv: dict[str, Any] = {
            "kind": kind,
            "n_runs": len(kruns),
            "reward_comparable": cmp["reward_comparable"],
            "columns": cmp["columns"],
            "pareto": par,
            "pareto_figure": None,
            "curves_figure": None,
        }
        cv["table"] = [
            {"metric": m, "cells": [_cell(cmp["table"][m].get(c["label"])) for c in cmp["columns"]]}
            for m in cmp["shared"]
        ]
        cv["not_shared"] = [
            (
                m,
                names,
                "defined by a different reward spec in each run" if m == "reward" and len(names) > 1 else "",
            )
            for m, names in cmp["not_shared"].items()
        ]
        cv["no_eval"] = [r.name for r in kruns if not r.policies]
        png = pareto_figure(par["points"], f"{kind} runs: quality vs creativity")
        if png is not None:
            front = [p["label"] for p in par["points"] if p["on_front"]]
            qm = ", ".join(par["quality_metrics"]) or "each policy's own quality metrics"
            cm = ", ".join(par["creativity_metrics"]) or "each policy's own creativity metrics"
            fig = _Figure(
                f"pareto-{kind}.png",
                png,
                alt=f"Scatter of quality against creativity for {len(par['points'])} {kind} policies; on the Pareto "
                f"front: {', '.join(front)}.",
                caption=f"Quality = mean of normalised {qm}; creativity = mean of normalised {cm}. Points joined by "
                "the dashed line are on the Pareto front (no other policy is better on both).",
            )
            figures.append(fig)
            cv["pareto_figure"] = fig
            cmp["figures"]["pareto"] = fig.filename
        with_metrics = [r for r in kruns if r.metrics]
        if len(with_metrics) > 1:
            keys = [
                ("KL to reference", "kl"),
                ("completion length (tokens)", "completions/mean_length"),
                ("policy entropy (nats/token)", "entropy"),
                ("share cut off at the length limit", "completions/clipped_ratio"),
            ]
            for m in cmp["shared"]:
                keys.append((f"reward component: {m}", f"rewards/{m}/mean"))
            if cmp["reward_comparable"]:
                keys.insert(0, ("reward (total)", "reward"))
            png = comparison_figure(with_metrics, keys)
            if png is not None:
                fig = _Figure(
                    f"curves-{kind}.png",
                    png,
                    alt=f"Training curves of the {kind} runs overlaid: "
                    + ", ".join(t for t, _ in keys)
                    + ".",
                    caption="The same training curves for every run (only curves logged by at least two runs).",
                )
                figures.append(fig)
                cv["curves_figure"] = fig
                cmp["figures"]["curves"] = fig.filename
        comparisons[kind] = cmp
        comp_views.append(cv)

    warnings = [
        {"run": e["name"], "check": d["check"], "title": d["title"], "message": d["message"]}
        for e in entries
        for d in e["diagnostics"]
        if d["status"] == "warning"
    ]
    input_notes = []
    for e in entries:
        if e["missing"]:
            input_notes.append({"run": e["name"], "text": "missing " + ", ".join(e["missing"])})
        for p in e["problems"]:
            input_notes.append({"run": e["name"], "text": p})
        if e["kind"] is None:
            input_notes.append(
                {"run": e["name"], "text": "kind unknown (no config.yaml/eval.json 'kind' and no samples)"}
            )

    generated = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    th_dict = {k: getattr(th, k) for k in th.__dataclass_fields__}
    thresholds_text = (
        f"length drift ±{th.length_drift * 100:.0f}%, repetition +{th.repetition_rise * 100:.0f} points, "
        f"diversity −{th.diversity_drop * 100:.0f}%, quality −{th.quality_drop * 100:.0f}%, KL budget per run, "
        f"prompt copy +{th.copy_rise * 100:.0f} points, completion rate −{th.completion_drop * 100:.0f} points "
        f"(or {th.cutoff_share * 100:.0f}% cut off), entropy below {th.entropy_floor * 100:.0f}% of its start, "
        f"KL below −{th.negative_kl_step:g} on a step or −{th.negative_kl_mean:g} at the end, held-out quality "
        "judges worse with 95% intervals apart"
    )
    report: dict[str, Any] = {
        "schema": "aigc-rl-report/1",
        "title": title,
        "generated": generated,
        "aigc_rl_version": version,
        "thresholds": th_dict,
        "runs": entries,
        "comparisons": comparisons,
        "findings": warnings,
        "input_notes": input_notes,
        "files": {
            "html": "report.html",
            "markdown": "report.md",
            "json": "report.json",
            "figures": [f.filename for f in figures],
        },
    }
    report = _json_safe(report)

    for f in figures:
        (out / f.filename).write_bytes(f.png)
    env = Environment(autoescape=select_autoescape(default=True, default_for_string=True), trim_blocks=False)
    page = env.from_string(HTML_TEMPLATE).render(
        title=title,
        generated=generated,
        version=version,
        runs=views,
        comparisons=comp_views,
        warnings=warnings,
        input_notes=input_notes,
        status_words=STATUS_WORDS,
        judges_title=JUDGES_TITLE,
        cut=TEXT_CUT,
        thresholds_text=thresholds_text,
    )
    (out / "report.html").write_text(page, encoding="utf-8")
    (out / "report.md").write_text(
        _markdown(title, generated, version, views, comp_views, warnings, input_notes, thresholds_text),
        encoding="utf-8",
    )
    (out / "report.json").write_text(
        json.dumps(report, indent=2, allow_nan=False, ensure_ascii=False), encoding="utf-8"
    )
    return report


# ---------------------------------------------------------------------------------------------- Markdown


def _md(s: Any) -> str:
    """Escape text for a Markdown table cell or paragraph: HTML-escaped (Markdown renders raw HTML), pipes
    escaped, newlines as <br>."""
    t = html.escape(str(s), quote=False)
    t = t.replace("|", "\\|").replace("\r\n", "\n").replace("\n", "<br>")
    return t.replace("`", "\\`").replace("*", "\\*").replace("_", "\\_")


def _code(s: Any) -> str:
    """A Markdown code span that shows ``s`` literally on one line, whatever it holds.

    The fence is one backtick longer than the longest backtick run inside (CommonMark 6.1), so a value cannot
    close the span and let raw HTML or Markdown through; a space pads a value that starts or ends with one.
    """
    t = " ".join(str(s).split()) or "—"
    fence = "`" * (max((len(m) for m in re.findall(r"`+", t)), default=0) + 1)
    pad = " " if t[0] == "`" or t[-1] == "`" else ""
    return f"{fence}{pad}{t}{pad}{fence}"


def _fenced(text: str, info: str = "") -> list[str]:
    """A fenced code block (CommonMark 4.5) holding ``text`` verbatim: its fence outlasts any backtick run."""
    fence = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return [fence + info, text.rstrip(), fence]


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(_md(h) for h in header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_md(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _md_img(fig: _Figure) -> str:
    alt = fig.alt.replace("[", "(").replace("]", ")")
    return f"![{_md(alt)}]({fig.filename})\n\n*{_md(fig.caption)}*"


def _markdown(
    title: str,
    generated: str,
    version: str,
    runs: list[dict[str, Any]],
    comps: list[dict[str, Any]],
    warnings: list[dict[str, Any]],
    notes: list[dict[str, Any]],
    thresholds_text: str,
) -> str:
    o: list[str] = [
        f"# {_md(title)}",
        "",
        f"Generated {generated} by aigc-rl {version} from {len(runs)} run(s): "
        + ", ".join(_md(r["name"]) for r in runs)
        + ".",
        "",
        "## Findings",
        "",
    ]
    if warnings:
        o += [f"- **Warning — {_md(w['run'])}: {_md(w['title'])}.** {_md(w['message'])}" for w in warnings]
    else:
        o.append("No sign of reward hacking was flagged by the checks that could run.")
    if notes:
        o += ["", "### Incomplete input", ""] + [f"- **{_md(n['run'])}:** {_md(n['text'])}" for n in notes]
    o += ["", "## Runs", ""]
    o.append(
        _md_table(
            [
                "Run",
                "Kind",
                "Model",
                "Task",
                "Reward",
                "Agent",
                "Steps",
                "Seed",
                "Eval prompts",
                "Missing files",
            ],
            [
                [
                    r["name"],
                    r["kind"] or "unknown",
                    r["model"] or "—",
                    r["task"] or "—",
                    r["reward"] or "—",
                    r["agent_text"] or "—",
                    _fmt(r["max_steps"]),
                    _fmt(r["seed"]),
                    _fmt(r["n_prompts"]),
                    ", ".join(r["missing"]) or "none",
                ]
                for r in runs
            ],
        )
    )
    for c in comps:
        o += ["", f"## Comparison: {c['kind']} runs", ""]
        if c["table"]:
            o.append("Metrics every run was evaluated on (mean [95% CI]).")
            if not c["reward_comparable"]:
                o.append("The total `reward` is left out: the runs use different reward specs.")
            o += [
                "",
                _md_table(
                    ["Metric"] + [col["label"] for col in c["columns"]],
                    [[row["metric"]] + row["cells"] for row in c["table"]],
                ),
            ]
        if c["not_shared"]:
            o += ["", "Not shared (not compared):", ""] + [
                f"- {_code(m)}: {_md(', '.join(n))}" + (f" ({why})" if why else "")
                for m, n, why in c["not_shared"]
            ]
        if c["no_eval"]:
            o += ["", f"Without evaluation (not compared): {_md(', '.join(c['no_eval']))}."]
        if c["pareto_figure"]:
            o += ["", "### Quality versus creativity", "", _md_img(c["pareto_figure"]), ""]
            o.append(
                _md_table(
                    ["Policy", "Quality", "Creativity", "On the Pareto front"],
                    [
                        [
                            p["label"],
                            f"{p['quality']:.3f}",
                            f"{p['creativity']:.3f}",
                            "yes" if p["on_front"] else "no (dominated)",
                        ]
                        for p in c["pareto"]["points"]
                    ],
                )
            )
        if c["curves_figure"]:
            o += ["", "### Training curves across runs", "", _md_img(c["curves_figure"])]
    for r in runs:
        o += ["", f"## Run {_md(r['name'])}", ""]
        if r["missing"]:
            o += [
                f"> **Missing files:** {_md(', '.join(r['missing']))}. The sections that need them are left out.",
                "",
            ]
        for p in r["problems"]:
            o += [f"> {_md(p)}", ""]
        o += [
            "### Configuration",
            "",
            f"- Directory: {_code(r['path'])}",
            f"- Kind: {r['kind'] or 'unknown'}",
            f"- Model: {_md(r['model'] or '—')}",
            f"- Task: {_md(r['task'] or '—')}",
            f"- Reward: {_code(r['reward'] or '—')}"
            + (f" (components: {_md(', '.join(r['components']))})" if r["components"] else ""),
            f"- Agent: {_md(r['agent_text'] or '—')}",
        ]
        if r.get("lineage_text"):
            o.append(f"- Lineage: {_md(r['lineage_text'])}")
        if r["config_yaml"]:
            o += [
                "",
                "<details><summary>Resolved config (config.yaml)</summary>",
                "",
                *_fenced(r["config_yaml"], "yaml"),
                "",
                "</details>",
            ]
        o += ["", "### Evaluation", ""]
        if r["eval_rows"]:
            header = ["Metric", "Measures"] + [
                x for p in r["policy_names"] for x in (f"{p} mean", f"{p} 95% CI")
            ]
            header += ["Change (tuned − base)"] if r["has_change"] else []
            rows = [
                [row["metric"], row["category"]]
                + [x for c in row["cells"] for x in (c["mean"], c["ci"])]
                + ([row["change"]] if r["has_change"] else [])
                for row in r["eval_rows"]
            ]
            o.append(_md_table(header, rows))
        else:
            o.append("No evaluation.")
        if r["judge_rows"] or r["judges_skipped"]:
            o += ["", f"### {JUDGES_TITLE}", ""]
            o.append(
                "Scored on the same samples by models and statistics the training reward does not use; mean "
                "over prompts with 95% CI."
            )
        if r["judge_rows"]:
            header = ["Judge", "Measures", "Better"] + [
                x for p in r["judge_policies"] for x in (f"{p} mean", f"{p} 95% CI")
            ]
            header += ["Change (tuned − base)"] if r["judge_change"] else []
            rows = [
                [row["judge"], row["kind"], row["better"]]
                + [x for c in row["cells"] for x in (c["mean"], c["ci"])]
                + ([row["change"]] if r["judge_change"] else [])
                for row in r["judge_rows"]
            ]
            o += ["", _md_table(header, rows)]
        if r["judges_skipped"]:
            o += [
                "",
                "Not run: "
                + "; ".join(f"{_md(g['names'])} ({_md(g['reason'])})" for g in r["judges_not_run"]),
            ]
        o += ["", "### Reward-hacking checks", ""]
        if r["diagnostics"]:
            o.append(
                _md_table(
                    ["Check", "Result", "What it found"],
                    [[d["title"], STATUS_WORDS[d["status"]], d["message"]] for d in r["diagnostics"]],
                )
            )
        else:
            o.append("No checks: the run has neither eval.json nor metrics.jsonl.")
        o += ["", "### Training curves", ""]
        o.append(_md_img(r["training_figure"]) if r["training_figure"] else "No training curves.")
        o += ["", "### Samples", ""]
        if r["kind"] == "image":
            o += [_md_img(g) + "\n" for g in r["grids"]] or ["No sample grids."]
        elif r["sample_groups"]:
            for g in r["sample_groups"]:
                o += [
                    f"#### {g['title']}",
                    "",
                    _md_table(
                        ["Prompt", "Base completion", "Tuned completion", "Reward base → tuned", "Δ reward"],
                        [[s["prompt"], s["base"], s["tuned"], s["rewards"], s["delta"]] for s in g["rows"]],
                    ),
                    "",
                ]
        else:
            o.append("No samples.")
    o += ["", "---", "", f"Thresholds: {thresholds_text}. How to read this report: docs/reports.md.", ""]
    return "\n".join(o)
