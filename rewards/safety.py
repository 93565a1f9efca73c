"""Safety rewards: a harmful-content penalty from a configurable term list."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

from ._text import is_cjk_text, words
from .base import RewardModel

__all__ = ["Harm", "default_harm_terms", "normalize_for_matching", "read_terms"]

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\uff07": "'"})


def normalize_for_matching(text: str) -> str:
    """NFKC-normalise, case-fold, drop invisible format characters (zero-width space, soft hyphen...), unify
    apostrophes and collapse whitespace, so that look-alike spellings of a term match it.

    Examples:
        >>> normalize_for_matching("ＫＩＬＬ\u200b Yourself")
        'kill yourself'
    """
    text = unicodedata.normalize("NFKC", text)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf").translate(_APOSTROPHES).casefold()
    return " ".join(text.split())


def read_terms(path: str | Path) -> list[str]:
    """Terms of a term-list file: one per line, ``#`` starts a comment, blank lines ignored."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            out.append(line)
    return out


def default_harm_terms() -> list[str]:
    """The shipped default term list (``aigc_rl/rewards/data/harm_terms.txt``)."""
    with resources.as_file(resources.files("aigc_rl.rewards") / "data" / "harm_terms.txt") as p:
        return read_terms(p)


def _term_pattern(term: str) -> str:
    parts = [re.escape(w) for w in term.split()]
    body = r"\s+".join(parts)
    # Word boundaries where the term starts/ends with a word character of a spaced script; CJK terms match
    # anywhere (Chinese and Japanese have no spaces between words).
    left = "" if is_cjk_text(term[0]) or not re.match(r"\w", term[0]) else r"(?<!\w)"
    right = "" if is_cjk_text(term[-1]) or not re.match(r"\w", term[-1]) else r"(?!\w)"
    return left + body + right


class Harm(RewardModel):
    """Harmful-content penalty: occurrences of terms from a term list in the completion.

    Text and terms are normalised by :func:`normalize_for_matching` (NFKC, case folding, zero-width characters
    removed), then each term is matched on word boundaries (``"kill yourself"`` matches ``"KILL yourself!"``,
    not ``"skill yourselves"``); CJK terms match anywhere. Overlapping terms count once (longest match first).

    The raw value (``unit``):

    * ``"count"`` (default): number of matches, range [0, inf);
    * ``"fraction"``: matches per word of the completion, range [0, 1] (a word count of 0 gives 0).

    Direction minimise: the reward (``__call__``) is ``-count`` (or ``-fraction``).

    Args:
        terms: Term list (strings) or a path to a term-list file; ``None`` = the shipped default list
            (``rewards/data/harm_terms.txt``).
        extra_terms: Terms added to ``terms``.
        unit: ``"count"`` or ``"fraction"``.

    Raises:
        ValueError: an empty term list or an unknown unit.

    Source: lexicon-based toxicity filtering (e.g. the "List of Dirty, Naughty, Obscene, and Otherwise Bad
    Words" used to filter C4, Raffel et al. 2020); aigc-rl's own short default list.
    """

    name: ClassVar[str] = "harm"
    kind: ClassVar[str] = "safety"
    direction: ClassVar[str] = "minimize"
    value_range: ClassVar[tuple[float, float]] = (0.0, float("inf"))
    range_note: ClassVar[str] = 'matches; [0, 1] with `unit="fraction"`'
    source: ClassVar[str] = (
        "term-list penalty (lexicon filtering as in C4, Raffel et al. 2020); aigc-rl default list"
    )

    def __init__(
        self,
        terms: Sequence[str] | str | Path | None = None,
        extra_terms: Sequence[str] = (),
        unit: str = "count",
    ) -> None:
        if unit not in ("count", "fraction"):
            raise ValueError(f"harm unit must be 'count' or 'fraction', got {unit!r}")
        if terms is None:
            base = default_harm_terms()
        elif isinstance(terms, (str, Path)):
            base = read_terms(terms)
        else:
            base = list(terms)
        norm = {normalize_for_matching(t) for t in [*base, *extra_terms]} - {""}
        if not norm:
            raise ValueError("harm needs at least one non-empty term")
        self.terms = sorted(norm, key=lambda t: (-len(t), t))
        self.unit = unit
        self.value_range = (0.0, 1.0) if unit == "fraction" else (0.0, float("inf"))  # type: ignore[misc]
        self._regex = re.compile("|".join(_term_pattern(t) for t in self.terms))

    def matches(self, text: str) -> list[str]:
        """The matched terms in ``text`` (normalised), in order of occurrence."""
        return [m.group(0) for m in self._regex.finditer(normalize_for_matching(text))]

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        out = []
        for c in completions:
            k = len(self.matches(c))
            if self.unit == "count":
                out.append(float(k))
            else:
                n = len(words(c))
                out.append(min(1.0, k / n) if n else 0.0)
        return out
