"""Kill and resume a text run: nothing lost, nothing duplicated, resumed == uninterrupted (issue 10).

A tiny randomly initialised Llama (``tiny_lm``) saved to a directory stands in for SmolLM2, so the command
line runs the same code path as ``aigc-rl train --model DIR``. 8 training prompts at 2 per step make an epoch
of 4 steps; 8 steps cross an epoch boundary (the prompt order of the second epoch must survive a resume).

``AIGC_RL_KILL_POINTS`` (default 3) sets how many random kill points the subprocess test tries;
``AIGC_RL_KILL_SEED`` (default 0) seeds where they fall; ``AIGC_RL_KILL_LOG=FILE`` appends one JSON line per
point (signal, exit status, resumed-from step, max abs adapter difference, seconds) for measurements.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from aigc_rl.config import TrainConfig
from aigc_rl.run import COMPLETE_MARKER, is_complete
from aigc_rl.testing import save_tiny_lm
from aigc_rl.train import run_train

pytestmark = pytest.mark.usefixtures("one_thread")

REWARD = "distinct-1,distinct-2:0.5"
MAX_STEPS = 8
FLAGS = {
    "reward": REWARD,
    "num_generations": 2,
    "prompts_per_step": 2,
    "max_new_tokens": 6,
    "save_steps": 1,
    "eval_prompts": 2,
    "eval_samples": 2,
    "device": "cpu",
}


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_tiny_lm(tmp_path_factory.mktemp("tiny-llama"), seed=0)


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    p = tmp_path_factory.mktemp("prompts") / "p.jsonl"
    words = ("sun", "sea", "cat", "dog", "red bike", "tree", "moon", "rain", "city", "song")
    p.write_text("".join(json.dumps({"prompt": f"write a short line about the {w}"}) + "\n" for w in words))
    return p


def _cfg(tiny_dir, prompts, out, **kw):
    args = dict(FLAGS, model=str(tiny_dir), prompts=str(prompts), max_steps=MAX_STEPS, output_dir=str(out))
    args.update(kw)
    return TrainConfig(**args)


def _adapter(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(run / "adapter" / "adapter_model.safetensors"))


def _max_abs_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _steps(run: Path) -> list[int]:
    return [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(tiny_dir, prompts, tmp_path_factory, one_thread):
    """The uninterrupted run (in this process)."""
    run = run_train(_cfg(tiny_dir, prompts, tmp_path_factory.mktemp("ref") / "run"))
    assert _steps(run) == list(range(1, MAX_STEPS + 1))
    return _adapter(run)


def test_resume_after_complete_checkpoint_equals_uninterrupted(tiny_dir, prompts, tmp_path, reference):
    out = tmp_path / "run"
    run_train(_cfg(tiny_dir, prompts, out, max_steps=5))  # 5 steps: one epoch and one step of the next
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    run_train(_cfg(tiny_dir, prompts, out, resume=True))  # max_steps raised back to 8: a safe change
    assert _max_abs_diff(_adapter(out), reference) == 0.0
    assert _steps(out) == list(range(1, MAX_STEPS + 1))  # each step once
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "finished" and rec["config"]["max_steps"] == MAX_STEPS
    assert rec["resumed_from"].endswith("checkpoint-5")


def test_partial_newest_checkpoint_is_skipped(tiny_dir, prompts, tmp_path, reference):
    out = tmp_path / "run"
    run_train(_cfg(tiny_dir, prompts, out, max_steps=4))
    ckpts = out / "checkpoints"
    assert is_complete(ckpts / "checkpoint-3") and is_complete(ckpts / "checkpoint-4")
    # A kill while checkpoint-4 was being saved: its marker never written, its weights torn; and a kill
    # right after checkpoint-5 was created: an empty directory.
    (ckpts / "checkpoint-4" / COMPLETE_MARKER).unlink()
    w = ckpts / "checkpoint-4" / "adapter_model.safetensors"
    w.write_bytes(w.read_bytes()[:100])
    (ckpts / "checkpoint-5").mkdir()
    # metrics.jsonl as a kill mid-write at step 5 leaves it: a torn last line
    with (out / "metrics.jsonl").open("a") as f:
        f.write('{"step": 5, "loss": 0.')
    run_train(_cfg(tiny_dir, prompts, out, resume=True))
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["resumed_from"].endswith("checkpoint-3")
    assert _max_abs_diff(_adapter(out), reference) == 0.0
    assert _steps(out) == list(range(1, MAX_STEPS + 1))


# ---------------------------------------------------------------------------------------------------------
# kill a `python -m aigc_rl.cli train` subprocess at random points, then resume it
# ---------------------------------------------------------------------------------------------------------
def _cli(tiny_dir, prompts, out) -> list[str]:
    argv = [sys.executable, "-m", "aigc_rl.cli", "train", "--model", str(tiny_dir), "--prompts", str(prompts)]
    argv += ["--max-steps", str(MAX_STEPS), "--output-dir", str(out)]
    for k, v in FLAGS.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    return argv


def _env() -> dict[str, str]:
    return dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TQDM_DISABLE="1")


def _wait_for(path_test, proc, timeout=300.0) -> bool:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if path_test():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


def _kill_points(n: int, seed: int) -> list[tuple[str, int, float]]:
    """``(how, after_checkpoint, delay_s)``: wait for ``checkpoint-<after>`` to be complete (0: the run
    record), then ``delay_s`` more, then send the signal(s)."""
    rng = random.Random(seed)
    hows = ["TERM", "KILL", "TERM+TERM"]
    return [(hows[i % 3], rng.randrange(0, MAX_STEPS), rng.uniform(0.0, 0.4)) for i in range(n)]


N_POINTS = int(os.environ.get("AIGC_RL_KILL_POINTS", "3"))
SEED = int(os.environ.get("AIGC_RL_KILL_SEED", "0"))


@pytest.mark.parametrize("how, after, delay", _kill_points(N_POINTS, SEED))
def test_kill_then_resume_equals_uninterrupted(tiny_dir, prompts, tmp_path, reference, how, after, delay):
    t0 = time.monotonic()
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _cli(tiny_dir, prompts, out), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    marker = (
        (lambda: (out / "run.json").is_file())
        if after == 0
        else (lambda: is_complete(out / "checkpoints" / f"checkpoint-{after}"))
    )
    _wait_for(marker, proc)
    time.sleep(delay)
    if proc.poll() is None:
        if how == "KILL":
            proc.send_signal(signal.SIGKILL)
        else:
            proc.send_signal(signal.SIGTERM)
            if how == "TERM+TERM":
                time.sleep(0.05)
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    rc = proc.returncode
    if how.startswith("TERM") and rc == 143:  # stopped by our handler: one line says where and how to resume
        last = err.strip().splitlines()[-1]
        assert last.startswith("aigc-rl train: interrupted at step ") and last.endswith(
            f"resume with: aigc-rl train --output-dir {out} --resume"
        ), err[-2000:]
        assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
    else:
        assert rc in (0, -signal.SIGKILL, -signal.SIGTERM), err[-3000:]
    if rc != 0:
        if (out / "run.json").is_file():  # resume exactly as the README says: no other flag
            argv = [sys.executable, "-m", "aigc_rl.cli", "train", "--output-dir", str(out), "--resume"]
        else:  # killed before the run was recorded: the same command again
            argv = _cli(tiny_dir, prompts, out)
        res = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stderr[-3000:]
    diff = _max_abs_diff(_adapter(out), reference)
    if os.environ.get("AIGC_RL_KILL_LOG"):
        resumed = json.loads((out / "run.json").read_text()).get("resumed_from")
        row = {"how": how, "after": after, "delay": round(delay, 3), "rc": rc, "resumed_from": resumed}
        row.update(max_abs_diff=diff, seconds=round(time.monotonic() - t0, 1))
        with open(os.environ["AIGC_RL_KILL_LOG"], "a") as f:
            f.write(json.dumps(row) + "\n")
    assert diff == 0.0
    assert _steps(out) == list(range(1, MAX_STEPS + 1))
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
