"""Reward-spec grammar (names, presets, dotted paths ``pkg.module:factory``, weights) and weight bounds."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from aigc_rl.config import ConfigError, TrainConfig
from aigc_rl.rewards import CompositeReward, make, make_composite
from aigc_rl.rewards.registry import RewardImportError
from aigc_rl.rewards.spec import MAX_WEIGHT, image_reward_pairs, is_dotted_path, parse_items, parse_spec

PLUGIN = "aigc_rl_test_plugins.rewards"


@pytest.fixture
def plugins(monkeypatch):
    """Make the stand-in third-party package ``aigc_rl_test_plugins`` (next to this file) importable."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent))
    yield PLUGIN
    for mod in [m for m in sys.modules if m.startswith("aigc_rl_test_plugins")]:
        sys.modules.pop(mod)


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("quality+creativity", [("relevance", 1.0), ("fluency", 0.1), ("distinct-2", 0.5)]),
        ("relevance:1.0,distinct-2:0.5", [("relevance", 1.0), ("distinct-2", 0.5)]),
        (
            "creativity+self-bleu:0.5+relevance:0.5",
            [("distinct-2", 0.5), ("self-bleu", 0.5), ("relevance", 0.5)],
        ),
        ("quality:2+creativity:0.5", [("relevance", 2.0), ("fluency", 0.2), ("distinct-2", 0.25)]),
        (" relevance : 2 , harm:-1 ", [("relevance", 2.0), ("harm", -1.0)]),
        ("relevance:0+distinct-2:1", [("relevance", 0.0), ("distinct-2", 1.0)]),  # one zero is fine
        ("relevance:1e+06+distinct-2", [("relevance", 1e6), ("distinct-2", 1.0)]),  # exponent sign, not a "+"
        ("relevance:2.5E+2,distinct-2:.5", [("relevance", 250.0), ("distinct-2", 0.5)]),
        ("relevance:1e-3", [("relevance", 0.001)]),
    ],
)
def test_existing_and_numeric_specs(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize(
    "spec,expected",
    [
        (f"{PLUGIN}:make_shouting", [(f"{PLUGIN}:make_shouting", 1.0)]),
        (f"{PLUGIN}:make_shouting:0.5", [(f"{PLUGIN}:make_shouting", 0.5)]),
        (f"{PLUGIN}:Shouting:2,relevance", [(f"{PLUGIN}:Shouting", 2.0), ("relevance", 1.0)]),
        (
            f"quality+{PLUGIN}:exclamations:1e+2",
            [("relevance", 1.0), ("fluency", 0.1), (f"{PLUGIN}:exclamations", 100.0)],
        ),
        ("top_level_module:factory:1", [("top_level_module:factory", 1.0)]),  # no dot: weight required
    ],
)
def test_dotted_paths_parse(spec, expected):
    """Case (issue 10): ``pkg.module:factory`` is a reward, not a name with weight 'factory'."""
    assert parse_spec(spec) == expected


def test_dotted_path_spec_builds_the_real_factory(plugins):
    """A spec naming a factory of an importable module builds it; weights apply to it like to any reward."""
    comp = make_composite(f"{plugins}:make_shouting:0.5+{plugins}:exclamations,length:0")
    assert isinstance(comp, CompositeReward)
    assert [(r.name, w) for r, w in comp.components] == [
        ("shouting", 0.5),
        ("exclamations", 1.0),
        ("length", 0.0),
    ]
    total, parts = comp.compute(["AB!!", "ab"])
    assert parts["shouting"] == [2 / 4, 0.0] and parts["exclamations"] == [2.0, 0.0]
    assert total == pytest.approx([0.5 * 0.5 + 2.0, 0.0])
    assert is_dotted_path(f"{plugins}:make_shouting") and not is_dotted_path("distinct-2")


def test_dotted_path_in_the_run_config(plugins):
    cfg = TrainConfig(reward=f"{plugins}:Shouting:0.5+relevance", output_dir="unused")
    assert cfg.reward == f"{plugins}:Shouting:0.5+relevance"


def test_unimportable_dotted_path_is_bad_user_input():
    from aigc_rl.errors import UserInputError

    with pytest.raises(RewardImportError, match="cannot import module 'aigc_rl_no_such_pkg.mod'") as e:
        make_composite("aigc_rl_no_such_pkg.mod:factory")
    assert isinstance(e.value, UserInputError) and isinstance(e.value, ValueError)


BAD_SPECS = [
    ("", "empty reward spec"),
    ("relevance+", "empty item"),
    ("quality:x", "weight 'x' of 'quality'"),
    ("my_module:factory", "weight 'factory' of 'my_module'"),  # a path needs a dot in the module
    (":0.5", "has a weight but no name"),
    ("a.b:c.d:e", "not a reward name or a dotted path"),
    ("relevance:inf", "finite"),
    ("relevance:nan", "finite"),
    ("relevance:1e308", "too large"),
    ("relevance:-2e6", "too large"),
    ("relevance:0", "every weight"),
    ("quality:0+creativity:0", "every weight"),
    ("relevance+relevance:2", "appears twice"),
]


@pytest.mark.parametrize("spec,needle", BAD_SPECS)
def test_bad_specs_raise_value_error(spec, needle):
    with pytest.raises(ValueError, match=needle.replace("(", r"\(")):
        parse_spec(spec)


def test_weight_bound_is_on_effective_weights():
    """The bound applies to each component's effective weight: 1e6 is allowed, one step above is not."""
    assert parse_spec("quality:1e6") == [("relevance", 1e6), ("fluency", 1e5)]
    assert MAX_WEIGHT == 1e6
    with pytest.raises(ValueError, match="too large"):
        image_reward_pairs("quality:1e6")  # realism: 5 x 1e6
    with pytest.raises(ValueError, match="too large"):
        parse_spec("relevance:1000000.1")


def test_weights_given_as_mapping_or_pairs_are_checked():
    with pytest.raises(ValueError, match="every weight"):
        make_composite({"relevance": 0.0, "distinct-2": 0})
    with pytest.raises(ValueError, match="too large"):
        make_composite([("distinct-2", 1e308)])
    with pytest.raises(ValueError, match="finite"):
        make_composite({"distinct-2": math.nan})
    with pytest.raises(ValueError, match="every weight"):
        CompositeReward([(make("length"), 0.0)])


def test_largest_weight_keeps_float32_rewards_finite():
    """At the bound, a weighted reward stays finite in float32 (TRL's dtype) for every built-in range."""
    import numpy as np

    from aigc_rl.rewards import reward_infos

    for info in reward_infos():
        lo, hi = info.value_range
        for v in (lo, hi):
            if math.isfinite(v):
                assert math.isfinite(float(np.float32(MAX_WEIGHT) * np.float32(v))), info.name
    total, _ = make_composite("distinct-2:1e6").compute(["a b c", "a b d"], ["p", "p"])
    assert total == [5e5, 5e5]


@pytest.mark.parametrize(
    "spec,needle",
    [
        ("relevance:0", "every weight"),
        ("relevance:1e308", "too large"),
        ("relevance:nan", "finite"),
        ("quality:x", "'x'"),
    ],
)
def test_config_turns_bad_weights_into_config_error_naming_the_flag(spec, needle):
    with pytest.raises(ConfigError, match="--reward") as e:
        TrainConfig(reward=spec, output_dir="unused")
    assert needle in str(e.value)
    with pytest.raises(ConfigError, match="--reward"):
        TrainConfig(env="aigc_rl/LatentImage-v0", reward=spec, output_dir="unused")


@pytest.mark.parametrize(
    "spec,needle",
    [
        ("relevance:0", "every weight"),
        ("quality:0+creativity:0", "every weight"),
        ("relevance:1e308", "too large"),
        ("relevance:nan", "finite"),
        ("aigc_rl_no_such_pkg.mod:factory", "cannot import module"),
    ],
)
def test_cli_refuses_bad_weights_and_paths_before_writing(capsys, tmp_path, spec, needle):
    """``aigc-rl train --reward SPEC``: exit 2, one line naming the problem, nothing written."""
    from aigc_rl.cli import main

    out = tmp_path / "run"
    rc = main(["train", "--reward", spec, "--max-steps", "1", "--output-dir", str(out)])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert needle in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_parse_items_keeps_presets_unexpanded():
    assert parse_items("quality:2+my_pkg.mod:f") == [("quality", 2.0), ("my_pkg.mod:f", 1.0)]


def test_image_specs_use_the_image_presets():
    assert image_reward_pairs(None) == [("target-class", 1.0), ("realism", 5.0), ("image-diversity", 3.0)]
    assert image_reward_pairs("quality+creativity:2") == [
        ("target-class", 1.0),
        ("realism", 5.0),
        ("image-diversity", 6.0),
    ]
    with pytest.raises(ValueError, match="'safety' preset has no image reward; use target-class"):
        image_reward_pairs("quality+safety")


def test_image_default_spec_matches_the_env_default():
    from aigc_rl.envs.image.latent_image import DEFAULT_REWARD
    from aigc_rl.rewards.spec import IMAGE_DEFAULT_SPEC

    assert IMAGE_DEFAULT_SPEC == DEFAULT_REWARD
    assert image_reward_pairs(None) == image_reward_pairs("quality+creativity")
