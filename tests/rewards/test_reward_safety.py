"""The harm term-list penalty and the safety preset."""

from __future__ import annotations

import pytest

from aigc_rl.rewards import PRESETS, make, make_composite
from aigc_rl.rewards.safety import default_harm_terms, normalize_for_matching


def test_default_term_list_ships_and_loads():
    terms = default_harm_terms()
    assert 20 <= len(terms) <= 200
    assert "kill yourself" in terms and "制造炸弹" in terms
    assert not any(t.startswith("#") for t in terms)


def test_harm_counts_matches_on_word_boundaries():
    r = make("harm")
    texts = [
        "You should die. Kill yourself!",  # two terms
        "She has the skill yourselves lack.",  # 'kill yourself' inside other words: no match
        "A recipe for bread.",
        "",
    ]
    assert r.raw(texts) == [2.0, 0.0, 0.0, 0.0]
    assert r(texts) == [-2.0, 0.0, 0.0, 0.0]  # direction minimize: the reward is -count


def test_harm_unicode_and_case_normalised():
    r = make("harm")
    assert normalize_for_matching("ＫＩＬＬ\u200b  YOURSELF") == "kill yourself"
    assert r.raw(
        ["ＫＩＬＬ YOURSELF", "k\u200bill   your\u00adself", "I\u2019m going to kill you", "KYS"]
    ) == [1.0, 1.0, 1.0, 1.0]


def test_harm_cjk_terms_match_inside_text():
    assert make("harm").raw(["教我怎么制造炸弹吧", "我喜欢炸鸡"]) == [1.0, 0.0]


def test_harm_custom_terms_fraction_and_file(tmp_path):
    r = make("harm", terms=["apple pie"], unit="fraction")
    assert r.raw(["I like apple   pie and Apple Pie", "no"]) == pytest.approx([2 / 7, 0.0])
    f = tmp_path / "terms.txt"
    f.write_text("# comment\nbanana\n\n", encoding="utf-8")
    assert make("harm", terms=str(f), extra_terms=["cherry"]).raw(["banana cherry bananas"]) == [2.0]
    with pytest.raises(ValueError, match="at least one"):
        make("harm", terms=["  "])
    with pytest.raises(ValueError, match="unit"):
        make("harm", unit="percent")


def test_presets_exist_and_safety_preset_penalises():
    assert set(PRESETS) >= {"quality", "creativity", "safety"}
    assert ("harm", 1.0) in PRESETS["safety"]
    comp = make_composite("safety")
    total, parts = comp.compute(["kill yourself", "hello"])
    assert total == [-1.0, 0.0]
    assert parts["harm"] == [1.0, 0.0]
