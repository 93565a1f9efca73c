"""The issue-11 rewards, through their re-exports in aigc_rl.judges.rewards: reference values, TRL's calling
convention, chat-format inputs. (The registered classes live in aigc_rl.rewards; see
tests/rewards/test_reward_hack_resistant.py.)"""

from __future__ import annotations

import pytest

from aigc_rl.judges.rewards import EADReward, NoCopyRelevance, SoftOverlongPenalty, as_text, completion_reward
from aigc_rl.rewards import make


def test_re_exports_are_the_registered_rewards():
    assert type(make("ead")) is EADReward and type(make("soft-overlong")) is SoftOverlongPenalty
    assert type(make("no-copy-relevance")) is NoCopyRelevance


def test_soft_overlong_penalty_reference_values():
    r = SoftOverlongPenalty(max_completion_len=32, soft_punish_cache=8)
    ids = [[7] * n for n in (10, 24, 26, 28, 32, 40)]
    # 0 up to 32 - 8 = 24 tokens, then (24 - n) / 8, -1 beyond (DAPO Eq. 13)
    assert r(["x"] * 6, completion_ids=ids) == [0.0, 0.0, -0.25, -0.5, -1.0, -1.0]
    assert r(["x", "y"]) == [None, None]
    with pytest.raises(ValueError, match="soft_punish_cache must be in"):
        SoftOverlongPenalty(32, 0)


def test_completion_reward_evidence_order():
    comps = ["Done.", "cut off", ""]
    assert completion_reward(comps) == [1.0, 0.0, 0.0]
    assert completion_reward(comps, completion_ids=[[5, 2], [5, 2], [2]], eos_token_id=2) == [1.0, 1.0, 0.0]
    assert completion_reward(comps, completion_ids=[[5, 6], [5, 1], [2]], eos_token_id=[1, 2]) == [
        0.0,
        1.0,
        0.0,
    ]
    assert completion_reward(comps, finished=[False, True, True]) == [0.0, 1.0, 0.0]
    chat = [[{"role": "assistant", "content": "Sure."}]]
    assert completion_reward(chat) == [1.0]
    assert completion_reward.__name__ == "completion"


def test_ead_reward():
    r = EADReward(n=1, vocab_size=4)
    # 2 distinct of 3 unigrams, V = 4: 2 / (4 (1 - (3/4)^3)) = 2 / (4 * 37/64) = 32/37
    assert r(["a a b", "", [{"role": "assistant", "content": "a a b"}]]) == pytest.approx(
        [32 / 37, 0.0, 32 / 37]
    )
    assert EADReward().__name__ == "ead"


def test_as_text():
    assert as_text("hi") == "hi"
    assert as_text([{"role": "assistant", "content": "yo"}]) == "yo"
    with pytest.raises(TypeError, match="expected a string or a list of chat messages, got int"):
        as_text(3)
