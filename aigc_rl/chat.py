"""Prompt formatting with the tokenizer's chat template, and length limits that keep the template intact.

Handed case C4: a chat prompt longer than the limit is cut from the *left of the user content*; the template's
markers (``<|im_start|>user`` ... ``<|im_start|>assistant``) are never truncated, and nothing is decoded with
special tokens stripped and re-encoded.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PromptTooLongError", "encode_chat_prompt", "truncate_user_content", "messages_for"]

_SENTINEL = "\u2063AIGCRLSENTINEL\u2063"


class PromptTooLongError(ValueError):
    """The chat template alone is longer than the prompt-length limit."""


def messages_for(prompt: str, system: str | None = None) -> list[dict[str, str]]:
    """Chat messages for a user prompt: ``[{"role": "system", ...}?, {"role": "user", "content": prompt}]``."""
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": prompt}]


def _template_parts(tokenizer: Any, system: str | None) -> tuple[str, str]:
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages_for(_SENTINEL, system), tokenize=False, add_generation_prompt=True)
        prefix, found, suffix = text.partition(_SENTINEL)
        if found:
            return prefix, suffix
    return "", ""


def encode_chat_prompt(
    tokenizer: Any, prompt: str, max_tokens: int | None = None, system: str | None = None
) -> tuple[list[int], str]:
    """Token ids of a user prompt formatted with the chat template, at most ``max_tokens`` long.

    Args:
        tokenizer: A Hugging Face tokenizer; its chat template is used when it has one (else the raw prompt).
        prompt: The user content.
        max_tokens: Length limit in tokens (``None`` = no limit).
        system: Optional system message.

    Returns:
        ``(ids, content)``: the prompt ids (template prefix + kept user-content tokens + template suffix, which
        ends in the generation prompt) and the user content that was kept (the tail of ``prompt``).

    Raises:
        PromptTooLongError: the template without any content is already longer than ``max_tokens``.
    """
    prefix, suffix = _template_parts(tokenizer, system)
    pre = tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else []
    suf = tokenizer(suffix, add_special_tokens=False)["input_ids"] if suffix else []
    if not prefix and not suffix and getattr(tokenizer, "bos_token_id", None) is not None:
        pre = [tokenizer.bos_token_id]
    content = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if max_tokens is not None:
        room = max_tokens - len(pre) - len(suf)
        if room < 1:
            raise PromptTooLongError(
                f"the chat template alone takes {len(pre) + len(suf)} tokens but the prompt limit is {max_tokens}; "
                "raise max_prompt_tokens"
            )
        if len(content) > room:
            content = content[len(content) - room :]
            prompt = tokenizer.decode(content)  # user content only: no template markers involved
    return pre + content + suf, prompt


def truncate_user_content(tokenizer: Any, prompt: str, max_tokens: int | None, system: str | None = None) -> str:
    """The user content that fits ``max_tokens`` once formatted (left-truncated; see :func:`encode_chat_prompt`)."""
    return encode_chat_prompt(tokenizer, prompt, max_tokens, system)[1]
