"""Registry contents, metadata, third-party rewards (entry points, dotted paths) and the output contract (A1)."""

from __future__ import annotations

import math
import re
import sys
import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

import aigc_rl.rewards.registry as registry
from aigc_rl.rewards import RewardModel, RewardOutputError, make, make_composite, names
from aigc_rl.rewards._builtin import BUILTIN_CLASSES, TEXT_REWARDS

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rewards.md"


def test_enough_quality_and_creativity_rewards_registered():
    kinds = {n: BUILTIN_CLASSES[n].kind for n in TEXT_REWARDS}
    assert set(TEXT_REWARDS) <= set(BUILTIN_CLASSES) <= set(names())
    assert sum(k == "quality" for k in kinds.values()) >= 8
    assert sum(k == "creativity" for k in kinds.values()) >= 5
    assert kinds["harm"] == "safety"
    for n in [
        "relevance",
        "fluency",
        "bleu",
        "chrf",
        "rouge-l",
        "sentiment",
        "readability",
        "distinct-1",
        "distinct-2",
        "self-bleu",
        "embedding-diversity",
        "novelty",
        "semantic-novelty",
        "harm",
        "reward-model",
        "judge",
        "length",
        "format",
    ]:
        assert n in names()


@pytest.mark.parametrize("name", sorted(TEXT_REWARDS))
def test_builtin_metadata(name):
    cls = BUILTIN_CLASSES[name]
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", name)
    assert cls.direction in ("maximize", "minimize")
    lo, hi = cls.value_range
    assert lo < hi
    assert cls.kind in ("quality", "creativity", "safety")
    assert cls.source, f"{name} must name its source"
    assert "range" in (cls.__doc__ or "").lower(), f"{name}: document the range"
    if name != "reward-model":  # needs model=
        r = make(name)
        assert r.name == name and r.__name__ == name  # TRL logs rewards by __name__
        assert r.info()["kind"] == cls.kind


