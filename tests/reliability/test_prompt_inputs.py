"""Issue 10, bounded inputs: prompt files that used to hang, crash or count as prompts.

Each case asserts the error (file and line named) or the value; the CLI turns the error into exit 2.
"""

from __future__ import annotations

import os
import threading

import pytest

from aigc_rl.prompts import MAX_PROMPT_CHARS, PromptFileError, is_blank, load_prompts


def test_fifo_is_refused_without_blocking(tmp_path):
    """A FIFO as --prompts hung forever (open() blocks until a writer comes); now an error at once."""
    fifo = tmp_path / "prompts.txt"
    os.mkfifo(fifo)
    result: list[BaseException | None] = []

    def _load():
        try:
            load_prompts(fifo, "train")
            result.append(None)
        except BaseException as e:  # noqa: BLE001 (the test inspects it)
            result.append(e)

    t = threading.Thread(target=_load, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "load_prompts blocked on a FIFO"
    assert isinstance(result[0], PromptFileError)
    assert "not a regular file" in str(result[0])


def test_csv_field_over_the_csv_module_default(tmp_path):
    """A CSV field over 131,072 characters was a raw ``_csv.Error`` traceback; now it loads."""
    long = "word " * 40_000  # 200,000 characters
    p = tmp_path / "p.csv"
    p.write_text(f'prompt\n"{long}"\nshort\n', encoding="utf-8")
    rows = load_prompts(p, "all")
    assert rows[0]["prompt"] == long and rows[1]["prompt"] == "short"


def test_csv_field_over_our_limit_names_the_line(tmp_path):
    p = tmp_path / "p.csv"
    p.write_text(f'prompt\nok\n"{"x" * (MAX_PROMPT_CHARS + 5)}"\n', encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"p\.csv:3: malformed CSV"):
        load_prompts(p, "all")


def test_csv_module_limit_is_restored(tmp_path):
    import csv

    before = csv.field_size_limit()
    p = tmp_path / "p.csv"
    p.write_text("prompt\na\n", encoding="utf-8")
    load_prompts(p, "all")
    assert csv.field_size_limit() == before


@pytest.mark.parametrize(
    "text", ["\u200b", "\u200b\u200c\u2060", "\ufeff", "\x00", "\u00a0\u3000", " \t\u200d "]
)
def test_invisible_only_text_is_blank(text):
    assert is_blank(text)


@pytest.mark.parametrize("text", ["a", "\u200ba", "日本", "0", "é"])
def test_visible_text_is_not_blank(text):
    assert not is_blank(text)


@pytest.mark.parametrize("value", ["\\u0000\\u0000", "\\u200b", "\\u200b\\u2060\\ufeff"])
def test_jsonl_prompt_of_invisible_characters_is_empty(tmp_path, value):
    """Prompts of only NUL or zero-width characters counted as non-empty; now an error naming the line."""
    p = tmp_path / "p.jsonl"
    p.write_text('{"prompt": "fine"}\n{"prompt": "' + value + '"}\n', encoding="utf-8")
    with pytest.raises(PromptFileError, match=r"p\.jsonl:2: prompt of invisible characters only"):
        load_prompts(p, "all")


def test_txt_lines_of_invisible_characters_are_skipped(tmp_path):
    p = tmp_path / "p.txt"
    p.write_text("\u200b\u200b\n\u2060\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match="holds no prompt"):
        load_prompts(p, "all")
    p.write_text("\u200b\nreal prompt\n", encoding="utf-8")
    assert [r["prompt"] for r in load_prompts(p, "all")] == ["real prompt"]


def test_unreadable_path_is_a_prompt_error(tmp_path):
    with pytest.raises(PromptFileError, match="does not exist"):
        load_prompts(tmp_path / "missing.jsonl", "all")
