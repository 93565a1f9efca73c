"""Issue 10, reports: ``metrics.jsonl`` is streamed, so the report's memory does not grow with the log.

Before: ``aigc-rl report`` on a 951 MB ``metrics.jsonl`` took 7.7 GB of memory (every row kept as a dict).
"""

from __future__ import annotations

import json
import tracemalloc

from aigc_rl.report.runs import MAX_LINE_CHARS, MAX_METRIC_ROWS, _read_jsonl, load_run


def _write_metrics(path, n_rows: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n_rows):
            row = {
                "step": i + 1,
                "reward": i / n_rows,
                "kl": 0.01,
                "rewards/relevance/mean": 0.5,
                "pad": "x" * 100,
            }
            f.write(json.dumps(row) + "\n")


def _peak_bytes(path) -> int:
    tracemalloc.start()
    try:
        rows = _read_jsonl(path, [], max_rows=MAX_METRIC_ROWS)
        return tracemalloc.get_traced_memory()[1], rows
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_log(tmp_path):
    small, big = tmp_path / "small.jsonl", tmp_path / "big.jsonl"
    _write_metrics(small, 20_000)  # ~3.5 MB
    _write_metrics(big, 200_000)  # ~35 MB
    peak_small, rows_small = _peak_bytes(small)
    peak_big, rows_big = _peak_bytes(big)
    assert peak_big < 1.5 * peak_small + 1_000_000, (peak_small, peak_big)
    assert peak_big < 10_000_000  # well under the 35 MB file
    for rows, n in ((rows_small, 20_000), (rows_big, 200_000)):
        assert MAX_METRIC_ROWS <= len(rows) <= 2 * MAX_METRIC_ROWS + 1
        assert rows[0]["step"] == 1 and rows[-1]["step"] == n  # first and last kept
        steps = [r["step"] for r in rows[:-1]]
        gaps = {b - a for a, b in zip(steps, steps[1:], strict=False)}
        assert len(gaps) == 1  # evenly spaced


def test_short_logs_are_kept_whole_and_thinning_is_noted(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    _write_metrics(run / "metrics.jsonl", 50)
    r = load_run(run)
    assert [m["step"] for m in r.metrics] == list(range(1, 51))
    assert not any("metrics.jsonl" in p for p in r.problems)
    _write_metrics(run / "metrics.jsonl", 3 * MAX_METRIC_ROWS)
    r = load_run(run)
    assert any(
        p.startswith(f"metrics.jsonl: {3 * MAX_METRIC_ROWS} rows; one in 2 is shown") for p in r.problems
    ), r.problems


def test_overlong_line_is_skipped_without_reading_it_whole(tmp_path):
    p = tmp_path / "metrics.jsonl"
    with p.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"step": 1}) + "\n")
        f.write('{"step": 2, "junk": "' + "y" * (3 * MAX_LINE_CHARS) + '"}\n')
        f.write(json.dumps({"step": 3}) + "\n")
    problems: list[str] = []
    rows = _read_jsonl(p, problems)
    assert [r["step"] for r in rows] == [1, 3]
    assert problems == ["metrics.jsonl: 1 line(s) are not JSON objects and were skipped (line 2)"]
