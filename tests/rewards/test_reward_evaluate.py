"""Every text reward through the one local ``evaluate`` module (``config_name`` picks the reward), loaded by path
with no network (case F1, huggingface/evaluate#315); the older per-reward call style ``evaluate_module_path(name)`` keeps working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from reward_models import make_causal_lm, make_classifier, make_tokenizer

from aigc_rl.rewards import EVALUATE_MODULE, UnknownRewardError, evaluate_module_path
from aigc_rl.rewards._builtin import TEXT_REWARDS
from aigc_rl.rewards.adapters import SHIPPED_MODULES_DIR, module_source

# Runs in a fresh interpreter with HF_HUB_OFFLINE=1 / HF_DATASETS_OFFLINE=1 and every socket call refused, so a
# network attempt anywhere (evaluate, datasets, huggingface_hub) is recorded instead of hanging.
SCRIPT = r"""
import json, socket, sys
attempts = []
def refuse(*args, **kwargs):
    attempts.append(repr(args)[:200])
    raise OSError("network disabled in this test")
socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
socket.getaddrinfo = refuse

import evaluate
from aigc_rl.rewards import EVALUATE_MODULE, evaluate_module_path, make, register
from aigc_rl.rewards._builtin import TEXT_REWARDS

cfg = json.loads(sys.argv[1])
preds = ["the cat sat on the mat .", "the cat sat on a mat", "a happy dog ran in the park", "", "我爱北京天安门"]
prompts = ["tell me about the cat", "tell me about the cat", "write a story", "write a story", "写一句话"]
refs = [["the cat sat on a mat"], "the cat is on the mat", ["a dog ran", "the dog ran in a park"], "x", "我爱北京"]
out = {}
for name in TEXT_REWARDS:
    kw = cfg["kwargs"].get(name, {})
    metric = evaluate.load(EVALUATE_MODULE, config_name=name, reward_kwargs=kw)
    reward = make(name, **kw)
    extra = {"references": refs} if reward.requires_references else {}
    got = metric.compute(predictions=preds, prompts=prompts, **extra)
    out[name] = {"module": got, "direct": reward(preds, prompts, **extra), "raw": reward.raw(preds, prompts, **extra)}
try:
    evaluate.load(EVALUATE_MODULE, config_name="reward-model")
    out["missing_model_error"] = None
except ValueError as e:
    out["missing_model_error"] = str(e)
try:
    evaluate.load(EVALUATE_MODULE)
    out["no_name_error"] = None
except ValueError as e:
    out["no_name_error"] = str(e)
# the older call style: one generated module per reward, in the aigc-rl cache
old = evaluate.load(evaluate_module_path("bleu"))
out["old_style_bleu"] = old.compute(predictions=preds, references=refs)
register("shout", lambda completions, **kw: [float(c.isupper()) for c in completions])
path = evaluate_module_path("shout")
out["shout_path"] = path
out["shout"] = evaluate.load(path).compute(predictions=["AB", "ab"])
out["shout_config"] = evaluate.load(EVALUATE_MODULE, config_name="shout").compute(predictions=["AB", "ab"])
out["attempts"] = attempts
print("JSON" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def offline_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("evaluate_offline")
    tok = make_tokenizer()
    lm_dir, rm_dir = tmp / "tiny_lm", tmp / "tiny_rm"
    make_causal_lm(tok).save_pretrained(lm_dir)
    tok.save_pretrained(lm_dir)
    make_classifier(tok).save_pretrained(rm_dir)
    tok.save_pretrained(rm_dir)
    cfg = {
        "kwargs": {
            "fluency": {"model": str(lm_dir)},
            "judge": {"model": str(lm_dir)},
            "reward-model": {"model": str(rm_dir)},
            "novelty": {"corpus": ["the cat sat on the mat", "我爱北京"]},
            "semantic-novelty": {"corpus": ["the cat sat on the mat"]},
            "soft-overlong": {"tokenizer": str(lm_dir), "max_completion_len": 8, "soft_punish_cache": 4},
            "completion": {"eos_token_id": tok.eos_token_id},
        }
    }
    env = dict(
        os.environ,
        HF_HUB_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_HOME=str(tmp / "hf"),
        HF_MODULES_CACHE=str(tmp / "modules"),
        AIGC_RL_CACHE=str(tmp / "aigc_cache"),  # fresh cache: readability writes its CMU dictionary there
    )
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, json.dumps(cfg)], env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("JSON"))
    return json.loads(line[4:])


