"""KV-cached rollouts through the batched token env (tiny random Llama); cases B2, C2, E2."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from aigc_rl.agents.rollout import LMRollout, sample_tokens
from aigc_rl.envs.text.token_generation import TokenGenerationEnv, TokenGenerationVectorEnv
from aigc_rl.testing import tiny_lm

PROMPTS = ["write a slogan for a red bike", "the cat sat on the mat", "zebra", "what is two plus two?"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(seed=1, init_std=0.2)


def venv(lm, n=3, **kw):
    model, tok = lm
    args = dict(
        model=model,
        tokenizer=tok,
        reward="distinct-2",
        prompts=PROMPTS,
        max_prompt_tokens=24,
        max_new_tokens=6,
    )
    args.update(kw)
    return TokenGenerationVectorEnv(num_envs=n, **args)


class eos_bias:
    """Context manager: add ``bias`` to the EOS logit of every forward pass of ``model``."""

    def __init__(self, model, eos: int, bias: float) -> None:
        self.model, self.vec = model, torch.zeros(model.config.vocab_size)
        self.vec[eos] = bias

    def __enter__(self):
        def hook(module, args, output):
            output.logits = output.logits + self.vec
            return output

        self.handle = self.model.register_forward_hook(hook)
        return self

    def __exit__(self, *exc):
        self.handle.remove()


def teacher_forced_logprobs(model, prompt_ids, completion_ids, temperature=1.0):
    ids = torch.as_tensor(np.concatenate([prompt_ids, completion_ids]))[None]
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, len(prompt_ids) - 1 : -1].float() / temperature
    return torch.log_softmax(logits, -1).gather(-1, torch.as_tensor(completion_ids)[:, None]).squeeze(-1)


def test_shared_and_own_forward_give_identical_episodes(lm):
    runs = []
    for expose in (True, False):
        res = LMRollout(venv(lm, expose_logits=expose), seed=5).collect(episodes_per_env=2, seed=0)
        runs.append([(e.prompt, e.completion_ids.tolist(), e.text, e.score) for e in res.episodes])
        lp = [e.logprobs for e in res.episodes]
        runs[-1].append(lp)
    assert runs[0][:-1] == runs[1][:-1]
    for a, b in zip(runs[0][-1], runs[1][-1], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("expose", [True, False])
def test_case_c2_logprobs_match_teacher_forcing_and_eos_counted_once(lm, expose):
    """Case C2, huggingface/trl#1623: the EOS that ends a completion is in completion_ids once and has its log-prob, equal (like
    every token) to a teacher-forced forward pass of prompt + completion."""
    model, tok = lm
    eos = tok.eos_token_id
    envs = venv(lm, n=4, max_new_tokens=12, expose_logits=expose)
    with eos_bias(model, eos, 4.0):
        res = LMRollout(envs, seed=0, temperature=0.7).collect(episodes_per_env=3, seed=1)
        expects = [teacher_forced_logprobs(model, e.prompt_ids, e.completion_ids, 0.7) for e in res.episodes]
    assert len(res.episodes) == 12 and res.num_tokens == sum(len(e.completion_ids) for e in res.episodes)
    finished = [e for e in res.episodes if e.terminated]
    assert finished, "expected some episodes to end on EOS"
    for e, expect in zip(res.episodes, expects, strict=True):
        assert len(e.logprobs) == len(e.completion_ids)
        assert list(e.completion_ids).count(eos) == (1 if e.terminated else 0)
        if e.terminated:
            assert e.completion_ids[-1] == eos
        else:
            assert len(e.completion_ids) == 12
        np.testing.assert_allclose(e.logprobs, expect.numpy(), atol=1e-4)
        assert e.text == tok.decode(
            e.completion_ids[:-1] if e.terminated else e.completion_ids, skip_special_tokens=True
        )


def test_greedy_rollout_equals_generate(lm):
    """Temperature 0 through the env reproduces transformers' greedy ``generate`` (left-padded batch)."""
    model, tok = lm
    envs = venv(lm, n=4, max_new_tokens=8, expose_logits=True, stop_token_ids=())
    res = LMRollout(envs, temperature=0).collect(seed=0, options={"prompt_index": [0, 1, 2, 3]})
    prompt_ids = [e.prompt_ids for e in res.episodes]
    order = [PROMPTS.index(e.prompt) for e in res.episodes]
    width = max(len(p) for p in prompt_ids)
    ids = torch.full((4, width), tok.pad_token_id)
    mask = torch.zeros_like(ids)
    for r, p in enumerate(prompt_ids):
        ids[r, width - len(p) :] = torch.as_tensor(p)
        mask[r, width - len(p) :] = 1
    from transformers import GenerationConfig

    cfg = GenerationConfig(
        do_sample=False, max_new_tokens=8, min_new_tokens=8, eos_token_id=None, pad_token_id=tok.pad_token_id
    )
    out = model.generate(input_ids=ids, attention_mask=mask, generation_config=cfg)[:, width:]
    assert sorted(order) == [0, 1, 2, 3]
    for r, e in enumerate(res.episodes):
        assert e.completion_ids.tolist() == out[r].tolist()


def test_case_b2_all_episodes_end_at_first_token(lm):
    """Case B2, CarperAI/trlx#373 through the helper: a policy whose first token is always EOS gives one-token episodes on ""."""
    model, tok = lm
    envs = venv(lm, n=3, expose_logits=True)
    rollout = LMRollout(envs, seed=0)
    with eos_bias(model, tok.eos_token_id, 1e4):
        res = rollout.collect(episodes_per_env=2, seed=0)
    assert len(res.episodes) == 6 and res.steps == 3  # end, autoreset, end
    assert all(
        e.text == "" and e.terminated and e.completion_ids.tolist() == [tok.eos_token_id]
        for e in res.episodes
    )


def test_seeded_rollouts_are_reproducible_and_actions_valid(lm):
    """Same seeds: identical episodes. Case E2, DLR-RM/stable-baselines3#1718: every sampled action is in the env's action space."""
    a = LMRollout(venv(lm, expose_logits=True), seed=3, top_k=20, top_p=0.9).collect(2, seed=4)
    b = LMRollout(venv(lm, expose_logits=True), seed=3, top_k=20, top_p=0.9).collect(2, seed=4)
    assert [e.completion_ids.tolist() for e in a.episodes] == [e.completion_ids.tolist() for e in b.episodes]
    space = venv(lm).single_action_space
    assert all(space.contains(np.int64(t)) for e in a.episodes for t in e.completion_ids)


def test_sample_tokens_filters():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]] * 200)
    g = torch.Generator().manual_seed(0)
    toks, logp = sample_tokens(logits, g, temperature=1.0, top_k=2)
    assert set(toks.tolist()) == {2, 3}
    torch.testing.assert_close(logp, torch.log_softmax(logits, -1).gather(-1, toks[:, None]).squeeze(-1))
    toks, _ = sample_tokens(logits, g, temperature=1.0, top_p=0.5)
    assert set(toks.tolist()) == {3}
    toks, _ = sample_tokens(logits, g, temperature=0)
    assert set(toks.tolist()) == {3}
    with pytest.raises(ValueError):
        sample_tokens(logits, g, temperature=-1)


def test_rejects_other_envs(lm):
    model, tok = lm
    env = TokenGenerationEnv(
        model=model, tokenizer=tok, reward="distinct-2", prompts=PROMPTS, max_prompt_tokens=24
    )
    with pytest.raises(TypeError, match="TokenGenerationVectorEnv"):
        LMRollout(env)
