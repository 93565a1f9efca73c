"""Learned-model rewards: a sequence-classification reward model and an LM judge (tiny random models)."""

from __future__ import annotations

import pytest
import torch
from reward_models import make_causal_lm, make_classifier, make_tokenizer

from aigc_rl.rewards import make
from aigc_rl.rewards.learned import DEFAULT_JUDGE_TEMPLATE

TEXTS = ["the cat sat on the mat .", "a dog ran", "happy day in the park with the sun"]


@torch.no_grad()
def _logit(model, tok, text, **kw):
    enc = tok(text, return_tensors="pt", **kw)
    return model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"]).logits[0].float()


def test_case_c3_reward_model_retokenises_with_its_own_tokenizer():
    """Case C3, huggingface/trl#1674: policy and reward model use different tokenizers; the reward model sees the text re-tokenised
    with its own tokenizer and never the policy's ids (TRL's completion_ids are ignored)."""
    policy_tok = make_tokenizer()
    rm_tok = make_tokenizer(reverse=True)  # same words, different ids
    rm = make_classifier(rm_tok)
    policy_ids = [policy_tok(t)["input_ids"] for t in TEXTS]
    assert policy_ids[0] != rm_tok(TEXTS[0])["input_ids"]

    reward = make("reward-model", model=rm, tokenizer=rm_tok)
    got = reward(TEXTS, completion_ids=policy_ids)
    want = [float(_logit(rm, rm_tok, t)[0]) for t in TEXTS]
    assert got == pytest.approx(want, abs=1e-5)
    # feeding the policy's ids to the reward model would give other values: the test can tell them apart
    wrong = [float(rm(input_ids=torch.tensor([ids])).logits[0, 0]) for ids in policy_ids]
    assert max(abs(a - b) for a, b in zip(got, wrong, strict=False)) > 1e-4


def test_reward_model_labels_and_input_modes():
    tok = make_tokenizer()
    clf = make_classifier(tok, num_labels=3)
    p1 = [float(torch.softmax(_logit(clf, tok, t), -1)[1]) for t in TEXTS]
    assert make("reward-model", model=clf, tokenizer=tok, label=1)(TEXTS) == pytest.approx(p1, abs=1e-5)
    assert make("reward-model", model=clf, tokenizer=tok, label="LABEL_1")(TEXTS) == pytest.approx(
        p1, abs=1e-5
    )
    last = [float(torch.softmax(_logit(clf, tok, t), -1)[2]) for t in TEXTS]
    assert make("reward-model", model=clf, tokenizer=tok)(TEXTS) == pytest.approx(last, abs=1e-5)
    with pytest.raises(ValueError, match="not one of"):
        make("reward-model", model=clf, tokenizer=tok, label="POSITIVE")(TEXTS)

    prompts = ["tell me about the cat"] * 3
    pair = make("reward-model", model=clf, tokenizer=tok, input="pair")(TEXTS, prompts)
    want = [
        float(torch.softmax(_logit(clf, tok, p, text_pair=t), -1)[2])
        for p, t in zip(prompts, TEXTS, strict=False)
    ]
    assert pair == pytest.approx(want, abs=1e-5)

    chat_tok = make_tokenizer()
    chat_tok.chat_template = "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }} ; {% endfor %}"
    auto = make("reward-model", model=clf, tokenizer=chat_tok)(TEXTS, prompts)  # auto -> chat template
    want = [
        float(torch.softmax(_logit(clf, chat_tok, f"user : {p} ; assistant : {t} ; "), -1)[2])
        for p, t in zip(prompts, TEXTS, strict=False)
    ]
    assert auto == pytest.approx(want, abs=1e-5)


def test_reward_model_needs_a_model_and_loads_from_a_directory(tmp_path):
    with pytest.raises(ValueError, match="needs model="):
        make("reward-model")
    tok = make_tokenizer()
    clf = make_classifier(tok)
    clf.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    got = make("reward-model", model=str(tmp_path))(TEXTS)
    assert got == pytest.approx([float(_logit(clf, tok, t)[0]) for t in TEXTS], abs=1e-5)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        make("reward-model", model=str(tmp_path / "missing"))(TEXTS)


@torch.no_grad()
def _judge_by_hand(lm, tok, prompt, completion):
    text = DEFAULT_JUDGE_TEMPLATE.format(prompt=prompt, completion=completion) + "\n\nRating: "
    enc = tok(text, return_tensors="pt")
    p = torch.softmax(lm(**{k: v for k, v in enc.items() if k != "token_type_ids"}).logits[0, -1].float(), -1)
    ids = [tok.convert_tokens_to_ids(str(r)) for r in range(1, 6)]
    mass = p[ids]
    return float(mass[3:].sum() / mass.sum())


def test_judge_probability_of_high_rating_tokens(tiny_tok, tiny_lm):
    prompts = ["tell me about the cat", "write a poem", "tell me about the cat"]
    judge = make("judge", model=make_causal_lm(tiny_tok), tokenizer=tiny_tok, batch_size=2)
    # policy ids are ignored (case C3, huggingface/trl#1674)
    got = judge(TEXTS, prompts, completion_ids=[[1, 2, 3]] * 3)
    want = [_judge_by_hand(tiny_lm, tiny_tok, p, c) for p, c in zip(prompts, TEXTS, strict=False)]
    assert got == pytest.approx(want, abs=1e-5)  # batched, left-padded == one at a time
    assert all(0.0 < v < 1.0 for v in got)
    only5 = make("judge", model=tiny_lm, tokenizer=tiny_tok, high=("5",))(TEXTS, prompts)
    assert all(a < b for a, b in zip(only5, got, strict=False))


def test_judge_rejects_bad_configuration(tiny_tok, tiny_lm):
    with pytest.raises(ValueError, match="subset"):
        make("judge", model=tiny_lm, tokenizer=tiny_tok, high=("9",))
    with pytest.raises(ValueError, match="{completion}"):
        make("judge", model=tiny_lm, tokenizer=tiny_tok, template="Rate: {prompt}")
    with pytest.raises(ValueError, match="single token"):
        make("judge", model=tiny_lm, tokenizer=tiny_tok, ratings=("10", "20"), high=("20",))(["a"], ["b"])


@pytest.mark.slow
def test_judge_default_is_the_embedded_smollm2():
    judge = make("judge")
    got = judge(
        ["Paris is the capital of France.", "banana banana banana"], ["What is the capital of France?"] * 2
    )
    assert all(0.0 <= v <= 1.0 for v in got)
    assert got == pytest.approx(
        judge(
            ["Paris is the capital of France.", "banana banana banana"],
            ["What is the capital of France?"] * 2,
        ),
        abs=1e-6,
    )
