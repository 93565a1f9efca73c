"""aigc_rl/TokenGeneration-v0 and its batched version, on a tiny random Llama (handed cases B2, C1, C2, C4, D1, E2)."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

import aigc_rl  # noqa: F401  (registers the ids)
from aigc_rl.envs.text.kl import kl_penalty_terms
from aigc_rl.envs.text.kv_cache import CachedLM
from aigc_rl.envs.text.token_generation import TokenGenerationEnv, TokenGenerationVectorEnv
from aigc_rl.prompt_encoding import PromptEncoder
from aigc_rl.rewards.base import FunctionReward
from aigc_rl.testing import tiny_lm

PROMPTS = ["write a slogan for a red bike", "the cat sat on the mat", "zebra", "what is two plus two?"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lm():
    return tiny_lm(seed=0)


class Recorder(FunctionReward):
    """A reward that records what it was called with: 1.0 per character of the completion."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[str], list[str] | None]] = []
        super().__init__(self._fn, name="length")

    def _fn(self, completions, prompts=None, **kw):
        self.calls.append((list(completions), list(prompts) if prompts is not None else None))
        return [float(len(c)) for c in completions]


def make_env(lm, **kw):
    model, tok = lm
    args = dict(
        model=model,
        tokenizer=tok,
        reward="distinct-2",
        prompts=PROMPTS,
        max_prompt_tokens=24,
        max_new_tokens=5,
    )
    args.update(kw)
    return TokenGenerationEnv(**args)


def full_logits(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([ids])).logits[0, -1].float()


def test_spaces_and_dtypes(lm):
    env = make_env(lm)
    model, tok = lm
    assert env.action_space == spaces.Discrete(model.config.vocab_size)
    assert set(env.observation_space.spaces) == {"input_ids", "attention_mask"}
    for key in ("input_ids", "attention_mask"):
        box = env.observation_space[key]
        assert box.shape == (24 + 5,) and box.dtype == np.int64
    assert env.observation_space["input_ids"].high.max() == model.config.vocab_size - 1
    obs, info = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    n = info["prompt_tokens"]
    assert obs["attention_mask"].sum() == n and obs["attention_mask"][-n:].all()  # right-aligned, left padded


def test_truncation_and_reward_at_end(lm):
    reward = Recorder()
    env = make_env(lm, reward=reward, stop_token_ids=())
    env.reset(seed=3)
    tok_a = 50
    rewards = []
    for t in range(5):
        obs, r, term, trunc, info = env.step(tok_a)
        rewards.append(r)
        assert not term
        assert trunc == (t == 4)
    text = lm[1].decode([tok_a] * 5, skip_special_tokens=True)
    assert rewards[:4] == [0.0] * 4 and rewards[4] == float(len(text))
    assert info["text"] == text and info["num_tokens"] == 5
    assert reward.calls[-1] == ([text], [info["prompt"]])
    with pytest.raises(RuntimeError, match="reset"):
        env.step(tok_a)


def test_case_b2_first_token_eos_is_a_valid_episode(lm):
    """Case B2, CarperAI/trlx#373: the first generated token is EOS: one step, terminated, reward computed on ""."""
    reward = Recorder()
    env = make_env(lm, reward=reward)
    eos = lm[1].eos_token_id
    env.reset(seed=0)
    obs, r, term, trunc, info = env.step(eos)
    assert term is True and trunc is False
    assert info["text"] == "" and info["num_tokens"] == 1
    assert reward.calls == [([""], [info["prompt"]])] and r == 0.0
    # the same through the batched env: every sub-env ends at its first step, nothing dropped
    venv = TokenGenerationVectorEnv(
        num_envs=3,
        model=lm[0],
        tokenizer=lm[1],
        reward=reward,
        prompts=PROMPTS,
        max_prompt_tokens=24,
        max_new_tokens=5,
    )
    venv.reset(seed=0)
    _, r, term, trunc, info = venv.step(np.full(3, eos))
    assert term.all() and not trunc.any() and list(info["text"]) == ["", "", ""]
    assert (r == 0.0).all()


