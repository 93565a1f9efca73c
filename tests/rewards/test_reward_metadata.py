"""Reward metadata lives in one place (each reward class); the registry, presets, docs tables, ``aigc-rl
rewards`` and ``info()`` are derived from it, and every JSON output is strict JSON."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest

from aigc_rl.rewards import IMAGE_PRESETS, PRESETS, describe, make, names, reward_info, reward_infos
from aigc_rl.rewards._builtin import BUILTIN_CLASSES, BUILTINS, IMAGE_REWARDS, TEXT_REWARDS
from aigc_rl.rewards.registry import EVAL_METRICS, KINDS, MODALITIES, RewardInfo

ROOT = Path(__file__).resolve().parents[2]


def _refuse_constant(name: str):
    raise ValueError(f"not strict JSON: {name}")


def _strict(line: str):
    return json.loads(line, parse_constant=_refuse_constant)


def test_one_list_of_builtin_names_and_everything_derived_from_it():
    listed = [n for n, _ in BUILTINS]
    assert len(listed) == len(set(listed)) == 28
    assert [i.name for i in reward_infos()] == listed  # registration order = docs order
    assert set(listed) <= set(names())
    assert list(TEXT_REWARDS) + list(IMAGE_REWARDS) == listed
    assert IMAGE_REWARDS == ("target-class", "realism", "image-diversity", "class-coverage", "image-novelty")
    assert [i.name for i in reward_infos("image")] == list(IMAGE_REWARDS)


@pytest.mark.parametrize("name", [n for n, _ in BUILTINS])
def test_registry_metadata_equals_the_class_attributes(name):
    info, cls = reward_info(name), BUILTIN_CLASSES[name]
    assert info.name == name
    assert (info.kind, info.modality, info.direction) == (cls.kind, cls.modality, cls.direction)
    assert info.value_range == tuple(cls.value_range)
    assert info.kind in KINDS and info.modality in MODALITIES and info.direction in ("maximize", "minimize")
    assert info.source and info.summary
    assert ("group" in info.needs) == cls.requires_group
    assert ("references" in info.needs) == cls.requires_references
    assert ("images" in info.needs) == (cls.modality == "image")


def test_needs_and_categories_by_hand():
    assert reward_info("relevance").needs == ("prompt",)
    assert reward_info("bleu").needs == ("references",)
    assert reward_info("self-bleu").needs == ("group",)
    assert reward_info("image-diversity").needs == ("group", "images")
    cats = {i.name: i.category for i in reward_infos()}
    assert cats["embedding-diversity"] == cats["semantic-novelty"] == cats["image-diversity"] == "creativity"
    assert cats["target-class"] == cats["bleu"] == "quality"
    assert cats["harm"] == "other"  # safety is not an axis of the quality-vs-creativity plot
    assert reward_info("bleu").value_range == (0.0, 1.0)


def test_reward_info_does_not_build_the_reward():
    """reward-model needs model= to be built; its metadata is read from the class all the same."""
    with pytest.raises(ValueError, match="needs model="):
        make("reward-model")
    info = reward_info("reward-model")
    assert info.value_range == (-math.inf, math.inf) and info.kind == "quality"


def test_variant_refuses_its_fixed_argument():
    assert make("distinct-3").name == "distinct-3"
    with pytest.raises(TypeError, match=r"fixes \['n'\]"):
        make("distinct-2", n=3)


def test_presets_name_registered_rewards_of_their_kind_and_modality():
    for presets, modality in ((PRESETS, "text"), (IMAGE_PRESETS, "image")):
        for preset, comps in presets.items():
            for comp, weight in comps:
                info = reward_info(comp)
                assert info.modality == modality, (preset, comp)
                assert info.kind == preset, (preset, comp)
                assert weight > 0


@pytest.mark.parametrize("name", [n for n, _ in BUILTINS if n != "reward-model"])
def test_info_is_strict_json(name):
    """Case (issue 10): info() has no -inf/inf; an unbounded side of the range is null."""
    info = make(name).info()
    line = json.dumps(info, allow_nan=False)
    assert _strict(line)["range"] == [None if math.isinf(v) else v for v in BUILTIN_CLASSES[name].value_range]
    assert info["kind"] == BUILTIN_CLASSES[name].kind and info["modality"] == BUILTIN_CLASSES[name].modality


def test_unbounded_ranges_are_null_by_hand():
    assert make("fluency").info()["range"] == [None, 0.0]
    assert make("harm").info()["range"] == [0.0, None]
    assert make("harm", unit="fraction").info()["range"] == [0.0, 1.0]
    assert make("readability").info()["range"] == [None, 121.22]
    comp = make("fluency")
    from aigc_rl.rewards import CompositeReward

    d = CompositeReward([(comp, 0.1), (make("distinct-2"), 0.5)]).info()
    assert _strict(json.dumps(d, allow_nan=False))["components"][0]["range"] == [None, 0.0]


def test_describe_is_strict_json_and_lists_rewards_then_presets():
    lines = [json.dumps(d, allow_nan=False) for d in describe()]
    parsed = [_strict(x) for x in lines]
    rewards = [d for d in parsed if "name" in d]
    presets = [d for d in parsed if "preset" in d]
    assert [d["name"] for d in rewards] == names()
    assert {(d["preset"], d["modality"]) for d in presets} == {
        ("quality", "text"),
        ("creativity", "text"),
        ("safety", "text"),
        ("quality", "image"),
        ("creativity", "image"),
    }
    fluency = next(d for d in rewards if d["name"] == "fluency")
    assert fluency["range"] == [None, 0.0] and fluency["needs"] == []


def test_cli_rewards_prints_one_strict_json_object_per_line(capsys):
    """Case (issue 10): ``aigc-rl rewards`` printed -Infinity; every line now parses as strict JSON."""
    from aigc_rl.cli import main

    assert main(["rewards"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    parsed = [_strict(x) for x in lines]
    assert {d["name"] for d in parsed if "name" in d} == set(names())
    assert any(d.get("preset") == "quality" for d in parsed)


def test_eval_metrics_are_not_rewards_and_have_categories():
    assert set(EVAL_METRICS) == {
        "reward",
        "length",
        "repetition",
        "distinct-2-corpus",
        "kl",
        "target-accuracy",
        "diversity",
    }
    assert EVAL_METRICS["target-accuracy"].category == "quality"
    assert EVAL_METRICS["diversity"].category == EVAL_METRICS["distinct-2-corpus"].category == "creativity"
    assert all(isinstance(m, RewardInfo) for m in EVAL_METRICS.values())


def _tool():
    spec = importlib.util.spec_from_file_location("reward_table", ROOT / "tools" / "reward_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_committed_docs_tables_equal_the_generated_ones():
    """README.md, docs/rewards.md and docs/images.md hold the tables tools/reward_table.py generates from the
    registry (regenerate with ``python tools/reward_table.py``)."""
    tool = _tool()
    assert tool.stale() == []
    table = tool.full_table("text")
    assert "| `bleu` | quality | [0, 1] | maximize | references |" in table
    assert "| `fluency` | quality | (-inf, 0] (nats/token) | maximize |" in table
    assert "`target-class`" in tool.full_table("image") and "`target-class`" not in table


def test_reward_table_tool_rewrites_only_between_markers(tmp_path):
    tool = _tool()
    for rel, _, _ in tool.TABLES:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text((ROOT / rel).read_text(encoding="utf-8"), encoding="utf-8")
    readme = tmp_path / "README.md"
    text = readme.read_text(encoding="utf-8")
    readme.write_text(text.replace("| `bleu` | quality |", "| `bleu` | creativity |"), encoding="utf-8")
    assert tool.stale(tmp_path) == ["README.md"]
    assert tool.write(tmp_path) == ["README.md"]
    assert readme.read_text(encoding="utf-8") == text
    with pytest.raises(ValueError, match="reward-table:all markers"):
        tool.render("no markers here", "all", "x", "README.md")
