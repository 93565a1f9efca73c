"""The HTML template of report.html (Jinja2, autoescaped: every run-supplied string is HTML-escaped).

Self-contained: inline CSS, images as ``data:image/png;base64`` URIs, no script, no external font, stylesheet
or request, so the file opens from disk offline and shows the same everywhere.
"""

from __future__ import annotations

__all__ = ["HTML_TEMPLATE"]

HTML_TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="aigc-rl {{ version }}">
<title>{{ title }}</title>
<style>
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --warn-bg: #fff4d6; --warn: #8a5a00;
        --ok-bg: #e6f4ea; --ok: #1a6b35; --skip-bg: #eef1f4; --accent: #1f5fa8; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
       font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 28px 60px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.35rem; margin: 38px 0 10px; padding-bottom: 4px; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.08rem; margin: 26px 0 8px; }
h4 { font-size: 0.98rem; margin: 18px 0 6px; }
p.meta, .muted { color: var(--muted); }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 0.86em; }
pre { background: #f6f8fa; border: 1px solid var(--line); padding: 10px; overflow-x: auto; }
table { border-collapse: collapse; margin: 8px 0 14px; font-size: 0.9rem; }
caption { text-align: left; font-weight: 600; padding: 4px 0; color: var(--muted); }
th, td { border: 1px solid var(--line); padding: 5px 9px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { white-space: pre-wrap; word-break: break-word; max-width: 420px; }
.wide { overflow-x: auto; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 0.8rem; font-weight: 600;
         white-space: nowrap; }
.warning .badge, .badge.warning { background: var(--warn-bg); color: var(--warn); border: 1px solid #e3b341; }
.ok .badge, .badge.ok { background: var(--ok-bg); color: var(--ok); border: 1px solid #8fd1a2; }
.skipped .badge, .badge.skipped { background: var(--skip-bg); color: var(--muted); border: 1px solid var(--line); }
tr.warning td { background: #fffbf0; }
.findings li { margin: 4px 0; }
.note { border-left: 4px solid #e3b341; background: var(--warn-bg); padding: 8px 12px; margin: 10px 0; }
figure { margin: 10px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.88rem; margin-top: 4px; }
.grids { display: flex; flex-wrap: wrap; gap: 24px; }
.grids img { width: 320px; image-rendering: pixelated; }
dl.cfg { display: grid; grid-template-columns: max-content auto; gap: 2px 16px; margin: 6px 0; }
dl.cfg dt { font-weight: 600; } dl.cfg dd { margin: 0; }
nav ul { columns: 2; margin: 4px 0; }
a { color: var(--accent); }
</style>
</head>
<body>
<main>
<h1>{{ title }}</h1>
<p class="meta">Generated {{ generated }} by aigc-rl {{ version }} from {{ runs|length }} run{{ 's' if runs|length != 1 }}:
{% for r in runs %}<a href="#run-{{ r.slug }}">{{ r.name }}</a>{{ ", " if not loop.last }}{% endfor %}.</p>

<nav aria-label="Contents">
<h2 id="contents">Contents</h2>
<ul>
<li><a href="#findings">Findings</a></li>
<li><a href="#runs">Runs</a></li>
{% for c in comparisons %}<li><a href="#compare-{{ c.kind }}">Comparison: {{ c.kind }} runs</a></li>
{% endfor %}{% for r in runs %}<li><a href="#run-{{ r.slug }}">Run {{ r.name }}</a></li>
{% endfor %}</ul>
</nav>

<section id="findings" aria-labelledby="findings-h">
<h2 id="findings-h">Findings</h2>
{% if warnings %}
<p>{{ warnings|length }} sign{{ 's' if warnings|length != 1 }} of reward hacking flagged:</p>
<ul class="findings">
{% for w in warnings %}<li><span class="badge warning">Warning</span> <strong>{{ w.run }}: {{ w.title }}.</strong> {{ w.message }}</li>
{% endfor %}</ul>
{% else %}
<p>No sign of reward hacking was flagged by the checks that could run (see each run's checks table).</p>
{% endif %}
{% if input_notes %}
<h3>Incomplete input</h3>
<ul>
{% for n in input_notes %}<li><strong>{{ n.run }}:</strong> {{ n.text }}</li>
{% endfor %}</ul>
{% endif %}
</section>

<section id="runs" aria-labelledby="runs-h">
<h2 id="runs-h">Runs</h2>
<div class="wide"><table>
<caption>Runs in this report</caption>
<thead><tr><th scope="col">Run</th><th scope="col">Kind</th><th scope="col">Model</th><th scope="col">Task</th>
<th scope="col">Reward</th><th scope="col">Agent</th><th scope="col">Steps</th><th scope="col">Seed</th>
<th scope="col">Eval prompts</th><th scope="col">Missing files</th></tr></thead>
<tbody>
{% for r in runs %}<tr><th scope="row"><a href="#run-{{ r.slug }}">{{ r.name }}</a></th><td>{{ r.kind or "unknown" }}</td>
<td>{{ r.model or "—" }}</td><td>{{ r.task or "—" }}</td><td><code>{{ r.reward or "—" }}</code></td>
<td>{{ r.agent_text or "—" }}</td><td class="num">{{ r.max_steps if r.max_steps is not none else "—" }}</td>
<td class="num">{{ r.seed if r.seed is not none else "—" }}</td><td class="num">{{ r.n_prompts if r.n_prompts is not none else "—" }}</td>
<td>{{ r.missing|join(", ") if r.missing else "none" }}</td></tr>
{% endfor %}</tbody>
</table></div>
</section>

{% for c in comparisons %}
<section id="compare-{{ c.kind }}" aria-labelledby="compare-{{ c.kind }}-h">
<h2 id="compare-{{ c.kind }}-h">Comparison: {{ c.kind }} runs</h2>
{% if c.table %}
<p>Metrics every {{ c.kind }} run was evaluated on (mean and 95% confidence interval per policy).
{% if not c.reward_comparable %}The total <code>reward</code> is left out: the runs use different reward specs, so their totals measure different things.{% endif %}</p>
<div class="wide"><table>
<caption>Shared metrics across {{ c.kind }} runs</caption>
<thead><tr><th scope="col">Metric</th>{% for col in c.columns %}<th scope="col">{{ col.label }}</th>{% endfor %}</tr></thead>
<tbody>
{% for row in c.table %}<tr><th scope="row">{{ row.metric }}</th>{% for cell in row.cells %}<td class="num">{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</tbody>
</table></div>
{% elif c.n_runs > 1 %}<p>These runs share no evaluated metric.</p>{% endif %}
{% if c.not_shared %}
<h3>Not shared</h3>
<p>Metrics only some runs have (not compared):</p>
<ul>{% for m, names, why in c.not_shared %}<li><code>{{ m }}</code>: {{ names|join(", ") }}{% if why %} ({{ why }}){% endif %}</li>{% endfor %}</ul>
{% endif %}
{% if c.no_eval %}<p class="muted">Without evaluation (not compared): {{ c.no_eval|join(", ") }}.</p>{% endif %}
{% if c.pareto_figure %}
<h3>Quality versus creativity</h3>
<figure><img src="{{ c.pareto_figure.uri }}" alt="{{ c.pareto_figure.alt }}" width="{{ c.pareto_figure.width }}">
<figcaption>{{ c.pareto_figure.caption }}</figcaption></figure>
<div class="wide"><table>
<caption>Quality and creativity scores (normalised to [0, 1], 1 = best)</caption>
<thead><tr><th scope="col">Policy</th><th scope="col">Quality</th><th scope="col">Creativity</th><th scope="col">On the Pareto front</th></tr></thead>
<tbody>
{% for p in c.pareto.points %}<tr><th scope="row">{{ p.label }}</th><td class="num">{{ "%.3f"|format(p.quality) }}</td>
<td class="num">{{ "%.3f"|format(p.creativity) }}</td><td>{{ "yes" if p.on_front else "no (dominated)" }}</td></tr>
{% endfor %}</tbody>
</table></div>
{% if not c.pareto.comparable %}<p class="note">The runs share no quality or no creativity metric; each point uses the metrics it has, so the axes are not strictly comparable.</p>{% endif %}
{% if c.pareto.excluded %}<p class="muted">Not plotted (no quality or no creativity metric): {{ c.pareto.excluded|join(", ") }}.</p>{% endif %}
{% endif %}
{% if c.curves_figure %}
<h3>Training curves across runs</h3>
<figure><img src="{{ c.curves_figure.uri }}" alt="{{ c.curves_figure.alt }}" width="{{ c.curves_figure.width }}">
<figcaption>{{ c.curves_figure.caption }}</figcaption></figure>
{% endif %}
</section>
{% endfor %}

{% for r in runs %}
<section id="run-{{ r.slug }}" aria-labelledby="run-{{ r.slug }}-h">
<h2 id="run-{{ r.slug }}-h">Run {{ r.name }}</h2>
{% if r.missing or r.problems %}<div class="note" role="note">
{% if r.missing %}<p><strong>Missing files:</strong> {{ r.missing|join(", ") }}. The sections that need them are left out.</p>{% endif %}
{% for p in r.problems %}<p>{{ p }}</p>{% endfor %}
</div>{% endif %}

<h3>Configuration</h3>
<dl class="cfg">
<dt>Directory</dt><dd><code>{{ r.path }}</code></dd>
<dt>Kind</dt><dd>{{ r.kind or "unknown" }}</dd>
<dt>Model</dt><dd>{{ r.model or "—" }}</dd>
<dt>Task</dt><dd>{{ r.task or "—" }}</dd>
<dt>Reward</dt><dd><code>{{ r.reward or "—" }}</code>{% if r.components %} (components: {{ r.components|join(", ") }}){% endif %}</dd>
<dt>Agent</dt><dd>{{ r.agent_text or "—" }}</dd>
{% if r.lineage_text %}<dt>Lineage</dt><dd>{{ r.lineage_text }}</dd>{% endif %}
</dl>
{% if r.config_yaml %}<details><summary>Resolved config (config.yaml)</summary>
<pre>{{ r.config_yaml }}</pre></details>{% endif %}

<h3>Evaluation</h3>
{% if r.eval_rows %}
<p>Mean over {{ r.n_prompts if r.n_prompts is not none else "the" }} evaluation prompt{{ 's' if r.n_prompts != 1 }} with 95% confidence interval; metric values are raw (natural scale).</p>
<div class="wide"><table>
<caption>Evaluation of {{ r.name }} per policy</caption>
<thead><tr><th scope="col">Metric</th><th scope="col">Measures</th>{% for p in r.policy_names %}<th scope="col">{{ p }} mean</th><th scope="col">{{ p }} 95% CI</th>{% endfor %}{% if r.has_change %}<th scope="col">Change (tuned − base)</th>{% endif %}</tr></thead>
<tbody>
{% for row in r.eval_rows %}<tr><th scope="row">{{ row.metric }}</th><td>{{ row.category }}</td>{% for cell in row.cells %}<td class="num">{{ cell.mean }}</td><td class="num">{{ cell.ci }}</td>{% endfor %}{% if r.has_change %}<td class="num">{{ row.change }}</td>{% endif %}</tr>
{% endfor %}</tbody>
</table></div>
{% else %}<p class="muted">No evaluation (eval.json {{ "is missing" if "eval.json" in r.missing else "has no usable policies" }}).</p>{% endif %}
{% if r.judge_rows or r.judges_skipped %}
<h3>{{ judges_title }}</h3>
<p>Scored on the same samples by models and statistics the training reward does not use; mean over prompts with 95% CI.</p>
{% if r.judge_rows %}<div class="wide"><table>
<caption>Held-out judges of {{ r.name }} per policy</caption>
<thead><tr><th scope="col">Judge</th><th scope="col">Measures</th><th scope="col">Better</th>{% for p in r.judge_policies %}<th scope="col">{{ p }} mean</th><th scope="col">{{ p }} 95% CI</th>{% endfor %}{% if r.judge_change %}<th scope="col">Change (tuned − base)</th>{% endif %}</tr></thead>
<tbody>
{% for row in r.judge_rows %}<tr><th scope="row">{{ row.judge }}</th><td>{{ row.kind }}</td><td>{{ row.better }}</td>{% for cell in row.cells %}<td class="num">{{ cell.mean }}</td><td class="num">{{ cell.ci }}</td>{% endfor %}{% if r.judge_change %}<td class="num">{{ row.change }}</td>{% endif %}</tr>
{% endfor %}</tbody>
</table></div>{% endif %}
{% if r.judges_skipped %}<p class="muted">Not run: {% for g in r.judges_not_run %}{{ g.names }} ({{ g.reason }}){{ "; " if not loop.last }}{% endfor %}</p>{% endif %}
{% endif %}

<h3>Reward-hacking checks</h3>
{% if r.diagnostics %}
<div class="wide"><table>
<caption>Checks for {{ r.name }}</caption>
<thead><tr><th scope="col">Check</th><th scope="col">Result</th><th scope="col">What it found</th></tr></thead>
<tbody>
{% for d in r.diagnostics %}<tr class="{{ d.status }}"><th scope="row">{{ d.title }}</th><td><span class="badge">{{ status_words[d.status] }}</span></td><td>{{ d.message }}</td></tr>
{% endfor %}</tbody>
</table></div>
{% else %}<p class="muted">No checks: the run has neither eval.json nor metrics.jsonl.</p>{% endif %}

<h3>Training curves</h3>
{% if r.training_figure %}
<figure><img src="{{ r.training_figure.uri }}" alt="{{ r.training_figure.alt }}" width="{{ r.training_figure.width }}">
<figcaption>{{ r.training_figure.caption }}</figcaption></figure>
{% else %}<p class="muted">No training curves (metrics.jsonl {{ "is missing" if "metrics.jsonl" in r.missing else "has no reward, KL or length values" }}).</p>{% endif %}

<h3>Samples</h3>
{% if r.kind == "image" %}
{% if r.grids %}<div class="grids">
{% for g in r.grids %}<figure><img src="{{ g.uri }}" alt="{{ g.alt }}" width="320">
<figcaption>{{ g.caption }}</figcaption></figure>
{% endfor %}</div>{% else %}<p class="muted">No sample grids.</p>{% endif %}
{% elif r.sample_groups %}
<p>{{ r.samples.n_samples }} samples over {{ r.samples.n_prompts_paired }} prompts answered by both policies. The prompts where tuning raised the reward most and least (first completion of each policy shown; texts cut at {{ cut }} characters).</p>
{% for g in r.sample_groups %}
<h4>{{ g.title }}</h4>
<div class="wide"><table>
<caption>{{ g.title }} — {{ r.name }}</caption>
<thead><tr><th scope="col">Prompt</th><th scope="col">Base completion</th><th scope="col">Tuned completion</th><th scope="col">Reward base → tuned</th><th scope="col">Δ reward</th></tr></thead>
<tbody>
{% for s in g.rows %}<tr><td class="text">{{ s.prompt }}</td><td class="text">{{ s.base }}</td><td class="text">{{ s.tuned }}</td>
<td class="num">{{ s.rewards }}</td><td class="num">{{ s.delta }}</td></tr>
{% endfor %}</tbody>
</table></div>
{% endfor %}
{% else %}<p class="muted">No samples ({{ "samples.jsonl is missing" if "samples.jsonl" in r.missing else "no prompt was answered by both policies" }}).</p>{% endif %}
</section>
{% endfor %}

<footer><p class="muted">How to read this report: see docs/reports.md in aigc-rl. Thresholds: {{ thresholds_text }}.</p></footer>
</main>
</body>
</html>
"""
