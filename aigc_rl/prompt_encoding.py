"""Prompts as a policy sees them: prompt texts for an env, and their chat-formatted, length-limited token ids.

* :func:`load_prompt_texts` — prompt strings from a task prompt set, a prompt file or a list.
* :class:`PromptEncoder` — chat-template formatting with left truncation of the *user content* (case C4, huggingface/trl#3644).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aigc_rl.prompts import load_prompts

__all__ = ["load_prompt_texts", "PromptEncoder"]


def load_prompt_texts(
    prompts: Sequence[str | dict[str, Any]] | str | Path | None = None,
    task: str = "content",
    split: str | None = "train",
) -> list[str]:
    """Prompt strings for an env.

    Args:
        prompts: A list of strings or ``{"prompt": ...}`` dicts, or a prompt file path (JSONL, CSV, text) / a
            task name; ``None`` uses ``task``.
        task: A shipped prompt set (``"content"``, ``"support"``, ``"education"``) or a prompt file path, read
            with :func:`aigc_rl.prompts.load_prompts`.
        split: ``"train"`` or ``"eval"`` (files without a ``split`` column are split as
            :func:`~aigc_rl.prompts.load_prompts` says); ``None`` keeps all rows. Ignored for a list.

    Raises:
        aigc_rl.errors.PromptFileError: an unknown task or a bad prompt file (from ``load_prompts``).
        ValueError: no prompt found, or an entry that is neither a string nor a dict with ``"prompt"``.
    """
    if prompts is None or isinstance(prompts, (str, Path)):
        source = prompts if prompts is not None else task
        rows: Sequence[Any] = load_prompts(source, split if split is not None else "all")
    else:
        rows = list(prompts)
    out: list[str] = []
    for i, r in enumerate(rows):
        if isinstance(r, str):
            out.append(r)
        elif isinstance(r, dict) and isinstance(r.get("prompt"), str):
            out.append(r["prompt"])
        else:
            raise ValueError(f"prompt {i} must be a string or a dict with a 'prompt' string, got {r!r:.80}")
    if not out:
        raise ValueError(
            f"no prompts (task={task!r}, split={split!r}); pass prompts=[...] with at least one prompt"
        )
    return out


class PromptEncoder:
    """Token ids of a prompt, chat-formatted, at most ``max_tokens`` long (handed case C4, huggingface/trl#3644).

    With a chat template (``use_chat_template=None`` means "when the tokenizer has one") the prompt becomes the
    user turn of a one-turn conversation plus the generation prompt. When the result is longer than
    ``max_tokens``, tokens are removed from the **left of the user content** only; the template's own tokens
    (system turn, ``<|im_start|>user``, ``<|im_end|>``, the assistant header) stay intact. Truncation works on
    token ids with the tokenizer's character offsets; the prompt is never decoded and re-encoded.

    Args:
        tokenizer: A ``transformers`` tokenizer (fast tokenizers use offsets; slow ones tokenise the template
            parts separately).
        max_tokens: Maximum prompt length in tokens, > template overhead.
        use_chat_template: ``True``/``False``/``None`` (auto).
        system_prompt: Optional system message placed before the user turn.

    Raises:
        ValueError: ``use_chat_template=True`` but the tokenizer has no template; the template alone is longer
            than ``max_tokens`` (the message gives the overhead).
    """

    _SENTINEL = "\u2063AIGCRLPROMPT\u2063"

    def __init__(
        self,
        tokenizer: Any,
        max_tokens: int,
        use_chat_template: bool | None = None,
        system_prompt: str | None = None,
    ) -> None:
        has_template = getattr(tokenizer, "chat_template", None) is not None
        if use_chat_template and not has_template:
            raise ValueError(
                "use_chat_template=True but the tokenizer has no chat template; pass use_chat_template=False"
            )
        self.tokenizer = tokenizer
        self.max_tokens = int(max_tokens)
        self.templated = has_template if use_chat_template is None else bool(use_chat_template)
        self.system_prompt = system_prompt
        if self.templated:
            msgs = ([{"role": "system", "content": system_prompt}] if system_prompt else []) + [
                {"role": "user", "content": self._SENTINEL}
            ]
            rendered = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
            if rendered.count(self._SENTINEL) != 1:
                raise ValueError(
                    "the chat template does not place the user content verbatim; pass use_chat_template=False"
                )
            self.prefix, _, self.suffix = rendered.partition(self._SENTINEL)
        else:
            self.prefix = self.suffix = ""
        overhead = len(self._encode_parts("")[0])
        if overhead >= self.max_tokens:
            raise ValueError(
                f"max_prompt_tokens={self.max_tokens} leaves no room for the prompt: the chat template alone takes "
                f"{overhead} tokens; raise max_prompt_tokens"
            )
        self.overhead = overhead

    def _encode_parts(self, content: str) -> tuple[list[int], list[bool]]:
        """Token ids of ``prefix + content + suffix`` and, per token, whether it belongs to the content."""
        tok = self.tokenizer
        add_special = not self.templated  # a rendered template already holds its special tokens
        text = self.prefix + content + self.suffix
        lo, hi = len(self.prefix), len(self.prefix) + len(content)
        if getattr(tok, "is_fast", False):
            enc = tok(text, add_special_tokens=add_special, return_offsets_mapping=True)
            ids = list(enc["input_ids"])
            is_content = [s >= lo and e <= hi and e > s for s, e in enc["offset_mapping"]]
            return ids, is_content
        parts = [
            tok(self.prefix, add_special_tokens=False)["input_ids"] if self.prefix else [],
            tok(content, add_special_tokens=False)["input_ids"] if content else [],
            tok(self.suffix, add_special_tokens=False)["input_ids"] if self.suffix else [],
        ]
        if add_special and tok.bos_token_id is not None and getattr(tok, "add_bos_token", True):
            parts[0] = [tok.bos_token_id] + parts[0]
        ids = parts[0] + parts[1] + parts[2]
        return ids, [False] * len(parts[0]) + [True] * len(parts[1]) + [False] * len(parts[2])

    def __call__(self, prompt: str) -> list[int]:
        """Token ids (length <= ``max_tokens``) of ``prompt``; see the class docstring."""
        return self.encode(prompt)[0]

    def encode(self, prompt: str) -> tuple[list[int], str]:
        """Token ids (length <= ``max_tokens``) and the user content they keep (a suffix of ``prompt``).

        The kept content is what a reward model should see as the prompt, and what a trainer that applies the
        chat template itself (TRL) should be given, so that it never has to truncate a templated prompt.
        """
        ids, is_content = self._encode_parts(prompt)
        excess = len(ids) - self.max_tokens
        if excess <= 0:
            return ids, prompt
        drop: set[int] = set()
        for i, c in enumerate(is_content):  # the first `excess` content tokens, left to right
            if len(drop) == excess:
                break
            if c:
                drop.add(i)
        kept_ids = [t for i, t in enumerate(ids) if i not in drop]
        kept_content = [
            t for i, (t, c) in enumerate(zip(ids, is_content, strict=True)) if c and i not in drop
        ]
        tok = self.tokenizer
        if getattr(tok, "is_fast", False):
            enc = tok(
                self.prefix + prompt + self.suffix,
                add_special_tokens=not self.templated,
                return_offsets_mapping=True,
            )
            first = next((i for i, c in enumerate(is_content) if c and i not in drop), None)
            kept = prompt[enc["offset_mapping"][first][0] - len(self.prefix) :] if first is not None else ""
        else:
            kept = tok.decode(kept_content)  # user content only: no template markers involved
        return kept_ids, kept
