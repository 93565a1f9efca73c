"""Shipped SFT demonstrations (aigc_rl/data/demos): well formed and disjoint from the shipped prompt sets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import aigc_rl
from aigc_rl.prompts import load_prompts

DEMOS = Path(aigc_rl.__file__).resolve().parent / "data" / "demos"
TASKS = ["content", "support", "education"]
# A demo prompt whose word set overlaps a prompt-set prompt's this much (Jaccard) counts as a near-copy. Copying
# a prompt of n distinct words and changing one word gives (n-1)/(n+1): 0.8 for the shortest shipped prompt
# (9 words). The prompt sets are built from a few templates, so a demo that reuses a template with another subject
# scores 0.6-0.7; the shipped demos stay below 0.7 (highest 0.69) against every train and eval prompt.
NEAR_COPY = 0.7


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", text.lower()))


def _jaccard(a: str, b: str) -> float:
    wa, wb = _words(a), _words(b)
    return len(wa & wb) / len(wa | wb)


def _demos(task: str) -> list[dict]:
    lines = (DEMOS / f"{task}.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("task", TASKS)
def test_demo_file_is_well_formed(task):
    rows = _demos(task)
    assert len(rows) >= 100
    for i, row in enumerate(rows, 1):
        assert set(row) == {"id", "prompt", "completion"}
        assert row["id"] == f"{task}-demo-{i:04d}"
        for key in ("prompt", "completion"):
            assert isinstance(row[key], str) and row[key].strip() == row[key] and row[key]
        assert 8 <= len(row["prompt"].split()) <= 30  # the prompt sets' length range
        # A demonstration answers directly: no placeholder such as [Name] and no preamble.
        assert not re.search(r"[\[\]{}]", row["completion"]), row
        assert not re.match(r"(here'?s|here is|sure|certainly)\b", row["completion"].lower()), row
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({_norm(r["prompt"]) for r in rows}) == len(rows)


@pytest.mark.parametrize("task", TASKS)
def test_demo_prompts_are_not_prompt_set_prompts(task):
    shipped = {_norm(r["prompt"]) for r in load_prompts(task, "all")}
    assert not [r["prompt"] for r in _demos(task) if _norm(r["prompt"]) in shipped]


@pytest.mark.parametrize("task", TASKS)
def test_demo_prompts_are_not_near_copies_of_prompt_set_prompts(task):
    shipped = [r["prompt"] for r in load_prompts(task, "all")]
    close = [(d["prompt"], s) for d in _demos(task) for s in shipped if _jaccard(d["prompt"], s) >= NEAR_COPY]
    assert not close
    # The check would catch any prompt-set prompt (eval ones included) copied with one word changed.
    for s in shipped:
        assert _jaccard("Zzz " + s.split(" ", 1)[1], s) >= NEAR_COPY, s


def test_near_copy_check_catches_a_one_word_change():
    ev = "Write a catchy slogan for a ride-share scooter service in under ten words."
    assert _jaccard(ev.replace("catchy", "snappy"), ev) == pytest.approx(12 / 14)
    assert _jaccard(ev.replace("scooter", "bike"), ev) >= NEAR_COPY
    short = "Explain in two sentences why the Moon has craters."
    assert _jaccard(short.replace("Moon", "Mercury"), short) == pytest.approx(8 / 10)
    assert _jaccard("Write a slogan for a bakery.", "Explain why ice floats on water.") == 0.0
