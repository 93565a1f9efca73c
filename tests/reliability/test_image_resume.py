"""Issue 10, image runs: kill a training (SIGTERM or SIGKILL) at random points, resume, and get the same run.

A subprocess trains SAC on ``aigc_rl/LatentImage-v0`` (600 env steps, a checkpoint every 40) and is killed
at a random point (once ``metrics.jsonl`` shows a random step, plus up to 0.1 s); a new process then resumes it (``train_latent(..., resume=True)``), as
``aigc-rl train --resume`` would. The final policy tensors must
equal those of an uninterrupted run with the same seed (max abs diff 0.0) and ``metrics.jsonl`` must hold
every logged step once, with the same values. SIGTERM must also stop cleanly: exit status 143, a checkpoint,
``"status": "interrupted"`` in ``run.json`` and a message saying how to resume.

``AIGC_RL_KILL_POINTS`` sets the number of kill points (default 2: one TERM, one KILL; signals alternate);
``AIGC_RL_KILL_SEED`` seeds the points (default 0).
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

KW = {
    "agent": "sac",
    "max_steps": 600,
    "seed": 0,
    "reward": "target-class+image-diversity:0.5",
    "n_envs": 4,
    "hyperparameters": {
        "learning_starts": 16,
        "batch_size": 16,
        "buffer_size": 1000,
        "policy_kwargs": {"net_arch": [16]},
    },
    "log_interval": 32,
    "save_steps": 40,
    "progress": False,
}
N_POINTS = int(os.environ.get("AIGC_RL_KILL_POINTS", "2"))
SEED = int(os.environ.get("AIGC_RL_KILL_SEED", "0"))

DRIVER = """
import json, sys
from aigc_rl.agents.sb3.latent import train_latent
from aigc_rl.run import TrainingInterrupted
try:
    train_latent(output_dir=sys.argv[1], resume=sys.argv[3] == "resume", **json.loads(sys.argv[2]))
except TrainingInterrupted as e:
    print(f"aigc-rl train: {e}", file=sys.stderr)
    sys.exit(e.exit_status)
"""


def _last_step(run: Path) -> int:
    """The last step logged in ``metrics.jsonl`` so far (-1 before the first line)."""
    try:
        lines = (run / "metrics.jsonl").read_text().splitlines()
        return int(json.loads(lines[-1])["step"]) if lines else -1
    except (OSError, ValueError, KeyError):  # not there yet, or a line being written
        return -1


def _metrics(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time_s", "steps_per_s")} for r in rows]


def _driver(tmp: Path, run: Path, mode: str, **popen: object) -> subprocess.Popen:
    """Start the training (``mode`` ``"new"`` or ``"resume"``) in a new process, as the command line would."""
    driver = tmp / "driver.py"
    driver.write_text(DRIVER)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.Popen(
        [sys.executable, str(driver), str(run), json.dumps(KW), mode], text=True, env=env, **popen
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run (in a new process)."""
    tmp = tmp_path_factory.mktemp("ref")
    proc = _driver(tmp, tmp / "run", "new", stderr=subprocess.PIPE)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return tmp / "run"


@pytest.mark.parametrize("point", range(N_POINTS))
def test_killed_image_training_resumes_to_the_uninterrupted_result(
    point: int, reference: Path, tmp_path: Path
):
    ref_run = reference
    sig = signal.SIGTERM if point % 2 == 0 else signal.SIGKILL
    rng = random.Random(SEED * 1000 + point)
    target = rng.randrange(0, KW["max_steps"])  # kill once the run has logged this step, then a moment later
    delay = rng.uniform(0.0, 0.1)
    run = tmp_path / "run"
    proc = _driver(tmp_path, run, "new", stderr=subprocess.PIPE, stdout=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (run / "run.json").is_file() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.02)
        assert (run / "run.json").is_file(), proc.stderr.read() if proc.poll() is not None else "no run.json"
        while proc.poll() is None and _last_step(run) < target and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    record = json.loads((run / "run.json").read_text())
    print(
        f"\nkill point {point}: {sig.name} at logged step >= {target} (+{delay:.2f}s) -> rc {proc.returncode}, "
        f"status {record['status']}"
    )
    if sig == signal.SIGTERM and record["status"] != "finished":
        assert proc.returncode == 143, err
        m = re.search(
            r"interrupted at step (\d+); resume with: aigc-rl train --output-dir (\S+) --resume", err
        )
        assert m and m.group(2) == str(run), err
        step = int(m.group(1))
        assert record["status"] == "interrupted" and record["step"] == step
        if step:
            assert (run / "checkpoints" / f"checkpoint-{step}" / ".aigc-rl-complete").is_file()
        print(f"  interrupted at step {step}")
    elif sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        done = sorted(int(c.name.split("-")[1]) for c in (run / "checkpoints").glob("checkpoint-*[0-9]"))
        print(f"  killed with complete checkpoints up to step {max(done, default=0)}")
    resumed = _driver(tmp_path, run, "resume", stderr=subprocess.PIPE)
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    ref = load_file(str(ref_run / "policy.safetensors"))
    got = load_file(str(run / "policy.safetensors"))
    assert set(got) == set(ref)
    diff = max(float((ref[k] - got[k]).abs().max()) for k in ref)
    print(f"  resumed: max abs diff {diff}")
    assert diff == 0.0
    assert _metrics(run) == _metrics(ref_run)
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert not list((run / "checkpoints").glob("*.tmp"))
    assert all((c / ".aigc-rl-complete").is_file() for c in (run / "checkpoints").iterdir())
    assert torch.equal(
        load_file(str(run / "checkpoints" / "checkpoint-600" / "replay.safetensors"))["observations"],
        load_file(str(ref_run / "checkpoints" / "checkpoint-600" / "replay.safetensors"))["observations"],
    )
