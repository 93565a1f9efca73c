"""Third-party rewards for the dotted-path tests (``aigc_rl_test_plugins.rewards:make_shouting``)."""

from __future__ import annotations

from aigc_rl.rewards import RewardModel


class Shouting(RewardModel):
    """Share of upper-case characters in a completion. Range [0, 1], maximise."""

    name = "shouting"
    kind = "quality"
    value_range = (0.0, 1.0)
    source = "aigc-rl tests"

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    def score(self, completions, prompts=None, **kwargs):
        return [self.scale * sum(c.isupper() for c in t) / max(1, len(t)) for t in completions]


def make_shouting(scale: float = 1.0) -> Shouting:
    """A factory: ``make("aigc_rl_test_plugins.rewards:make_shouting")``."""
    return Shouting(scale=scale)


def exclamations(completions, **kwargs):
    """A plain TRL-style reward function: the number of '!' per completion."""
    return [float(c.count("!")) for c in completions]