def test_case_c1_pad_equals_eos_prompt_ending_in_eos(lm):
    """Case C1, huggingface/transformers#34658: pad == EOS, left padding, a prompt that ends in that token: the attention mask decides padding,
    and the batched, left-padded, KV-cached logits equal an unpadded forward pass of each prompt."""
    model, tok = lm
    assert tok.pad_token_id == tok.eos_token_id
    prompts = ["the cat<|im_end|>", "zebra zoo zone zero zigzag hello world", "a"]
    venv = TokenGenerationVectorEnv(
        num_envs=3,
        model=model,
        tokenizer=tok,
        reward="distinct-2",
        prompts=prompts,
        max_prompt_tokens=24,
        max_new_tokens=4,
        use_chat_template=False,
        expose_logits=True,
    )
    obs, info = venv.reset(seed=0, options={"prompt_index": 0})
    eos = tok.eos_token_id
    assert (
        obs["input_ids"][0, -1] == eos and obs["attention_mask"][0, -1] == 1
    )  # the prompt's EOS is not padding
    assert obs["attention_mask"][0].sum() == info["prompt_tokens"][0]
    # mixed lengths: every row's logits equal the unpadded forward of its own tokens
    obs, info = venv.reset(seed=1)
    for _ in range(3):
        for r in range(3):
            ids = obs["input_ids"][r][obs["attention_mask"][r] == 1].tolist()
            torch.testing.assert_close(
                venv.next_token_logits[r], full_logits(model, ids), atol=1e-5, rtol=1e-5
            )
        obs, _, term, trunc, _ = venv.step(np.array([7, 8, 9]))
        assert not term.any()  # a prompt's EOS never ends an episode
    env = make_env(lm, prompts=["the cat<|im_end|>"], use_chat_template=False)
    env.reset(seed=0)
    _, _, term, _, _ = env.step(5)
    assert term is False


def test_case_c2_terminal_eos_counted_once(lm):
    """Case C2, huggingface/trl#1623: with pad == EOS, the EOS that ends a completion is one real token: mask 1, counted once, and
    it has a KL term like every other token."""
    model, tok = lm
    eos = tok.eos_token_id
    env = make_env(lm, kl_coef=0.1)
    obs, info = env.reset(seed=2)
    p = info["prompt_tokens"]
    env.step(40)
    obs, r, term, trunc, info = env.step(eos)
    assert term and info["num_tokens"] == 2
    assert obs["input_ids"][-1] == eos and obs["attention_mask"][-1] == 1 and obs["input_ids"][-2] == 40
    assert obs["attention_mask"].sum() == p + 2
    assert list(info["completion_ids"]) == [40, eos]
    assert "kl" in info and np.isfinite(info["kl"])


