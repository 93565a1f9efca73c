"""Tiny, randomly initialised models and word-level tokenizers for reward tests (built here, no download)."""

from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    LlamaForSequenceClassification,
    PreTrainedTokenizerFast,
)

WORDS = (
    "the a cat dog sat ran on in mat park sun is was big small happy sad good bad day night tell me about write "
    "story poem short long very and or it of to rate response request quality scale answer with single digit "
    "you are strict judge writing useless harmful acceptable excellent helpful correct clear original rating"
).split()
SPECIALS = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]
PUNCT = list(".,!?:;()=-")
DIGITS = list("0123456789")


def make_tokenizer(words: list[str] = WORDS, reverse: bool = False) -> PreTrainedTokenizerFast:
    """A word-level tokenizer; ``reverse=True`` gives the same words different ids (a "different tokenizer")."""
    vocab_list = SPECIALS + DIGITS + PUNCT + (list(reversed(words)) if reverse else list(words))
    vocab = {w: i for i, w in enumerate(dict.fromkeys(vocab_list))}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", bos_token="[BOS]", eos_token="[EOS]"
    )


def llama_config(vocab_size: int, **kw) -> LlamaConfig:
    base = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=3,
    )
    base.update(kw)
    return LlamaConfig(**base)


def make_causal_lm(tok: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(llama_config(len(tok))).eval()


def make_classifier(
    tok: PreTrainedTokenizerFast, num_labels: int = 1, seed: int = 0
) -> LlamaForSequenceClassification:
    torch.manual_seed(seed)
    return LlamaForSequenceClassification(llama_config(len(tok), num_labels=num_labels)).eval()


@pytest.fixture(scope="session")
def tiny_tok() -> PreTrainedTokenizerFast:
    return make_tokenizer()


@pytest.fixture(scope="session")
def tiny_lm(tiny_tok):
    return make_causal_lm(tiny_tok)
