"""The judge calibration set: training prompts only, every bad kind, the stored file matches the builder."""

from __future__ import annotations

from collections import Counter

from aigc_rl.judges.calibration import (
    BAD_KINDS,
    build_calibration,
    build_diversity_groups,
    load_calibration,
    load_good,
    load_prompts,
)
from aigc_rl.judges.text import copy_rate, ends_sentence


def test_stored_file_is_what_the_builder_writes():
    assert load_calibration() == build_calibration()


def test_at_least_40_training_prompts_from_all_three_tasks_never_eval():
    prompts = load_prompts()
    good = load_good()
    assert len(good) >= 40
    assert Counter(g["id"].split("-")[0] for g in good) == {"content": 14, "support": 14, "education": 14}
    for g in good:
        row = prompts[g["id"]]
        assert row["split"] == "train" and int(g["id"].split("-")[1]) <= 140  # last 60 of 200 are eval
        assert len(g["good"]) == 2 and all(c.strip() for c in g["good"]) and g["good"][0] != g["good"][1]


def test_bad_kinds_are_what_they_say():
    rows = build_calibration()
    kinds = Counter(r["kind"] for r in rows)
    assert kinds == {"good": 84, **{k: 42 for k in BAD_KINDS}}
    good_texts = {r["completion"] for r in rows if r["kind"] == "good"}
    for r in rows:
        c = r["completion"]
        if r["kind"] == "empty":
            assert c == ""
        elif r["kind"] == "off_topic":
            assert c in good_texts and all(
                c not in g["good"] for g in load_good() if g["id"] == r["prompt_id"]
            )
        elif r["kind"] == "copy":
            assert copy_rate(c, r["prompt"]) >= 0.7
        elif r["kind"] == "repeated":
            assert len(set(c.split())) <= 3 and len(c.split()) >= 12
        elif r["kind"] == "cutoff":
            assert not ends_sentence(c) and len(c.split()) >= 3


def test_diversity_groups():
    groups = build_diversity_groups()
    assert len(groups) == 84 and Counter(g["kind"] for g in groups) == {"diverse": 42, "duplicate": 42}
    dup = [g for g in groups if g["kind"] == "duplicate"][0]
    a, b = dup["completions"]
    assert a != b and copy_rate(b, a) > 0.6