def test_docs_table_lists_every_builtin_reward():
    text = DOCS.read_text(encoding="utf-8")
    text = text[text.index("<!-- reward-table:text begin") : text.index("<!-- reward-table:text end")]
    rows = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9-]+)` \|.*$", text, flags=re.M)}
    assert set(rows) == set(TEXT_REWARDS)
    for name, row in rows.items():
        cls = BUILTIN_CLASSES[name]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == cls.kind, name
        assert cells[3] == cls.direction, name


# --- third-party rewards -----------------------------------------------------------------------------------


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    (tmp_path / "my_rewards_pkg.py").write_text(
        textwrap.dedent(
            """
            from aigc_rl.rewards import RewardModel

            class Shouting(RewardModel):
                name = "shouting"
                value_range = (0.0, 1.0)

                def __init__(self, scale=1.0):
                    self.scale = scale

                def score(self, completions, prompts=None, **kw):
                    return [self.scale * sum(c.isupper() for c in t) / max(1, len(t)) for t in completions]

            def exclamations(completions, **kwargs):
                return [float(c.count("!")) for c in completions]

            def make_exclamations():
                return exclamations
            """
        ),
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "my_rewards_pkg"
    sys.modules.pop("my_rewards_pkg", None)


def test_third_party_reward_by_dotted_path(plugin_module):
    r = make("my_rewards_pkg:Shouting", scale=2.0)
    assert isinstance(r, RewardModel)
    assert r(["AB", "ab"]) == [2.0, 0.0]
    f = make("my_rewards_pkg:exclamations")  # a plain TRL-style function is wrapped (and validated)
    assert f(["hi!!", "no"]) == [2.0, 0.0]
    assert make("my_rewards_pkg:make_exclamations")(["!"]) == [1.0]
    with pytest.raises(ValueError, match="no attribute"):
        make("my_rewards_pkg:missing")


def test_third_party_reward_by_entry_point(plugin_module, monkeypatch):
    eps = [
        EntryPoint(name="shouting", value="my_rewards_pkg:Shouting", group="aigc_rl.rewards"),
        EntryPoint(name="exclaim", value="my_rewards_pkg:exclamations", group="aigc_rl.rewards"),
    ]

    def fake_entry_points(group=None, **kw):
        return [ep for ep in eps if ep.group == group]

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    assert {"shouting", "exclaim"} <= set(names())
    assert make("shouting", scale=3.0)(["A", "a"]) == [3.0, 0.0]
    comp = make_composite("shouting:1.0,exclaim:0.5")
    total, parts = comp.compute(["A!!", "a"])
    assert total == pytest.approx([1 / 3 + 0.5 * 2.0, 0.0])  # "A!!": 1 of 3 characters upper case, 2 "!"
    assert parts["exclaim"] == [2.0, 0.0]


def test_unknown_reward_lists_the_names():
    with pytest.raises(KeyError, match="available: .*bleu"):
        make("no-such-reward")


# --- case A1, huggingface/trl#6533: output contract --------------------------------------------------------------------------------


def test_case_a1_one_value_for_three_completions_is_an_error():
    """Case A1, huggingface/trl#6533: a reward that returns one value for a group of three completions raises, naming the reward and
    'expected 3 values, got 1'; the value is never broadcast."""

    def one_value(completions, **kwargs):
        return [1.0]

    from aigc_rl.rewards import FunctionReward

    with pytest.raises(RewardOutputError, match=r"'one-value'.*expected 3 values, got 1"):
        FunctionReward(one_value, name="one-value")(["a", "b", "c"])
    with pytest.raises(RewardOutputError, match="expected a list of 3 values"):
        FunctionReward(lambda completions, **k: 0.5, name="scalar")(["a", "b", "c"])


@pytest.mark.parametrize(
    "bad,index", [([0.1, math.nan, 0.3], 1), ([0.1, 0.2, math.inf], 2), ([-math.inf, 0, 0], 0)]
)
def test_case_a1_nan_or_inf_names_reward_and_index(bad, index):
    """Case A1, huggingface/trl#6533: NaN/inf values are an error naming the reward and the index of the first bad value."""
    from aigc_rl.rewards import FunctionReward

    with pytest.raises(RewardOutputError, match=rf"'bad-reward': value at index {index}"):
        FunctionReward(lambda completions, **k: bad, name="bad-reward")(["a", "b", "c"])


class _Broken(RewardModel):
    name = "broken"

    def __init__(self, out):
        self.out = out

    def score(self, completions, prompts=None, **kwargs):
        return self.out


def test_case_a1_applies_to_reward_model_subclasses_and_composites():
    """Case A1, huggingface/trl#6533: the same validation guards RewardModel subclasses and every component of a composite."""
    from aigc_rl.rewards import CompositeReward

    with pytest.raises(RewardOutputError, match="'broken': expected 2 values, got 1"):
        _Broken([1.0])(["a", "b"])
    comp = CompositeReward([(make("length"), 1.0), (_Broken([0.0, math.nan]), 1.0)])
    with pytest.raises(RewardOutputError, match="'broken': value at index 1"):
        comp(["a", "b"])
    assert _Broken([None, 1])(["a", "b"]) == [None, 1.0]  # None = not applicable is allowed


@pytest.fixture(scope="module")
def small_kwargs():
    from reward_models import make_causal_lm, make_classifier, make_tokenizer

    tok = make_tokenizer()
    return {
        "fluency": {"model": make_causal_lm(tok), "tokenizer": tok},
        "judge": {"model": make_causal_lm(tok), "tokenizer": tok},
        "reward-model": {"model": make_classifier(tok), "tokenizer": tok},
    }


@pytest.mark.parametrize("name", sorted(TEXT_REWARDS))
def test_case_b1_b2_every_reward_scores_empty_and_blank_completions(name, small_kwargs):
    """Cases B1/B2: empty and whitespace-only completions (form feed included) are scored, one finite value or
    None each, no exception, nothing dropped."""
    r = make(name, **small_kwargs.get(name, {}))
    comps = ["", "\f", " \t\n", "the cat sat on the mat."]
    prompts = ["tell me about the cat"] * 4
    out = r(comps, prompts, references=[["the cat sat"], "\f", "", "the cat sat on a mat"])
    assert len(out) == 4
    assert all(v is None or math.isfinite(v) for v in out)
    if name in (
        "bleu",
        "chrf",
        "rouge-l",
        "distinct-1",
        "distinct-2",
        "distinct-3",
        "novelty",
        "length",
        "format",
        "sentiment",
        "harm",
        "relevance",
        "embedding-diversity",
        "semantic-novelty",
        "self-bleu",
        "readability",
    ):
        assert out[:3] == [0.0, 0.0, 0.0], name


@pytest.mark.parametrize("name", ["bleu", "rouge-l", "distinct-2", "harm", "length", "self-bleu"])
def test_chat_message_completions_score_like_their_text(name):
    """TRL passes conversational completions as lists of messages; a reward scores their text."""
    texts = ["the cat sat on the mat.", "kill yourself, said the villain"]
    chats = [[{"role": "assistant", "content": t}] for t in texts]
    prompts = [[{"role": "user", "content": "tell me a story"}]] * 2
    refs = [["the cat sat on a mat"], ["a villain spoke"]]
    r = make(name)
    assert r(chats, prompts, references=refs) == r(texts, ["tell me a story"] * 2, references=refs)