def test_case_c4_long_prompt_truncated_from_left_of_user_content(lm):
    """Case C4, huggingface/trl#3644: a chat prompt longer than the limit keeps every template marker and loses tokens from the left
    of the user content, on token ids (no decode / re-encode)."""
    _, tok = lm
    content = "zebra zoo zone zero zigzag. " * 8
    enc = PromptEncoder(tok, max_tokens=30)
    ids = enc(content)
    full = tok.apply_chat_template(
        [{"role": "user", "content": content}], tokenize=True, add_generation_prompt=True
    )
    full = list(full["input_ids"]) if hasattr(full, "keys") else list(full)
    empty = tok.apply_chat_template(
        [{"role": "user", "content": ""}], tokenize=True, add_generation_prompt=True
    )
    empty = list(empty["input_ids"]) if hasattr(empty, "keys") else list(empty)
    assert len(full) > 30 and len(ids) == 30
    start = tok.convert_tokens_to_ids("<|im_start|>")
    end = tok.convert_tokens_to_ids("<|im_end|>")
    assert ids.count(start) == full.count(start) == 2 and ids.count(end) == full.count(end) == 1
    prefix = tok("<|im_start|>user\n", add_special_tokens=False)["input_ids"]
    suffix = tok("<|im_end|>\n<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
    assert ids[: len(prefix)] == prefix and ids[-len(suffix) :] == suffix
    assert (
        ids == full[: len(prefix)] + full[len(full) - (30 - len(prefix)) :]
    )  # the right end of the content kept
    assert enc.overhead == len(empty)
    # short prompts are exactly the tokenizer's own chat-template encoding
    short = tok.apply_chat_template(
        [{"role": "user", "content": "zebra"}], tokenize=True, add_generation_prompt=True
    )
    short = list(short["input_ids"]) if hasattr(short, "keys") else list(short)
    assert enc("zebra") == short
    with pytest.raises(ValueError, match="max_prompt_tokens"):
        PromptEncoder(tok, max_tokens=len(empty))
    env = make_env(lm, prompts=[content], max_prompt_tokens=30)
    obs, info = env.reset(seed=0)
    assert info["prompt_tokens"] == 30
    assert obs["input_ids"][obs["attention_mask"] == 1].tolist() == ids


@pytest.mark.slow
def test_case_c4_smollm2_chat_template():
    """Case C4, huggingface/trl#3644 with SmolLM2's real chat template (system turn added by the template)."""
    from transformers import AutoTokenizer

    from aigc_rl.models import resolve_model

    tok = AutoTokenizer.from_pretrained(resolve_model())
    enc = PromptEncoder(tok, max_tokens=48)
    ids = enc("Write a slogan for a bike. " * 20)
    rendered = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    head = tok(rendered.partition("Hi")[0], add_special_tokens=False)["input_ids"]
    tail = tok(rendered.partition("Hi")[2], add_special_tokens=False)["input_ids"]
    assert len(ids) == 48 and ids[: len(head)] == head and ids[-len(tail) :] == tail
    assert enc("Hi") == list(
        tok.apply_chat_template(
            [{"role": "user", "content": "Hi"}], tokenize=True, add_generation_prompt=True
        )["input_ids"]
    )


def test_case_d1_kl_estimators():
    """Case D1, huggingface/trl#1161: k3 is never negative (also for nearly equal log-probs), k1 is the log-ratio."""
    g = torch.Generator().manual_seed(0)
    logp = -torch.rand(10_000, generator=g, dtype=torch.float64) * 10
    ref = logp + torch.randn(10_000, generator=g, dtype=torch.float64) * torch.logspace(
        -12, 1, 10_000, dtype=torch.float64
    )
    k3 = kl_penalty_terms(logp.float(), ref.float(), "k3")
    assert (k3 >= 0).all()
    torch.testing.assert_close(kl_penalty_terms(logp, ref, "k1"), logp - ref)
    r = torch.exp(ref - logp)
    torch.testing.assert_close(kl_penalty_terms(logp, ref, "k3"), ((r - 1) - torch.log(r)).clamp_min(0))
    with pytest.raises(ValueError, match="kl_estimator"):
        kl_penalty_terms(logp, ref, "k2")


@pytest.mark.parametrize("estimator", ["k1", "k3"])
def test_case_d1_logged_kl_is_the_penalised_kl(lm, estimator):
    """Case D1, huggingface/trl#1161: the KL in info is exactly the one in the reward; it matches an independent computation; k3 >= 0."""
    model, tok = lm
    ref = copy.deepcopy(model)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.2)
    beta = 0.3
    env = make_env(
        lm,
        kl_coef=beta,
        kl_estimator=estimator,
        ref_model=ref,
        stop_token_ids=(),
        reward=lambda completions, **kw: [0.0] * len(completions),
    )
    obs, _ = env.reset(seed=1)
    kls = []
    for a in [11, 12, 13, 14, 15]:
        ids = obs["input_ids"][obs["attention_mask"] == 1].tolist()
        lp = torch.log_softmax(full_logits(model, ids), -1)[a]
        lr = torch.log_softmax(full_logits(ref, ids), -1)[a]
        expect = float(kl_penalty_terms(lp, lr, estimator))
        obs, r, term, trunc, info = env.step(a)
        assert r == -beta * info["kl"]
        assert info["kl"] == pytest.approx(expect, abs=1e-5)
        if estimator == "k3":
            assert info["kl"] >= 0
        kls.append(info["kl"])
    assert info["kl_sum"] == pytest.approx(sum(kls))
    assert any(abs(k) > 1e-4 for k in kls)


def test_same_seed_identical_episodes(lm):
    """Two envs, same seed, same actions: identical observations, rewards and infos (exact)."""
    envs = [make_env(lm, kl_coef=0.05) for _ in range(2)]
    runs = []
    for env in envs:
        env.action_space.seed(7)
        trace = []
        obs, info = env.reset(seed=42)
        trace.append((obs, info))
        for _ in range(3):  # three episodes
            done = False
            while not done:
                obs, r, term, trunc, info = env.step(env.action_space.sample())
                trace.append((obs, r, term, trunc, info))
                done = term or trunc
            trace.append(env.reset())
        runs.append(trace)
    from gymnasium.utils.env_checker import data_equivalence

    assert data_equivalence(runs[0], runs[1], exact=True)


