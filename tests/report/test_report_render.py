"""render_report over realistic run directories: files written, escaping, bad input, comparisons, Pareto."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest
from report_runs import SCRIPT, make_healthy_text_run, write_config

from aigc_rl.report import render_report
from aigc_rl.report.build import pareto_front, select_samples


def test_writes_html_md_json_and_figures(full_report):
    report, out = full_report
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    on_disk = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert on_disk == report
    assert report["schema"] == "aigc-rl-report/1"
    assert [r["name"] for r in report["runs"]] == ["grpo-qc", "grpo-rel", "ppo-digits", "crashed"]
    figs = report["files"]["figures"]
    assert sorted(figs) == sorted(
        [
            "training-grpo-qc.png",
            "training-grpo-rel.png",
            "training-ppo-digits.png",
            "training-crashed.png",
            "samples-ppo-digits-base.png",
            "samples-ppo-digits-tuned.png",
            "pareto-text.png",
            "pareto-image.png",
            "curves-text.png",
        ]
    )
    md = (out / "report.md").read_text(encoding="utf-8")
    for f in figs:
        assert (out / f).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({f})" in md  # relative link next to report.md
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') == len(figs)
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing remote: opens offline
    assert "<link" not in html and "@import" not in html and "url(" not in html


def test_completions_are_escaped(full_report):
    """A completion holding <script> is shown as text in HTML and Markdown, never as markup."""
    _, out = full_report
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html
    assert (
        "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; Tuned answer with markup &amp; pipes | here" in html
    )
    assert "Describe a &lt;b&gt;sunrise&lt;/b&gt; over the sea." in html
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "<script" not in md and "<b>sunrise" not in md
    assert (
        "&lt;script&gt;alert('x')&lt;/script&gt; Tuned answer with markup &amp; pipes \\| here<br>second line"
        in md
    )
    report, _ = full_report
    best = report["runs"][0]["samples"]["best"][0]
    assert best["tuned"].startswith(SCRIPT)  # report.json keeps the raw text


def test_config_and_tables(full_report):
    report, out = full_report
    qc = report["runs"][0]
    assert (qc["kind"], qc["model"], qc["task"], qc["reward"]) == (
        "text",
        "smollm2-135m-instruct",
        "content",
        "quality+creativity",
    )
    assert qc["components"] == ["relevance", "fluency", "distinct-2"]  # from eval.json
    assert qc["metric_order"] == [
        "reward",
        "relevance",
        "fluency",
        "distinct-2",
        "distinct-2-corpus",
        "length",
        "repetition",
    ]
    assert qc["policies"]["tuned"]["relevance"] == {"mean": 0.41, "ci95": pytest.approx([0.39, 0.43])}
    assert qc["metric_info"]["fluency"]["category"] == "quality"
    assert qc["metric_info"]["distinct-2"]["category"] == "creativity"
    assert qc["training"]["n_rows"] == 30 and qc["training"]["last_step"] == 150
    html = (out / "report.html").read_text(encoding="utf-8")
    assert (
        '<th scope="row">fluency</th><td>quality</td><td class="num">-2.61</td><td class="num">[-2.69, -2.53]</td>'
        in html
    )
    assert "+0.46 (+18%)" in html  # fluency change tuned - base, relative to |base|


def test_hacked_run_flags_every_check(full_report):
    report, out = full_report
    diags = {d["check"]: d for d in report["runs"][0]["diagnostics"]}
    assert {k: d["status"] for k, d in diags.items()} == {
        "length-drift": "warning",
        "repetition": "warning",
        "diversity-collapse": "warning",
        "kl-budget": "warning",
        "reward-vs-quality": "warning",
        "prompt-copy": "warning",
        "cut-off": "warning",
        "entropy-collapse": "warning",
        "negative-kl": "warning",
        "reward-vs-judges": "warning",
    }
    assert diags["length-drift"]["values"]["relative_change"] == pytest.approx(36.5 / 22 - 1)
    assert "66% longer" in diags["length-drift"]["message"]
    assert diags["repetition"]["values"]["rise"] == pytest.approx(0.11)
    assert diags["diversity-collapse"]["values"]["metrics"]["distinct-2"]["relative_change"] == pytest.approx(
        0.40 / 0.62 - 1
    )
    # final KL = mean of the last 10% of 30 rows (3 rows) of 1.3 * t**1.5, t = i / 29
    final = sum(1.3 * (i / 29) ** 1.5 for i in (27, 28, 29)) / 3
    assert diags["kl-budget"]["values"]["final"] == pytest.approx(final)
    assert (
        diags["kl-budget"]["values"]["budget"] == 0.5
        and diags["kl-budget"]["values"]["budget_source"] == "default"
    )
    assert "relevance fell 0.48 → 0.41" in diags["reward-vs-quality"]["message"]
    assert (
        "31% of a tuned completion's word 3-grams are found in the prompt, against 2.0%"
        in (diags["prompt-copy"]["message"])
    )
    assert diags["cut-off"]["values"]["from"] == "evaluation"  # eval.json's judge wins over training
    assert "4.0% of the tuned policy's completions end inside the token limit" in diags["cut-off"]["message"]
    # entropy 3.4 -> 1.1 linearly over 30 rows; first and last 3 rows averaged
    start, final = 3.4 - 2.3 * (1 / 29), 1.1 + 2.3 * (1 / 29)
    assert diags["entropy-collapse"]["values"]["start"] == pytest.approx(start)
    assert f"{start:.3g} → {final:.3g} nats per token" in diags["entropy-collapse"]["message"]
    assert "lowest -0.04 at step 10" in diags["negative-kl"]["message"]
    judges_msg = diags["reward-vs-judges"]["message"]
    assert "gemma-judge fell 0.46 → 0.31" in judges_msg
    assert "gemma-fluency rose (lower is better) 3.1 → 3.45" in judges_msg
    assert "mpnet-relevance" not in judges_msg  # it rose: not named
    assert len(report["findings"]) == 10 and {f["run"] for f in report["findings"]} == {"grpo-qc"}
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "| Prompt copying | Warning | The tuned policy copies the prompt:" in md
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<tr class="warning"><th scope="row">Entropy collapse</th>' in html


def test_healthy_run_passes_with_config_budget(full_report):
    report, _ = full_report
    diags = {d["check"]: d for d in report["runs"][1]["diagnostics"]}
    assert all(d["status"] == "ok" for d in diags.values()), diags
    assert diags["kl-budget"]["values"]["budget"] == 0.2
    assert diags["kl-budget"]["values"]["budget_source"] == "config.yaml kl_budget"
    # self-BLEU is minimised: lower self-BLEU is more diverse, so 0.35 -> 0.30 is no collapse
    assert diags["diversity-collapse"]["values"]["metrics"]["self-bleu"]["relative_change"] > 0
    # held-out judges agree with the reward: copy +3 points (< 5), completion -3 points (< 5), judges better
    assert diags["prompt-copy"]["values"]["rise"] == pytest.approx(0.03)
    assert diags["cut-off"]["values"]["drop"] == pytest.approx(0.03)
    assert diags["reward-vs-judges"]["values"]["judges"]["gemma-fluency"]["worse"] is False


def test_broken_run_reports_what_is_missing(full_report):
    report, out = full_report
    crashed = report["runs"][3]
    assert crashed["missing"] == ["eval.json", "samples.jsonl"]
    assert crashed["problems"] == ["metrics.jsonl: 1 line(s) are not JSON objects and were skipped (line 5)"]
    assert crashed["training"]["n_rows"] == 4 and crashed["figures"] == {"training": "training-crashed.png"}
    status = {d["check"]: d["status"] for d in crashed["diagnostics"]}
    assert status == {
        "length-drift": "ok",
        "repetition": "skipped",
        "diversity-collapse": "skipped",
        "kl-budget": "ok",
        "reward-vs-quality": "skipped",
        "prompt-copy": "skipped",
        "cut-off": "skipped",
        "entropy-collapse": "ok",
        "negative-kl": "ok",
        "reward-vs-judges": "skipped",
    }
    assert {"run": "crashed", "text": "missing eval.json, samples.jsonl"} in report["input_notes"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<strong>Missing files:</strong> eval.json, samples.jsonl." in html
    assert "No evaluation (eval.json is missing)." in html


def test_different_reward_sets_compare_shared_and_list_the_rest(full_report):
    report, out = full_report
    cmp = report["comparisons"]["text"]
    assert cmp["runs"] == ["grpo-qc", "grpo-rel"]  # the crashed run has no eval
    assert cmp["shared"] == ["relevance", "distinct-2-corpus", "length", "repetition"]
    assert cmp["not_shared"] == {
        "reward": ["grpo-qc", "grpo-rel"],
        "fluency": ["grpo-qc"],
        "distinct-2": ["grpo-qc"],
        "self-bleu": ["grpo-rel"],
    }
    assert cmp["reward_comparable"] is False
    assert cmp["table"]["relevance"]["grpo-rel · tuned"]["mean"] == 0.56
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<code>self-bleu</code>: grpo-rel" in html
    assert "<code>reward</code>: grpo-qc, grpo-rel (defined by a different reward spec in each run)" in html


def test_pareto_scores_by_hand(full_report):
    """Quality = relevance mapped from [-1, 1] to [0, 1]; creativity = distinct-2-corpus (already in [0, 1])."""
    report, _ = full_report
    par = report["comparisons"]["text"]["pareto"]
    assert par["quality_metrics"] == ["relevance"] and par["creativity_metrics"] == ["distinct-2-corpus"]
    got = {p["label"]: (p["quality"], p["creativity"], p["on_front"]) for p in par["points"]}
    assert got == {
        "grpo-qc · base": (pytest.approx(0.74), 0.55, False),
        "grpo-qc · tuned": (pytest.approx(0.705), 0.31, False),
        "grpo-rel · base": (pytest.approx(0.74), 0.55, False),
        "grpo-rel · tuned": (pytest.approx(0.78), 0.58, True),
    }
    img = {
        p["label"]: (p["quality"], p["creativity"], p["on_front"])
        for p in report["comparisons"]["image"]["pareto"]["points"]
    }
    assert img == {"ppo-digits · base": (0.10, 0.80, True), "ppo-digits · tuned": (0.84, 0.66, True)}


def test_pareto_front_hand_cases():
    assert pareto_front([(0.1, 0.9), (0.5, 0.5), (0.4, 0.4), (0.9, 0.1)]) == [True, True, False, True]
    assert pareto_front([(0.5, 0.5), (0.5, 0.5)]) == [True, True]  # equal points do not dominate each other
    assert pareto_front([(0.5, 0.5), (0.5, 0.6)]) == [False, True]
    assert pareto_front([]) == []


def test_image_run_embeds_both_grids(full_report):
    report, out = full_report
    img = report["runs"][2]
    assert img["kind"] == "image" and img["samples"] is None
    assert img["figures"]["samples_base"] == "samples-ppo-digits-base.png"
    assert (out / "samples-ppo-digits-tuned.png").read_bytes() == (
        Path(img["path"]) / "samples_tuned.png"
    ).read_bytes()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert 'alt="Grid of generated samples from the base policy of run ppo-digits."' in html
    assert 'alt="Grid of generated samples from the tuned policy of run ppo-digits."' in html


def test_sample_selection_best_and_worst(full_report):
    report, _ = full_report
    s = report["runs"][0]["samples"]
    assert s["n_samples"] == 32 and s["n_prompts_paired"] == 8
    # delta of prompt k is 0.25 - 0.06 k: best k = 0, 1, 2; worst k = 7, 6, 5
    assert [round(i["delta"], 6) for i in s["best"]] == [0.25, 0.19, 0.13]
    assert [round(i["delta"], 6) for i in s["worst"]] == [-0.17, -0.11, -0.05]
    assert s["best"][0]["n_base"] == 2 and s["best"][0]["base_reward"] == pytest.approx(0.455)


def test_select_samples_without_rewards_shows_examples():
    rows = [
        {"prompt": [{"role": "user", "content": "hi"}], "policy": p, "completion": c}
        for p, c in (("base", "hello"), ("tuned", "hey there"))
    ]
    s = select_samples(rows, n=2)
    assert s["best"] == [] and s["worst"] == []
    assert s["examples"][0]["prompt"] == "hi" and s["examples"][0]["tuned"] == "hey there"


def test_missing_everything_and_bad_paths(tmp_path):
    empty = tmp_path / "empty-run"
    empty.mkdir()
    report = render_report([empty], tmp_path / "out")
    run = report["runs"][0]
    assert run["missing"] == ["config.yaml", "metrics.jsonl", "eval.json", "samples.jsonl"]
    assert run["kind"] is None and run["diagnostics"] == [] and run["figures"] == {}
    assert (tmp_path / "out" / "report.html").is_file()
    with pytest.raises(FileNotFoundError, match="does-not-exist"):
        render_report([tmp_path / "does-not-exist"], tmp_path / "out2")
    with pytest.raises(ValueError, match="at least one run"):
        render_report([], tmp_path / "out3")


def test_unreadable_files_are_reported(tmp_path):
    run = tmp_path / "bad"
    run.mkdir()
    (run / "config.yaml").write_text("kind: [text\n", encoding="utf-8")
    (run / "eval.json").write_text(
        '{"n_prompts": 3, "policies": {"base": {"reward": {"mean": NaN, "ci95": [NaN, 1]}}}}'
    )
    (run / "metrics.jsonl").write_text("[1, 2]\n\n", encoding="utf-8")
    report = render_report([run], tmp_path / "out")
    r = report["runs"][0]
    assert r["problems"][0].startswith("config.yaml could not be parsed")
    assert "metrics.jsonl: 1 line(s) are not JSON objects" in r["problems"][1]
    assert r["policies"] == {"base": {"reward": {"mean": None, "ci95": None}}}  # NaN from json.dumps -> None
    text = (tmp_path / "out" / "report.json").read_text()
    assert "NaN" not in text


def test_duplicate_run_names_are_made_unique(tmp_path):
    a = make_healthy_text_run(tmp_path / "seed0" / "run")
    b = make_healthy_text_run(tmp_path / "seed1" / "run")
    report = render_report([a, b], tmp_path / "out")
    assert [r["name"] for r in report["runs"]] == ["seed0/run", "seed1/run"]
    assert "training-seed0-run.png" in report["files"]["figures"]
    cmp = report["comparisons"]["text"]
    assert cmp["reward_comparable"] is True and cmp["shared"][0] == "reward"


def test_kind_from_env_id_and_kl_budget_from_eval(tmp_path):
    run = make_healthy_text_run(tmp_path / "r")
    write_config(run, env="aigc_rl/TextCompletion-v0", model="m", reward="relevance")
    ev = json.loads((run / "eval.json").read_text())
    ev.pop("kind")
    ev["kl_budget"] = 0.05
    (run / "eval.json").write_text(json.dumps(ev))
    report = render_report([run], tmp_path / "out")
    r = report["runs"][0]
    assert r["kind"] == "text"
    kl = next(d for d in r["diagnostics"] if d["check"] == "kl-budget")
    assert kl["status"] == "warning" and kl["values"]["budget_source"] == "eval.json"
    assert math.isclose(kl["values"]["budget"], 0.05)
