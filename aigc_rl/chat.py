"""Chat messages for a prompt. Token-level formatting with length limits: :class:`aigc_rl.prompt_encoding.PromptEncoder`."""

from __future__ import annotations

__all__ = ["messages_for"]


def messages_for(prompt: str, system: str | None = None) -> list[dict[str, str]]:
    """Chat messages for a user prompt: ``[{"role": "system", ...}?, {"role": "user", "content": prompt}]``."""
    msgs = [{"role": "system", "content": system}] if system else []
    return msgs + [{"role": "user", "content": prompt}]
