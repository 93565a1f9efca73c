"""Prompt sets: shipped tasks, user files, and clear errors on bad files."""

from __future__ import annotations

import json

import pytest

from aigc_rl.prompts import PromptFileError, load_prompts, task_names


@pytest.mark.parametrize("task", ["content", "support", "education"])
def test_shipped_tasks_have_fixed_split(task):
    rows = load_prompts(task, "all")
    assert len(rows) >= 150
    train, ev = load_prompts(task, "train"), load_prompts(task, "eval")
    assert len(ev) == 60 and len(train) == len(rows) - 60
    assert [r["id"] for r in rows[-60:]] == [r["id"] for r in ev]  # the last 60 lines are eval
    assert len({r["prompt"] for r in rows}) == len(rows)


def test_task_names():
    assert task_names() == ["content", "education", "support"]


def test_user_jsonl_keeps_columns(tmp_path):
    p = tmp_path / "p.jsonl"
    p.write_text(
        '{"prompt": "a", "references": ["x"]}\n\n{"prompt": "b", "split": "eval"}\n', encoding="utf-8"
    )
    assert [r["prompt"] for r in load_prompts(p, "train")] == ["a"]
    assert load_prompts(p, "train")[0]["references"] == ["x"]
    assert [r["prompt"] for r in load_prompts(p, "eval")] == ["b"]


def test_user_csv_and_txt_default_split(tmp_path):
    csv = tmp_path / "p.csv"
    csv.write_text("prompt,topic\n" + "".join(f"q{i},t{i}\n" for i in range(10)), encoding="utf-8")
    rows = load_prompts(csv, "all")
    assert [r["split"] for r in rows].count("eval") == 2  # every 5th prompt
    assert rows[3]["topic"] == "t3"
    txt = tmp_path / "p.txt"
    txt.write_text("one\n\n two \nthree\nfour\nfive\n", encoding="utf-8")
    assert [r["prompt"] for r in load_prompts(txt, "all")] == ["one", "two", "three", "four", "five"]
    assert [r["prompt"] for r in load_prompts(txt, "eval")] == ["five"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("", "holds no prompt"),
        ('{"prompt": "ok"}\n{"prompt": \n', ":2: invalid JSON"),
        ('{"prompt": "ok"}\n{"text": "x"}\n', ":2: no 'prompt' field"),
        ('{"prompt": "ok"}\n{"prompt": "  "}\n', ":2: empty prompt"),
        ('["a"]\n', ":1: expected a JSON object"),
        ('{"prompt": 3}\n', ":1: 'prompt' must be a string"),
        ('{"prompt": "a", "split": "test"}\n', "split 'test'"),
    ],
)
def test_bad_jsonl_names_file_and_line(tmp_path, content, message):
    p = tmp_path / "bad.jsonl"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(PromptFileError, match=message.replace("(", r"\(").replace(")", r"\)")) as e:
        load_prompts(p, "all")
    assert "bad.jsonl" in str(e.value)


def test_non_utf8_names_line(tmp_path):
    p = tmp_path / "latin1.txt"
    p.write_bytes("first\nsecond caf\xe9\n".encode("latin-1"))
    with pytest.raises(PromptFileError, match=r"latin1.txt:2: not valid UTF-8"):
        load_prompts(p, "all")


def test_unknown_task_lists_available():
    with pytest.raises(PromptFileError, match="available: content, education, support"):
        load_prompts("poetry", "train")


def test_missing_file_and_csv_without_prompt_column(tmp_path):
    with pytest.raises(PromptFileError, match="does not exist"):
        load_prompts(tmp_path / "nope.jsonl")
    p = tmp_path / "p.csv"
    p.write_text("text\nhello\n", encoding="utf-8")
    with pytest.raises(PromptFileError, match="'prompt' column"):
        load_prompts(p)


def test_chinese_prompts_roundtrip(tmp_path):
    p = tmp_path / "zh.jsonl"
    p.write_text(json.dumps({"prompt": "为咖啡店写一句广告语"}, ensure_ascii=False) + "\n", encoding="utf-8")
    assert load_prompts(p, "train")[0]["prompt"] == "为咖啡店写一句广告语"
