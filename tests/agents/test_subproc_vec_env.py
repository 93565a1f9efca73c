"""``--n-envs N --vec-env subproc``: an image run with SB3's SubprocVecEnv (one process per env) trains, writes
its run directory and resumes exactly; bad values exit 2 writing nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.torch import load_file

from aigc_rl.agents.sb3.latent import train_latent
from aigc_rl.agents.sb3.vec_env import CheckpointableLatentEnv
from aigc_rl.cli import main
from aigc_rl.config import ConfigError, TrainConfig
from aigc_rl.envs.image.latent_image import LatentImageTask

A2C = {"n_steps": 4, "policy_kwargs": {"net_arch": [16]}}
KW = dict(
    agent="a2c",
    max_steps=32,
    seed=0,
    reward="target-class+image-diversity:0.5",
    n_envs=2,
    vec_env="subproc",
    hyperparameters=A2C,
    log_interval=8,
    save_steps=16,
    progress=False,
)


def _metrics(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time_s", "steps_per_s")} for r in rows]


def test_subproc_run_trains_writes_the_run_dir_and_resumes_exactly(tmp_path: Path):
    full = train_latent(output_dir=tmp_path / "full", **KW)
    record = json.loads((full / "run.json").read_text())
    assert record["status"] == "finished" and record["config"]["vec_env"] == "subproc"
    assert json.loads((full / "latent.json").read_text())["vec_env"] == "subproc"
    assert sorted(p.name for p in (full / "checkpoints").iterdir()) == ["checkpoint-16", "checkpoint-32"]
    rows = _metrics(full)
    assert [r["step"] for r in rows] == [8, 16, 24, 32]  # 2 envs x 4 steps per rollout
    assert all(np.isfinite(r["reward"]) and "rewards/target-class/mean" in r for r in rows)
    state = load_file(str(full / "checkpoints" / "checkpoint-16" / "state.safetensors"))
    assert tuple(state["env/z"].shape) == (2, 8)  # one latent per process
    # the policy moved away from the one at the first checkpoint (trained on the second half)
    ref = load_file(str(full / "policy.safetensors"))
    first = load_file(str(full / "checkpoints" / "checkpoint-16" / "policy.safetensors"))
    assert any(not np.array_equal(ref[k].numpy(), first[k].numpy()) for k in ref)
    # resumed from checkpoint-16 in new worker processes: the same policy tensors and metrics
    d = tmp_path / "resumed"
    shutil.copytree(full, d)
    shutil.rmtree(d / "checkpoints" / "checkpoint-32")
    (d / "policy.safetensors").unlink()
    train_latent(output_dir=d, resume=True, **KW)
    got = load_file(str(d / "policy.safetensors"))
    assert max(float((ref[k] - got[k]).abs().max()) for k in ref) == 0.0
    assert _metrics(d) == rows
    # resuming with the in-process env would change the trajectory: refused, naming the setting
    with pytest.raises(ConfigError, match="vec_env"):
        train_latent(output_dir=d, resume=True, **{**KW, "vec_env": "dummy", "max_steps": 48})


def test_checkpointable_env_state_round_trip():
    task = LatentImageTask(generator="gan", reward="target-class+image-diversity")
    a = CheckpointableLatentEnv(latent_task=task)
    a.reset(seed=3)
    a.step(a.action_space.sample())
    arrays, meta = a.get_state()
    b = CheckpointableLatentEnv(
        latent_task=LatentImageTask(generator="gan", reward="target-class+image-diversity")
    )
    b.set_state(arrays, json.loads(json.dumps(meta)))
    act = np.full(a.action_space.shape, 0.25, dtype=np.float32)
    oa, ra, *_ = a.step(act)
    ob, rb, *_ = b.step(act)
    np.testing.assert_array_equal(oa, ob)
    assert ra == rb  # same memory: the diversity reward too


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--vec-env", "threads"], "vec_env must be one of dummy, subproc, got 'threads' (--vec-env)"),
        (["--n-envs", "0"], "n_envs must be an integer in 1..4096, got 0 (--n-envs)"),
        (["--n-envs", "5000", "--vec-env", "subproc"], "n_envs must be an integer in 1..4096"),
    ],
)
def test_bad_values_exit_2_writing_nothing(flags, message, tmp_path: Path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--env", "aigc_rl/LatentImage-v0", "--agent", "a2c", "--max-steps", "8", *flags]
    assert main([*argv, "--output-dir", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert not out.exists()


def test_vec_env_is_a_config_choice():
    assert TrainConfig(env="aigc_rl/LatentImage-v0", vec_env="subproc").vec_env == "subproc"
    with pytest.raises(ConfigError, match="vec_env must be one of dummy, subproc"):
        TrainConfig(env="aigc_rl/LatentImage-v0", vec_env="Subproc")
