"""Issue 11 item 3: TRL's diversity-preserving options as config fields, DARLING composition, adaptive KL.

Training runs use a tiny randomly initialised Llama saved to disk (the ``aigc-rl train --model DIR`` path).
"""

from __future__ import annotations

import json

import pytest

from aigc_rl.agents.trl.trainer import AdaptiveKLController, build_trainer
from aigc_rl.cli import main as cli_main
from aigc_rl.config import ConfigError, TrainConfig
from aigc_rl.rewards import make
from aigc_rl.rewards.composite import CompositeReward
from aigc_rl.testing import tiny_train_config
from aigc_rl.train import run_train

REWARD = "fluency:0.1,distinct-2:1.0"


def _cfg(model_dir, prompts, out, **kw):
    return tiny_train_config(model_dir, prompts, out, **{"reward": REWARD, **kw})


# ---- config fields reach TRL's GRPOConfig ------------------------------------------------------------------


def test_trl_options_reach_grpo_config(tiny_model_dir, prompt_file, tmp_path):
    from aigc_rl.agents.trl.run import make_reward, make_text_task
    from aigc_rl.models import load_causal_lm

    cfg = _cfg(
        tiny_model_dir,
        prompt_file,
        tmp_path / "r",
        loss_type="dr_grpo",
        scale_rewards="batch",
        multi_objective_aggregation="normalize_then_sum",
        entropy_coef=0.01,
        epsilon_high=0.28,
        mask_truncated_completions=True,
    )
    model, tok = load_causal_lm(cfg.model, device="cpu")
    task = make_text_task(cfg, tok, "train", make_reward(cfg))
    trainer = build_trainer(cfg, task, model, tok, tmp_path / "r", use_cuda=False)
    a = trainer.args
    assert (a.loss_type, a.scale_rewards, a.multi_objective_aggregation) == (
        "dr_grpo",
        "batch",
        "normalize_then_sum",
    )
    assert (a.entropy_coef, a.epsilon, a.epsilon_high, a.mask_truncated_completions) == (
        0.01,
        0.2,
        0.28,
        True,
    )


def test_default_options_equal_trl_defaults_but_the_aggregation():
    # the options the main job leaves alone pass TRL's own defaults; the aggregation is the main job's choice
    # (normalize_then_sum for GRPO, docs/optimisation.md), and TRL's default everywhere else
    from trl import GRPOConfig

    trl = GRPOConfig(output_dir="/nonexistent", use_cpu=True, report_to="none")
    cfg = TrainConfig()
    for name in ("loss_type", "scale_rewards", "entropy_coef", "epsilon"):
        assert getattr(cfg, name) == getattr(trl, name), name
    assert cfg.mask_truncated_completions is trl.mask_truncated_completions is False
    assert cfg.use_adaptive_entropy is trl.use_adaptive_entropy is False
    assert trl.multi_objective_aggregation == "sum_then_normalize"
    assert cfg.multi_objective_aggregation == "normalize_then_sum"
    for agent in ("rloo", "sft"):  # RLOO has no such option and SFT no reward: TRL's "off" value
        assert TrainConfig(agent=agent).multi_objective_aggregation == "sum_then_normalize"
    assert TrainConfig(
        agent="grpo", multi_objective_aggregation="sum_then_normalize"
    ).multi_objective_aggregation == ("sum_then_normalize")


def test_learning_rate_default_per_agent():
    assert TrainConfig().learning_rate == TrainConfig(agent="rloo").learning_rate == 4e-4
    assert TrainConfig(agent="sft").learning_rate == 2e-4
    assert TrainConfig(learning_rate=1e-3).learning_rate == 1e-3
    assert TrainConfig(composition=None).composition == "sum"  # a config file of an earlier version


@pytest.mark.parametrize(
    "kw, needle",
    [
        ({"loss_type": "ppo"}, "loss_type must be one of dapo, grpo, dr_grpo, bnpo"),
        ({"scale_rewards": "std"}, "scale_rewards must be one of group, batch, none"),
        ({"composition": "product"}, "composition must be one of sum, darling"),
        ({"entropy_coef": -0.1}, "entropy_coef must be a number >= 0"),
        ({"epsilon_high": 0.0}, "epsilon_high must be a positive number"),
        ({"kl_target": float("nan")}, "kl_target must be a positive number"),
        ({"kl_target": 0.05, "beta": 0.0}, "kl_target adapts beta, which must start above 0"),
        ({"agent": "rloo", "entropy_coef": 0.01}, "entropy_coef: TRL's RLOO has no such option"),
        ({"mask_truncated_completions": "yes"}, "mask_truncated_completions must be true or false"),
    ],
)
def test_bad_option_is_config_error(kw, needle):
    with pytest.raises(ConfigError, match=needle):
        TrainConfig(**kw)


