"""Bad input to the ``aigc-rl`` command line: exit status 2, one line naming the thing and the fix, no traceback,
and nothing written. A tiny model directory stands in for SmolLM2 so nothing heavy runs."""

from __future__ import annotations

import json

import pytest

from aigc_rl.cli import main


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from aigc_rl.testing import save_tiny_lm

    d = save_tiny_lm(tmp_path_factory.mktemp("tiny"))
    return d


def _fails(capsys, argv, *needles):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for n in needles:
        assert n in err, err
    return err


def _files(tmp_path, prompts=None):
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "bad.jsonl").write_text('{"prompt": "a"}\n{bad\n')
    (tmp_path / "nonutf.txt").write_bytes(b"hello\n\xff\xfe bad\n")
    (tmp_path / "bin.bin").write_bytes(bytes(range(256)))
    (tmp_path / "high.bin").write_bytes(bytes(range(128, 256)))
    (tmp_path / "dir").mkdir()
    (tmp_path / "bad.yaml").write_text("x: [1\n")
    (tmp_path / "int_reward.yaml").write_text("reward: 5\n")


TRAIN_CASES = [
    (["--reward", "nope"], ["'nope'", "relevance", "presets: quality, creativity, safety"]),
    (["--reward", "quality:x"], ["'x'", "--reward"]),
    (["--reward", "relevance+"], ["empty item", "--reward"]),
    (["--task", "nope"], ["'nope'", "content, education, support"]),
    (["--agent", "nope"], ["'nope'", "grpo, rloo"]),
    (["--env", "nope"], ["'nope'", "aigc_rl/TextCompletion-v0"]),
    (["--prompts", "{t}/empty.txt"], ["empty.txt", "no prompt"]),
    (["--prompts", "{t}/bad.jsonl"], ["bad.jsonl:2", "invalid JSON"]),
    (["--prompts", "{t}/nonutf.txt"], ["nonutf.txt:2", "UTF-8"]),
    (["--prompts", "{t}/bin.bin"], ["bin.bin:1", "NUL bytes"]),
    (["--prompts", "{t}/high.bin"], ["high.bin:1", "UTF-8"]),
    (["--prompts", "{t}/dir"], ["is a directory"]),
    (["--max-steps", "0"], ["max_steps", "--max-steps"]),
    (["--max-steps", "-3"], ["max_steps", "-3"]),
    (["--learning-rate", "-1"], ["learning_rate", "positive"]),
    (["--num-generations", "1"], ["num_generations", ">= 2"]),
    (["--config", "{t}/bad.yaml"], ["bad.yaml:2", "not valid YAML"]),
    (["--config", "{t}/dir"], ["is a directory"]),
    (["--config", "{t}/int_reward.yaml"], ["reward must be a spec string"]),
    (["--config", "{t}/missing.yaml"], ["does not exist"]),
    (["--resume"], ["holds no run to resume"]),
    (["--env", "aigc_rl/LatentImage-v0", "--reward", "safety"], ["'safety'", "target-class"]),
    (["--env", "aigc_rl/LatentImage-v0", "--reward", "relevance"], ["'relevance'", "scores text"]),
]


@pytest.mark.parametrize("extra,needles", TRAIN_CASES, ids=[" ".join(c[0]) for c in TRAIN_CASES])
def test_train_bad_input_exits_2_and_writes_nothing(capsys, tmp_path, tiny_dir, monkeypatch, extra, needles):
    """Bad train input: one-line error with exit 2 before anything is written (case F1, huggingface/evaluate#315 env: offline)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _files(tmp_path)
    out = tmp_path / "run"
    argv = ["train", "--model", str(tiny_dir), "--max-steps", "1", "--output-dir", str(out)]
    argv += [a.replace("{t}", str(tmp_path)) for a in extra]
    _fails(capsys, argv, *needles)
    assert not out.exists()


def test_existing_run_is_refused_and_kept(capsys, tmp_path, tiny_dir):
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    _fails(capsys, ["train", "--model", str(tiny_dir), "--output-dir", str(out)], "--resume", "--overwrite")
    assert (out / "metrics.jsonl").read_text() == '{"step": 1}\n'


def test_missing_model_writes_nothing(capsys, tmp_path):
    out = tmp_path / "run"
    _fails(
        capsys, ["train", "--model", str(tmp_path / "no-model"), "--output-dir", str(out)], "does not exist"
    )
    assert not out.exists()


def test_eval_and_report_errors(capsys, tmp_path, tiny_dir):
    from aigc_rl.config import TrainConfig

    _fails(capsys, ["eval", "--run", str(tmp_path / "missing")], "config.yaml", "aigc-rl train")
    run = tmp_path / "r"
    run.mkdir()
    TrainConfig(model=str(tiny_dir), output_dir=str(run)).save(run / "config.yaml")
    _fails(capsys, ["eval", "--run", str(run)], "adapter", "--resume")
    _fails(capsys, ["eval", "--run", str(run), "--n-prompts", "0"], "--n-prompts")
    _fails(capsys, ["eval", "--run", str(run), "--samples", "-1"], "--samples")
    _fails(
        capsys,
        ["report", str(tmp_path / "missing"), "--out", str(tmp_path / "rep")],
        "missing",
        "aigc-rl train",
    )
    assert not (tmp_path / "rep").exists()
    (tmp_path / "f.txt").write_text("x")
    _fails(capsys, ["report", str(run), "--out", str(tmp_path / "f.txt")], "is a file")
    _fails(capsys, ["pretrain", "gan", "--output-dir", str(tmp_path / "pg"), "--epochs", "0"], "--epochs")
    assert not (tmp_path / "pg").exists()


def test_eval_corrupt_config(capsys, tmp_path):
    run = tmp_path / "r"
    run.mkdir()
    (run / "config.yaml").write_text("just a string\n")
    _fails(capsys, ["eval", "--run", str(run)], "config.yaml")


def test_rewards_lists_presets_offline(capsys, monkeypatch):
    """Case F1, huggingface/evaluate#315: `aigc-rl rewards` lists every reward with no network (sockets refused), from the registry's
    metadata: no reward is built, so even `reward-model` (which needs model=...) is described."""
    import socket

    def refuse(*a, **k):
        raise OSError("network disabled in test")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    assert main(["rewards"]) == 0
    out = capsys.readouterr().out
    for name in ("relevance", "target-class", '"preset": "quality"', '"preset": "safety"'):
        assert name in out
    assert "needs arguments" not in out
    rm = [json.loads(line) for line in out.splitlines() if '"name": "reward-model"' in line]
    assert len(rm) == 1 and rm[0]["kind"] == "quality" and rm[0]["direction"] == "maximize"


def test_closed_pipe_ends_quietly():
    """New-user trial, 2026-12-07: `aigc-rl rewards | head -1` ended with a BrokenPipeError traceback."""
    import subprocess
    import sys

    code = "import sys; from aigc_rl.cli import main; sys.exit(main(['rewards']))"
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader has gone before the listing is written, as after `head -1`
    err = p.stderr.read().decode()
    p.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
