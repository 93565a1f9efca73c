"""The held-out judges get their own table, apart from the training reward, in report.md/html/json."""

from __future__ import annotations

import json

from report_runs import make_healthy_text_run

from aigc_rl.report import render_report


def _with_judges(run):
    ev = json.loads((run / "eval.json").read_text())
    ev["judges"] = {
        "base": {"copy-rate": {"mean": 0.10, "ci95": [0.05, 0.15]}, "ead": {"mean": 0.9, "ci95": [0.8, 1.0]}},
        "tuned": {
            "copy-rate": {"mean": 0.40, "ci95": [0.30, 0.50]},
            "ead": {"mean": 0.5, "ci95": [0.4, 0.6]},
        },
    }
    ev["judges_skipped"] = {"gemma-judge": "needs the optional 'judges' extra"}
    (run / "eval.json").write_text(json.dumps(ev))
    return run


def test_judges_table_apart_from_the_reward(tmp_path):
    run = _with_judges(make_healthy_text_run(tmp_path / "r"))
    report = render_report([run], tmp_path / "out")
    r = report["runs"][0]
    assert r["judges"]["tuned"]["copy-rate"] == {"mean": 0.40, "ci95": [0.30, 0.50]}
    assert "copy-rate" not in r["policies"]["tuned"]  # not mixed into the training-reward table
    assert r["judge_info"]["copy-rate"] == {"kind": "copy", "direction": "lower", "range": [0.0, 1.0]}
    assert r["judge_info"]["ead"]["range"] == [0.0, None]  # unbounded side is null in strict JSON
    assert r["judges_skipped"] == {"gemma-judge": "needs the optional 'judges' extra"}
    md = (tmp_path / "out" / "report.md").read_text()
    section = md.split("### Held-out judges: never trained on")[1].split("###")[0]
    assert "| copy-rate | copy | lower | 0.1 | [0.05, 0.15] | 0.4 | [0.3, 0.5] | +0.3 |" in section
    assert "| ead | diversity | higher | 0.9 |" in section and "-0.4" in section
    assert "Not run: gemma-judge (needs the optional 'judges' extra)" in section
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<h3>Held-out judges: never trained on</h3>" in html
    assert "<caption>Held-out judges of r per policy</caption>" in html
    json.loads((tmp_path / "out" / "report.json").read_text(), parse_constant=lambda c: 1 / 0)  # strict JSON


def test_no_judges_no_table_and_bad_judges_noted(tmp_path):
    run = make_healthy_text_run(tmp_path / "plain")
    report = render_report([run], tmp_path / "out")
    assert report["runs"][0]["judges"] == {} and report["runs"][0]["judges_skipped"] == {}
    assert "Held-out judges" not in (tmp_path / "out" / "report.md").read_text()
    ev = json.loads((run / "eval.json").read_text())
    ev["judges"] = [1, 2]
    (run / "eval.json").write_text(json.dumps(ev))
    r = render_report([run], tmp_path / "out2")["runs"][0]
    assert r["judges"] == {} and any('"judges" is not a mapping' in p for p in r["problems"])
