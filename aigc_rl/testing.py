"""Test helpers for aigc-rl users and its own tests, examples and benchmarks.

* :func:`tiny_lm` — a tiny randomly initialised Llama with a byte-level BPE tokenizer and a ChatML template,
  for tests and smoke runs (no network, under a second).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

__all__ = ["tiny_lm", "save_tiny_lm", "write_prompt_file", "tiny_train_config"]


_TINY_CORPUS = (
    "the cat sat on the mat. a dog ran in the park. write a slogan for a red bike. the sun is warm today. "
    "reply to the customer politely. what is two plus two? explain why the sky is blue in one sentence. "
    "zebra zoo zone zero zigzag. hello world, this is a tiny model for tests."
)

_CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
    "'\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def tiny_lm(
    seed: int = 0,
    hidden_size: int = 32,
    num_layers: int = 2,
    chat_template: bool = True,
    init_std: float = 0.02,
) -> tuple[Any, Any]:
    """A tiny randomly initialised Llama causal LM and a byte-level BPE tokenizer (for tests and smoke runs).

    The tokenizer has ``<|im_start|>`` (BOS) and ``<|im_end|>`` (EOS **and** pad, as in SmolLM2, case C1, huggingface/transformers#34658), a
    ChatML chat template (unless ``chat_template=False``), left padding, and about 300 tokens; any text can be
    encoded (byte level). Built in memory in well under a second; no network. ``init_std`` is the weights'
    initialisation scale (``initializer_range``): at 0.02 the next-token distribution is nearly uniform; larger
    values give peaked, LM-like distributions that RL can move quickly.

    Returns:
        ``(model, tokenizer)``; the model is in eval mode, float32, on CPU.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    specials = ["<|im_start|>", "<|im_end|>", "<unk>"]
    bpe = Tokenizer(models.BPE(unk_token="<unk>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator([_TINY_CORPUS], trainer=trainer)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|im_end|>",
        unk_token="<unk>",
        padding_side="left",
    )
    if chat_template:
        tok.chat_template = _CHATML
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=hidden_size,
        intermediate_size=2 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        tie_word_embeddings=True,
        initializer_range=init_std,
    )
    model = LlamaForCausalLM(config).eval()
    return model, tok


def save_tiny_lm(directory: str | Path, **kwargs: Any) -> Path:
    """Save :func:`tiny_lm` (model and tokenizer) to ``directory``, so it loads like any model directory
    (``--model DIR``, ``from_pretrained(DIR)``).

    Args:
        directory: Where to save (created if missing).
        **kwargs: :func:`tiny_lm` arguments (``seed``, ``init_std``, ...).

    Returns:
        ``directory`` as a ``Path``.
    """
    model, tok = tiny_lm(**kwargs)
    model.save_pretrained(directory)
    tok.save_pretrained(directory)
    return Path(directory)


#: Ten short requests, the prompt set of the tiny training runs in the tests.
TINY_PROMPTS = ("sun", "sea", "cat", "dog", "red bike", "tree", "moon", "rain", "city", "song")


def write_prompt_file(path: str | Path) -> Path:
    """Write ten one-line requests (``{"prompt": ...}`` per line) to the ``.jsonl`` file ``path``."""
    import json

    p = Path(path)
    p.write_text(
        "".join(json.dumps({"prompt": f"write a short line about the {w}"}) + "\n" for w in TINY_PROMPTS)
    )
    return p


def tiny_train_config(model_dir: str | Path, prompts: str | Path, out: str | Path, **overrides: Any) -> Any:
    """A :class:`~aigc_rl.config.TrainConfig` for a seconds-long text run on a tiny model on the CPU: 2 steps of
    2 prompts x 2 completions of 6 tokens, a checkpoint every step, 2 x 2 evaluation samples; ``overrides``
    replace any field (the reward defaults to ``fluency:0.1,distinct-2:1.0``)."""
    from aigc_rl.config import TrainConfig

    args: dict[str, Any] = dict(
        model=str(model_dir),
        prompts=str(prompts),
        reward="fluency:0.1,distinct-2:1.0",
        max_steps=2,
        num_generations=2,
        prompts_per_step=2,
        max_new_tokens=6,
        save_steps=1,
        eval_prompts=2,
        eval_samples=2,
        device="cpu",
        output_dir=str(out),
    )
    args.update(overrides)
    return TrainConfig(**args)
