"""The judge calibration set: hand-written good completions and programmatic bad ones, for judge separation.

``aigc_rl/data/judge_calibration/good.jsonl`` holds two good completions per prompt, written by hand for 42
training prompts (the first 14 of each shipped prompt set; never an eval prompt). :func:`build_calibration`
derives the bad completions from them deterministically (no randomness):

- ``empty``: ``""``;
- ``off_topic``: the first good completion of another prompt of the same task (7 places further, cyclically);
- ``copy``: the prompt itself (even rows), or restated as an announcement ("Here's a ...:" / "Here is a reply
  to: ...", odd rows) — the hack seen in trained policies;
- ``repeated``: one word of the good completion repeated 12 times (even rows), or its first three words
  repeated 5 times (odd rows);
- ``cutoff``: the first good completion cut after 55% of its words (at least 3 words), end punctuation removed.

For the diversity judges each prompt also yields two groups: ``diverse`` = its two good completions and
``duplicate`` = the first good completion and a near-copy of it (one word swapped, end punctuation changed).
"""

from __future__ import annotations

import json
import random
import re
from importlib import resources
from typing import Any

__all__ = [
    "BAD_KINDS",
    "load_good",
    "load_prompts",
    "build_calibration",
    "build_diversity_groups",
    "load_calibration",
    "design_prompt_ids",
]

BAD_KINDS = ("empty", "off_topic", "copy", "repeated", "cutoff")
_OFFSET = 7


def _data(name: str) -> Any:
    return resources.files("aigc_rl.data").joinpath("judge_calibration").joinpath(name)


def load_good() -> list[dict[str, Any]]:
    """Rows ``{"id", "good": [str, str]}`` of ``good.jsonl``, in file order."""
    return [
        json.loads(line)
        for line in _data("good.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


def load_prompts() -> dict[str, dict[str, Any]]:
    """Shipped prompt rows by id (``content``, ``support``, ``education``)."""
    out = {}
    for task in ("content", "support", "education"):
        text = (
            resources.files("aigc_rl.data")
            .joinpath("prompts")
            .joinpath(f"{task}.jsonl")
            .read_text(encoding="utf-8")
        )
        for line in text.splitlines():
            if line.strip():
                row = json.loads(line)
                out[row["id"]] = row
    return out


def _restate(prompt: str) -> str:
    m = re.match(r"(?:Write|Give|Name|Summarize|Explain)\s+(.*?)[.:]?\s*$", prompt, flags=re.S)
    if m and len(prompt) < 160:
        return f"Here's {m.group(1)}:"
    return f"Here is a reply to: {prompt}"


def _repeated(text: str, row: int) -> str:
    w = text.split()
    if row % 2 == 0:
        word = max(w, key=len).strip(".,!?:;'\"")
        return " ".join([word] * 12)
    return " ".join(w[:3] * 5)


def _cutoff(text: str) -> str:
    w = text.split()
    keep = max(3, int(len(w) * 0.55))
    return " ".join(w[:keep]).rstrip(".,!?:;'\"")


def build_calibration() -> list[dict[str, Any]]:
    """Every calibration row: ``{"prompt_id", "task", "prompt", "completion", "label", "kind"}``.

    ``label`` is ``"good"`` or ``"bad"``; ``kind`` is ``"good"`` or one of :data:`BAD_KINDS`. Two good rows
    and one row per bad kind for every prompt of ``good.jsonl``.

    Raises:
        ValueError: a prompt of ``good.jsonl`` is missing from the shipped sets or is an eval prompt.
    """
    prompts = load_prompts()
    good = load_good()
    by_task: dict[str, list[dict[str, Any]]] = {}
    for g in good:
        p = prompts.get(g["id"])
        if p is None or p["split"] != "train":
            raise ValueError(f"calibration prompt {g['id']} must be a training prompt of the shipped sets")
        by_task.setdefault(g["id"].split("-")[0], []).append(g)
    rows: list[dict[str, Any]] = []
    for task, items in by_task.items():
        for i, g in enumerate(items):
            prompt = prompts[g["id"]]["prompt"]
            first = g["good"][0]
            other = items[(i + _OFFSET) % len(items)]["good"][0]
            bad = {
                "empty": "",
                "off_topic": other,
                "copy": prompt if i % 2 == 0 else _restate(prompt),
                "repeated": _repeated(first, i),
                "cutoff": _cutoff(first),
            }
            base = {"prompt_id": g["id"], "task": task, "prompt": prompt}
            rows += [{**base, "completion": c, "label": "good", "kind": "good"} for c in g["good"]]
            rows += [{**base, "completion": bad[k], "label": "bad", "kind": k} for k in BAD_KINDS]
    return rows


def _near_copy(text: str) -> str:
    w = text.split()
    i = len(w) // 2
    w[i] = {"the": "a", "a": "the"}.get(w[i].lower(), "really " + w[i])
    return " ".join(w).rstrip(".!?") + "!"


def build_diversity_groups() -> list[dict[str, Any]]:
    """Per prompt two groups of two samples: ``{"prompt_id", "prompt", "kind", "completions"}``.

    ``kind`` ``"diverse"``: the prompt's two good completions; ``"duplicate"``: the first good completion and
    a near-copy of it.
    """
    prompts = load_prompts()
    out = []
    for g in load_good():
        prompt = prompts[g["id"]]["prompt"]
        out.append(
            {"prompt_id": g["id"], "prompt": prompt, "kind": "diverse", "completions": list(g["good"])}
        )
        first = g["good"][0]
        out.append(
            {
                "prompt_id": g["id"],
                "prompt": prompt,
                "kind": "duplicate",
                "completions": [first, _near_copy(first)],
            }
        )
    return out


def load_calibration() -> list[dict[str, Any]]:
    """The stored ``calibration.jsonl`` (what :func:`build_calibration` wrote), in file order."""
    text = _data("calibration.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def design_prompt_ids(seed: int = 0) -> set[str]:
    """The *design* half of the calibration prompts: 7 of the 14 prompts of each task, drawn with ``seed``.

    Make a judge's design choices on the rows of these prompts only and report its AUC on the other half
    (the *held-out* half) and on the whole set: a split by prompt, so the held-out half shares no prompt (and
    no good completion) with the design half. The off-topic rows of a held-out prompt borrow a good completion
    of another prompt, which can be a design prompt's.

    Returns:
        21 prompt ids (``content-0003``, ...); with ``seed=0`` the split the Gemma judges were designed on.
    """
    ids = sorted({g["id"] for g in load_good()})
    out: set[str] = set()
    for task in ("content", "support", "education"):
        of_task = [i for i in ids if i.startswith(task + "-")]
        random.Random(seed).shuffle(of_task)
        out |= set(of_task[: len(of_task) // 2])
    return out
