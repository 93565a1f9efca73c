"""Kill ``aigc-rl eval`` at random points: nothing torn, the lock not left behind, a rerun equal to an
uninterrupted eval (issue 10, build item 7).

A tiny randomly initialised Llama (``tiny_lm``) saved to a directory stands in for SmolLM2. ``eval.json`` and
``samples.jsonl`` are written atomically (a temporary file, then ``os.replace``), so after a kill each is
either absent or a complete file from an earlier eval; the run's lock is an ``flock``, released by the kernel
when the process dies, so the next eval starts at once. ``AIGC_RL_KILL_POINTS`` (default 2) sets how many
random kill points are tried.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aigc_rl.config import TrainConfig
from aigc_rl.evaluation import evaluate_run
from aigc_rl.testing import save_tiny_lm
from aigc_rl.train import run_train

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, one_thread):
    model_dir = save_tiny_lm(tmp_path_factory.mktemp("tiny-llama"), seed=0)
    prompts = tmp_path_factory.mktemp("prompts") / "p.jsonl"
    words = ("sun", "sea", "cat", "dog", "bike", "tree", "moon", "rain", "city", "song")
    prompts.write_text("".join(json.dumps({"prompt": f"write a line about the {w}"}) + "\n" for w in words))
    cfg = TrainConfig(
        model=str(model_dir),
        prompts=str(prompts),
        reward="distinct-1,distinct-2:0.5",
        num_generations=2,
        prompts_per_step=2,
        max_new_tokens=6,
        max_steps=2,
        eval_prompts=2,
        eval_samples=2,
        device="cpu",
        output_dir=str(tmp_path_factory.mktemp("run") / "run"),
    )
    return run_train(cfg)


def _eval_files(run: Path) -> dict[str, bytes]:
    return {n: (run / n).read_bytes() for n in ("eval.json", "samples.jsonl") if (run / n).exists()}


def test_killed_eval_leaves_no_torn_file_and_a_rerun_equals_an_uninterrupted_eval(finished_run, tmp_path):
    reference_run = tmp_path / "reference"
    shutil.copytree(finished_run, reference_run)
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    t0 = time.monotonic()  # the uninterrupted eval, timed: kill points fall anywhere inside its life
    subprocess.run(
        [sys.executable, "-m", "aigc_rl.cli", "eval", "--run", str(reference_run)],
        env=env,
        check=True,
        capture_output=True,
    )
    duration = time.monotonic() - t0
    reference = json.loads((reference_run / "eval.json").read_text())

    rng = random.Random(int(os.environ.get("AIGC_RL_KILL_SEED", "0")))
    killed = 0
    for point in range(int(os.environ.get("AIGC_RL_KILL_POINTS", "2"))):
        run = tmp_path / f"run{point}"
        shutil.copytree(finished_run, run)
        sig = rng.choice([signal.SIGTERM, signal.SIGKILL])
        proc = subprocess.Popen(
            [sys.executable, "-m", "aigc_rl.cli", "eval", "--run", str(run)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.2, 0.95) * duration)  # imports, model load, sampling, writing eval or report
        still_running = proc.poll() is None
        proc.send_signal(sig)
        status = proc.wait(timeout=120)
        if still_running:  # it died by the signal (SIGTERM: the CLI's handler may end it as interrupted)
            assert status in (-signal.SIGKILL, -signal.SIGTERM, 143, 130), status
        killed += still_running
        # Whatever the point: each eval file is absent or complete JSON, never torn.
        for name, data in _eval_files(run).items():
            for line in data.decode().splitlines() if name.endswith(".jsonl") else [data.decode()]:
                json.loads(line)
        # The lock died with the process: a new eval starts at once and gives the uninterrupted numbers.
        out = evaluate_run(run, report=False)
        assert out["policies"] == reference["policies"], f"point {point} ({sig.name})"
        assert json.loads((run / "eval.json").read_text())["policies"] == reference["policies"]
    assert killed >= 1, "no kill point landed while the eval was running"
