"""Issue 10, reports: a config value cannot close its Markdown code span and pass raw HTML through.

report.md is rendered with a CommonMark parser (markdown-it-py) and the HTML it yields is checked: every
hostile value shows as text, none becomes a tag.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml
from report_runs import make_healthy_text_run

from aigc_rl.report import render_report

markdown_it = pytest.importorskip(
    "markdown_it", reason="markdown-it-py renders report.md as a reader's viewer would"
)

HOSTILE = "x` <img src=x onerror=alert(1)> ``` <script>alert(2)</script> `"


def _hostile_run(tmp_path):
    run = make_healthy_text_run(tmp_path / "run`<b>bold</b>`")
    cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8"))
    cfg.update(
        reward=HOSTILE, model=HOSTILE, task=HOSTILE, note="```\n</details><script>alert(3)</script>\n```"
    )
    (run / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    ev = json.loads((run / "eval.json").read_text(encoding="utf-8"))
    ev["reward"] = HOSTILE
    (run / "eval.json").write_text(json.dumps(ev), encoding="utf-8")
    return run


def test_hostile_config_values_stay_text_in_report_md(tmp_path):
    run = _hostile_run(tmp_path)
    out = tmp_path / "out"
    render_report([run], out)
    md = (out / "report.md").read_text(encoding="utf-8")
    html = markdown_it.MarkdownIt("commonmark").render(md)
    tags = {t.lower() for t in re.findall(r"<\s*([a-zA-Z][a-zA-Z0-9]*)", html)}
    assert "script" not in tags  # no script tag at all
    assert not re.search(r"<img[^>]*onerror", html, re.I), "an attribute from a config value became HTML"
    assert "<b>bold</b>" not in html  # the run directory's name is shown, not rendered
    # the value is still readable, verbatim, as code
    assert "onerror=alert(1)" in html and "alert(3)" in html


@pytest.mark.parametrize(
    "value",
    ["plain", "a`b", "``x``", "`", "```", "ends with `", "` starts", "multi\nline value", ""],
)
def test_code_span_shows_any_value_verbatim(value):
    from aigc_rl.report.render import _code

    html = markdown_it.MarkdownIt("commonmark").renderInline(_code(value))
    m = re.fullmatch(r"<code>(.*)</code>", html, re.S)
    assert m, html
    shown = m.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("&quot;", '"')
    assert shown == (" ".join(value.split()) or "—")
