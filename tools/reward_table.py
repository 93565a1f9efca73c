"""Write the reward tables of README.md, docs/rewards.md and docs/images.md from the reward registry.

The preset table (docs/rewards.md) comes from :mod:`aigc_rl.rewards.spec`.

Each table sits between two marker comments, ``<!-- reward-table:ID begin ... -->`` and
``<!-- reward-table:ID end -->``; only the text between them is replaced. The rows come from
:func:`aigc_rl.rewards.registry.reward_infos` (each reward class's ``kind``, ``direction``, ``value_range``,
``range_note``, needs, ``source`` and docstring), so a table can never disagree with the rewards.
``tests/rewards/test_reward_table.py`` fails when a committed table differs from the generated one.

Usage: ``python tools/reward_table.py`` rewrites the tables; ``python tools/reward_table.py --check`` only
compares (exit status 1 and the names of the stale files when one differs).
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

from aigc_rl.rewards.registry import RewardInfo, reward_infos
from aigc_rl.rewards.spec import IMAGE_PRESETS, PRESETS

ROOT = Path(__file__).resolve().parent.parent


def _num(x: float) -> str:
    return f"{x:g}"


def format_range(info: RewardInfo) -> str:
    """``[0, 1]``, ``(-inf, 0]``, ``[0, inf)``, then the reward's ``range_note`` in parentheses if it has one."""
    lo, hi = info.value_range
    left = "(-inf" if math.isinf(lo) else f"[{_num(lo)}"
    right = "inf)" if math.isinf(hi) else f"{_num(hi)}]"
    text = f"{left}, {right}"
    return f"{text} ({info.range_note})" if info.range_note else text


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _needs(info: RewardInfo) -> str:
    return ", ".join(n for n in info.needs if n != "images") or "–"


def full_table(modality: str) -> str:
    """The docs table of one modality: name, kind, range, direction, needs, what it measures, source."""
    rows = [
        "| name | kind | range | direction | needs | measures | source |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for i in reward_infos(modality):
        cells = [f"`{i.name}`", i.kind, format_range(i), i.direction, _needs(i), i.summary, i.source]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def compact_table() -> str:
    """The README table: every reward, text and image, without the long columns."""
    rows = [
        "| name | kind | scores | range | direction | needs |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for i in reward_infos():
        lo, hi = i.value_range
        rng = format_range(RewardInfo(i.name, i.kind, i.modality, i.direction, (lo, hi)))  # without the note
        cells = [f"`{i.name}`", i.kind, i.modality, rng, i.direction, _needs(i)]
        rows.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(rows)


def presets_table() -> str:
    """The presets of :mod:`aigc_rl.rewards.spec`, text and image meaning side by side."""

    def expand(components: list[tuple[str, float]] | None) -> str:
        if not components:
            return "–"
        return " + ".join(f"`{c}`" if w == 1 else f"{w:g} × `{c}`" for c, w in components)

    rows = ["| preset | text runs | image runs |", "| --- | --- | --- |"]
    for name in dict.fromkeys([*PRESETS, *IMAGE_PRESETS]):
        rows.append(f"| `{name}` | {expand(PRESETS.get(name))} | {expand(IMAGE_PRESETS.get(name))} |")
    return "\n".join(rows)


#: (file relative to the repository root, table id, generator).
TABLES: list[tuple[str, str, Callable[[], str]]] = [
    ("README.md", "all", compact_table),
    ("docs/rewards.md", "text", lambda: full_table("text")),
    ("docs/rewards.md", "presets", presets_table),
    ("docs/images.md", "image", lambda: full_table("image")),
]


def _pattern(table_id: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- reward-table:{table_id} begin[^>]*-->\n)(.*?)(<!-- reward-table:{table_id} end -->)", re.S
    )


def render(text: str, table_id: str, table: str, path: str = "") -> str:
    """``text`` with the table ``table_id`` replaced by ``table``.

    Raises:
        ValueError: the file has no (or more than one) pair of markers for ``table_id``.
    """
    pat = _pattern(table_id)
    if len(pat.findall(text)) != 1:
        raise ValueError(f"{path or 'text'}: expected one pair of reward-table:{table_id} markers")
    return pat.sub(lambda m: m.group(1) + table + "\n" + m.group(3), text)


def _generated(root: Path) -> dict[str, tuple[str, str]]:
    """``{file: (committed text, text with every table regenerated)}``."""
    out: dict[str, tuple[str, str]] = {}
    for rel, table_id, make in TABLES:
        old = out[rel][0] if rel in out else (root / rel).read_text(encoding="utf-8")
        cur = out[rel][1] if rel in out else old
        out[rel] = (old, render(cur, table_id, make(), rel))
    return out


def stale(root: Path = ROOT) -> list[str]:
    """Files whose committed tables differ from the generated ones."""
    return [rel for rel, (old, new) in _generated(root).items() if old != new]


def write(root: Path = ROOT) -> list[str]:
    """Rewrite every table; returns the files that changed."""
    changed = []
    for rel, (old, new) in _generated(root).items():
        if new != old:
            (root / rel).write_text(new, encoding="utf-8")
            changed.append(rel)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 when a table is stale")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for rel in bad:
            print(f"{rel}: reward table is stale; run python tools/reward_table.py", file=sys.stderr)
        return 1 if bad else 0
    for rel in write():
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