def test_vector_env_matches_single_envs_and_autoresets_next_step(lm):
    """Sub-env i of the batched env with seed s is the single env with seed s + i; Gymnasium NEXT_STEP autoreset."""
    model, tok = lm
    kw = dict(
        model=model,
        tokenizer=tok,
        reward="distinct-2",
        prompts=PROMPTS,
        max_prompt_tokens=24,
        max_new_tokens=3,
    )
    venv = gym.make_vec("aigc_rl/TokenGeneration-v0", num_envs=3, kl_coef=0.1, **kw)
    assert isinstance(venv.unwrapped, TokenGenerationVectorEnv)
    # 1-D, start 0 (case E2, DLR-RM/stable-baselines3#1718)
    assert venv.action_space == spaces.MultiDiscrete([model.config.vocab_size] * 3)
    singles = [TokenGenerationEnv(kl_coef=0.1, **kw) for _ in range(3)]
    vobs, vinfo = venv.reset(seed=10)
    for i, env in enumerate(singles):
        obs, info = env.reset(seed=10 + i)
        assert np.array_equal(vobs["input_ids"][i], obs["input_ids"]) and vinfo["prompt"][i] == info["prompt"]
    eos = tok.eos_token_id
    plan = [[20, eos, 21], [22, 5, 23], [24, 6, 25], [26, 7, 27]]  # sub-env 1 ends at step 0
    for t, acts in enumerate(plan):
        vobs, vr, vterm, vtrunc, vinfo = venv.step(np.array(acts))
        if t == 1:  # autoreset of sub-env 1: action ignored, first obs of the next episode, reward 0
            assert vr[1] == 0.0 and not vterm[1] and not vtrunc[1]
            obs1, info1 = singles[1].reset()
            assert (
                np.array_equal(vobs["input_ids"][1], obs1["input_ids"])
                and vinfo["prompt"][1] == info1["prompt"]
            )
        for i in range(3):
            if t == 1 and i == 1:
                continue
            if t == 3 and i != 1:
                continue  # sub-envs 0 and 2 were truncated at step 2 and autoreset here
            obs, r, term, trunc, info = singles[i].step(acts[i])
            assert np.array_equal(vobs["input_ids"][i], obs["input_ids"])
            assert vr[i] == pytest.approx(r, abs=1e-6) and vterm[i] == term and vtrunc[i] == trunc
    assert vtrunc[0] is np.False_ and vinfo.get("_prompt", np.zeros(3, bool))[[0, 2]].all()


def test_cached_lm_splice_matches_full_forward(lm):
    """Rows replaced mid-flight (per-episode autoreset) keep every row's logits equal to a full forward pass."""
    model, tok = lm
    enc = PromptEncoder(tok, 40)
    c = CachedLM(model, 3, tok.pad_token_id)
    c.set_rows([0, 1, 2], [enc("hello world"), enc("the cat"), [5]])
    logits = c.forward()
    for step in range(8):
        if step == 2:
            c.push([3, 4], rows=[0, 2])
            c.set_rows([1], [enc("zebra zoo zone zero zigzag and more words")])
        elif step == 5:
            c.push([6], rows=[1])
            c.set_rows([0, 2], [[9], enc("the sun is warm today")])
        else:
            c.push([10 + step] * 3)
        logits = c.forward()
        for r in range(3):
            torch.testing.assert_close(logits[r], full_logits(model, c.seqs[r]), atol=1e-5, rtol=1e-5)
    assert c.mask.shape[1] <= max(len(s) for s in c.seqs)  # all-padding columns are trimmed


def test_case_e2_actions_validated(lm):
    """Case E2, DLR-RM/stable-baselines3#1718: Discrete action space with start 0; out-of-range or non-integer actions raise."""
    env = make_env(lm)
    assert env.action_space.start == 0
    env.reset(seed=0)
    with pytest.raises(ValueError, match="token id"):
        env.step(env.action_space.n)
    with pytest.raises(TypeError, match="integer"):
        env.step(1.5)
    venv = TokenGenerationVectorEnv(
        num_envs=2,
        model=lm[0],
        tokenizer=lm[1],
        reward="distinct-2",
        prompts=PROMPTS,
        max_prompt_tokens=24,
        max_new_tokens=5,
    )
    venv.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        venv.step(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="token ids"):
        venv.step(np.array([1, -1]))


def test_bad_arguments(lm):
    with pytest.raises(ValueError, match="tokenizer"):
        TokenGenerationEnv(model=lm[0], reward="distinct-2", prompts=PROMPTS)
    with pytest.raises(ValueError, match="kl_estimator"):
        make_env(lm, kl_estimator="k2")
    with pytest.raises(ValueError, match="max_new_tokens"):
        make_env(lm, max_new_tokens=0)
    with pytest.raises(ValueError, match="prompt"):
        make_env(lm, prompts=[])


def test_default_prompt_set_and_render(lm):
    env = make_env(lm, prompts=None, task="content", split="eval", max_prompt_tokens=96, render_mode="ansi")
    assert len(env.prompts) == 60
    obs, info = env.reset(seed=0)
    assert info["prompt"] in env.prompts
    assert info["prompt"] in env.render() and "<|im_start|>assistant" in env.render()
