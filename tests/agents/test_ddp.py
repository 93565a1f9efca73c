"""The main job's command under ``accelerate launch`` with the shipped 2-process CPU config (torchrun launcher,
gloo DDP), 2 steps, on a tiny Llama."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from aigc_rl.testing import save_tiny_lm


@pytest.mark.slow
def test_accelerate_launch_two_cpu_processes(tmp_path):
    model_dir = save_tiny_lm(tmp_path / "tiny", seed=0)
    prompts = tmp_path / "p.txt"
    prompts.write_text("\n".join(f"say something about item {i}" for i in range(12)) + "\n", encoding="utf-8")
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        "--config_file",
        str(Path(__file__).resolve().parents[2] / "configs" / "accelerate" / "ddp-cpu-2proc.yaml"),
        "--main_process_port",
        "29533",
        "-m",
        "aigc_rl.cli",
        "train",
        "--model",
        str(model_dir),
        "--prompts",
        str(prompts),
        "--reward",
        "distinct-1,distinct-2:0.5",
        "--max-steps",
        "2",
        "--num-generations",
        "2",
        "--prompts-per-step",
        "2",
        "--max-new-tokens",
        "6",
        "--save-steps",
        "1",
        "--device",
        "cpu",
        "--output-dir",
        str(out),
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["world_size"] == 2 and summary["global_step"] == 2
    steps = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [s["step"] for s in steps if "reward" in s] == [1, 2]  # written once, by rank 0
    assert (out / "adapter" / "adapter_model.safetensors").exists()