def test_bad_option_on_command_line_exits_2_writes_nothing(tmp_path, capsys):
    out = tmp_path / "run"
    rc = cli_main(["train", "--loss-type", "ppo", "--output-dir", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "loss_type must be one of" in err[0] and "--loss-type" in err[0]
    assert not out.exists()


# ---- DARLING composition ------------------------------------------------------------------------------------


def test_darling_multiplies_quality_by_diversity():
    # length (1.0 inside 2..4 words) as quality, distinct-2 within the group as diversity
    length = make("length", min_words=2, max_words=4)
    div = make("distinct-2")
    comp = CompositeReward([(length, 1.0), (div, 1.0)], composition="darling")
    comps = ["a b c", "a b c", "x y z w", "q"]
    total, parts = comp.compute(comps, ["p", "p", "p", "p"], group_ids=[0, 0, 0, 0])
    q = parts["length"]
    d = parts["diversity"]
    assert d == parts["distinct-2"]  # one creativity component in [0, 1]: D is its value
    for t, qi, di in zip(total, q, d, strict=True):
        assert t == pytest.approx(qi * di if qi >= 0 else qi * (2 - di))
    # the duplicated pair scores below the unique completion of equal quality
    assert total[0] == total[1] < total[2]


def test_darling_negative_quality_still_rewards_diversity():
    comp = CompositeReward([(make("sentiment"), 1.0), (make("distinct-1"), 1.0)], composition="darling")
    texts = ["terrible awful bad", "terrible terrible terrible"]
    total, parts = comp.compute(texts, ["p", "p"], group_ids=[0, 0])
    q, d = parts["sentiment"], parts["diversity"]
    assert q[0] < 0 and q[1] < 0
    assert total[0] == pytest.approx(q[0] * (2 - d[0]))
    assert total[1] == pytest.approx(q[1] * (2 - d[1]))


def test_darling_maps_minimised_and_unbounded_diversity_to_unit_interval():
    import numpy as np

    sb = make("self-bleu")  # range [0, 1], minimise: oriented value -x maps to 1 - x
    assert CompositeReward._unit(np.array([-0.25]), sb)[0] == pytest.approx(0.75)
    ead = make("ead")  # range [0, inf): clipped at 1
    assert CompositeReward._unit(np.array([0.4, 1.7]), ead).tolist() == [0.4, 1.0]


def test_darling_needs_quality_and_positive_diversity():
    with pytest.raises(ValueError, match="needs at least one creativity component"):
        CompositeReward([(make("length"), 1.0)], composition="darling")
    with pytest.raises(ValueError, match="needs at least one creativity component"):
        CompositeReward([(make("distinct-2"), 1.0)], composition="darling")
    with pytest.raises(ValueError, match="positive weight"):
        CompositeReward([(make("length"), 1.0), (make("distinct-2"), -1.0)], composition="darling")


# ---- adaptive KL controller ---------------------------------------------------------------------------------


class _FakeTrainer:
    def __init__(self, beta):
        self.beta = beta


def test_adaptive_kl_update_follows_ziegler():
    t = _FakeTrainer(0.1)
    c = AdaptiveKLController(t, target=0.05)
    # KL twice the target: error clipped at +0.2 -> beta * (1 + 0.1 * 0.2)
    assert c.update(0.10) == pytest.approx(0.1 * 1.02)
    # KL 10% under target: error -0.1, over 3 steps -> beta * (1 - 0.1 * 0.1 * 3)
    b = t.beta
    assert c.update(0.045, n_steps=3) == pytest.approx(b * (1 - 0.03))
    with pytest.raises(ValueError, match="beta > 0"):
        AdaptiveKLController(_FakeTrainer(0.0), target=0.05)


def test_adaptive_kl_trains_logs_beta_and_resumes(tiny_model_dir, prompt_file, tmp_path):
    out = tmp_path / "run"
    cfg = _cfg(
        tiny_model_dir,
        prompt_file,
        out,
        reward="length:1+distinct-2:1",
        composition="darling",
        kl_target=10.0,  # far above any KL of 3 steps: beta falls 2% every step
        beta=0.5,
        max_steps=2,
    )
    run_train(cfg)
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    betas = [r["beta"] for r in rows if "beta" in r]
    assert betas == pytest.approx([0.5 * 0.98, 0.5 * 0.98**2])
    saved = json.loads((out / "checkpoints" / "checkpoint-2" / "adaptive_kl.json").read_text())
    assert saved["beta"] == pytest.approx(betas[1]) and saved["step"] == 2
    assert {"rewards/diversity", "rewards/length", "rewards/distinct-2"} <= set(rows[-1])  # DARLING logs D
    # resume to step 3 starts from the saved beta, not from --beta
    run_train(_cfg(tiny_model_dir, prompt_file, out, **{**_resume_kw(cfg), "max_steps": 3}))
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    betas3 = [r["beta"] for r in rows if "beta" in r]
    assert betas3 == pytest.approx([0.5 * 0.98, 0.5 * 0.98**2, 0.5 * 0.98**3])


def _resume_kw(cfg: TrainConfig) -> dict:
    keep = ("reward", "composition", "kl_target", "beta")
    return {**{k: getattr(cfg, k) for k in keep}, "resume": True}


# ---- the hack-resistant rewards get what they need from the run ----------------------------------------------


def test_completion_and_soft_overlong_get_the_models_eos_and_tokenizer(tiny_model_dir, prompt_file, tmp_path):
    from transformers import AutoTokenizer

    from aigc_rl.agents.trl.run import make_reward, make_text_task

    cfg = _cfg(
        tiny_model_dir, prompt_file, tmp_path / "r", reward="completion+soft-overlong", max_new_tokens=8
    )
    reward = make_reward(cfg)
    (completion, _), (overlong, _) = reward.components
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert completion.eos_ids == {tok.eos_token_id}
    # in training, TRL's completion_ids decide: an EOS inside the limit = finished
    eos = tok.eos_token_id
    assert completion(["a", "b"], ["p", "p"], completion_ids=[[5, eos], [5, 6, 7]]) == [1.0, 0.0]
    # soft-overlong ramps over the last quarter of max_new_tokens (8 -> cache 2): 7 tokens -> -0.5
    assert overlong(["x"], ["p"], completion_ids=[[5] * 7]) == [-0.5]
    # in evaluation, the sampler's finished flags reach the completion reward through the task
    task = make_text_task(cfg, tok, "eval", reward)
    total, parts = task.score([0, 0], ["no stop here", "stopped."], group_ids=[0, 0], finished=[False, True])
    assert parts["completion"] == [0.0, 1.0]
    assert all(v is not None for v in parts["soft-overlong"])  # counted with the run's tokenizer