def test_case_f1_every_reward_loads_by_local_path_without_network(offline_run):
    """Case F1, huggingface/evaluate#315: with HF_HUB_OFFLINE=1 and sockets refused, every aigc-rl metric loads from its local module,
    never touches the network, and returns the same values as calling the reward."""
    assert offline_run["attempts"] == []
    for name in TEXT_REWARDS:
        got, direct, raw = offline_run[name]["module"], offline_run[name]["direct"], offline_run[name]["raw"]
        assert got["scores"] == pytest.approx(direct, abs=1e-6), name
        assert got["raw"] == pytest.approx(raw, abs=1e-6), name
        vals = [v for v in raw if v is not None]
        assert got[name] == pytest.approx(sum(vals) / len(vals), abs=1e-6), name


def test_case_f1_known_values_through_evaluate(offline_run):
    """Case F1, huggingface/evaluate#315: spot values through evaluate match the libraries / hand computation."""
    import sacrebleu

    bleu = offline_run["bleu"]["module"]["raw"]
    assert bleu[0] == pytest.approx(
        sacrebleu.sentence_bleu("the cat sat on the mat .", ["the cat sat on a mat"]).score / 100
    )
    # a single reference string in a batch that mixes strings and lists is one reference, not a list of characters
    assert bleu[1] == pytest.approx(
        sacrebleu.sentence_bleu("the cat sat on a mat", ["the cat is on the mat"]).score / 100
    )
    assert bleu[4] == pytest.approx(
        sacrebleu.sentence_bleu("我爱北京天安门", ["我爱北京"], tokenize="zh").score / 100
    )
    # empty prediction (case B1, huggingface/evaluate#601)
    assert offline_run["bleu"]["module"]["raw"][3] == 0.0
    assert offline_run["harm"]["module"]["raw"] == [0.0] * 5
    # self-BLEU is minimised: evaluate's scores are the negated raw values, as calling the reward gives
    sb = offline_run["self-bleu"]["module"]
    assert sb["scores"] == [None if v is None else (-v or 0.0) for v in sb["raw"]]
    c0, c1 = "the cat sat on the mat .", "the cat sat on a mat"  # siblings (same prompt)
    assert sb["raw"][0] == pytest.approx(sacrebleu.sentence_bleu(c0, [c1]).score / 100)
    assert sb["raw"][2:] == [0.0, 0.0, None]  # only an empty sibling; the empty one; no sibling at all


def test_case_f1_missing_model_fails_fast_with_a_message(offline_run):
    """Case F1, huggingface/evaluate#315: a metric whose model is missing fails at load time with a message saying what to pass."""
    assert "needs model=" in offline_run["missing_model_error"]
    with pytest.raises(UnknownRewardError, match="available: .*bleu"):
        evaluate_module_path("no-such-reward")


def test_case_f1_older_per_reward_call_style_still_works(offline_run):
    """``evaluate.load(evaluate_module_path(name))`` (a module generated into the cache) gives the same values
    as the one shipped module with ``config_name``; with no reward named, loading says how to name one."""
    assert offline_run["old_style_bleu"] == offline_run["bleu"]["module"]
    assert "config_name='bleu'" in offline_run["no_name_error"]


def test_runtime_registered_reward_works_through_both_call_styles(offline_run):
    assert offline_run["shout"]["scores"] == [1.0, 0.0]
    assert offline_run["shout_config"] == {"shout": 0.5, "scores": [1.0, 0.0], "raw": [1.0, 0.0]}
    assert not Path(offline_run["shout_path"]).is_relative_to(SHIPPED_MODULES_DIR)


def test_one_shipped_module_serves_every_reward():
    """One module file is shipped (no generated file per reward); a generated per-reward module is the template
    for exactly that reward."""
    shipped = sorted(p.relative_to(SHIPPED_MODULES_DIR).as_posix() for p in SHIPPED_MODULES_DIR.rglob("*.py"))
    assert shipped == ["__init__.py", "aigc_rl_reward/aigc_rl_reward.py"]
    assert Path(EVALUATE_MODULE) == SHIPPED_MODULES_DIR / "aigc_rl_reward"
    src = module_source("self-bleu")
    assert 'reward_name = "self-bleu"' in src and "class SelfBleu(" in src
