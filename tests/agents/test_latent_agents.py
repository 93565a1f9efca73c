"""SB3 agents on the latent image env: training changes the policy, saving without pickle (case G1),
resume, run-dir rules, metrics and evaluation output."""

from __future__ import annotations

import base64
import json
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file

from aigc_rl.agents.sb3.latent import (
    PickleRefusedError,
    _build,
    _SpacesEnv,
    evaluate_latent,
    image_reward_pairs,
    load_policy,
    train_latent,
)
from aigc_rl.envs.image.latent_image import LatentImageTask

TINY = {
    "sac": {
        "learning_starts": 16,
        "batch_size": 16,
        "buffer_size": 1000,
        "policy_kwargs": {"net_arch": [16]},
    },
    "ppo": {"n_steps": 8, "batch_size": 16, "n_epochs": 2, "policy_kwargs": {"net_arch": [16]}},
    "a2c": {"n_steps": 4, "policy_kwargs": {"net_arch": [16]}},
}


def _train(tmp_path: Path, agent: str, steps: int = 64, name: str = "run", **kw) -> Path:
    return train_latent(
        agent=agent,
        max_steps=steps,
        seed=0,
        output_dir=tmp_path / name,
        reward="target-class+image-diversity:0.5",
        n_envs=4,
        hyperparameters=TINY[agent],
        log_interval=16,
        progress=False,
        **kw,
    )


@pytest.mark.parametrize("agent", ["sac", "ppo", "a2c"])
def test_training_changes_policy_parameters_and_logs_metrics(tmp_path: Path, agent: str):
    run = _train(tmp_path, agent)
    meta = json.loads((run / "policy.json").read_text())
    hp = meta["hyperparameters"]
    task = LatentImageTask(reward="target-class")
    hp = {**hp, "batch_size": hp["n_steps"]} if agent == "ppo" else hp  # one stub env
    initial = _build(
        agent, hp, _SpacesEnv(task.observation_space, task.action_space), 0, "cpu"
    ).policy.state_dict()
    trained = {
        k[len("policy/") :]: v
        for k, v in load_file(str(run / "policy.safetensors")).items()
        if k.startswith("policy/")
    }
    assert set(trained) == set(initial)
    changed = [k for k in initial if not torch.equal(initial[k], trained[k])]
    assert changed, "no policy parameter changed after training"
    assert meta["num_timesteps"] >= 64
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) >= 3 and rows[-1]["step"] >= 64
    for r in rows:
        assert isinstance(r["step"], int) and isinstance(r["reward"], float)
        assert "rewards/target-class/mean" in r and "rewards/image-diversity/mean" in r
        assert 0.0 <= r["rewards/target-class/mean"] <= 1.0
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["kind"] == "image" and cfg["agent"] == agent and cfg["env"] == "aigc_rl/LatentImage-v0"


def test_save_and_reload_give_the_same_actions_without_pickle(tmp_path: Path):
    """Case G1: the policy round-trips through safetensors + json; no .zip is written by default."""
    run = _train(tmp_path, "sac")
    assert not list(run.glob("*.zip")) and not list(run.glob("*.pkl"))
    m1 = load_policy(run)
    m2 = load_policy(run / "policy.json")
    obs = np.random.default_rng(0).uniform(0, 1, size=(5, 18)).astype(np.float32)
    a1, _ = m1.predict(obs, deterministic=True)
    a2, _ = m2.predict(obs, deterministic=True)
    assert a1.shape == (5, 8) and np.array_equal(a1, a2)


class _Payload:
    """Unpickling this creates a marker file (stands in for arbitrary code execution)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _crafted_sb3_zip(path: Path, marker: Path) -> None:
    blob = base64.b64encode(pickle.dumps(_Payload(marker))).decode()
    data = {"policy_class": {":type:": "<class 'abc.ABCMeta'>", ":serialized:": blob}}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("data", json.dumps(data))
        z.writestr("_stable_baselines3_version", "2.9.2")


def test_crafted_pickle_payload_is_refused_by_default(tmp_path: Path):
    """Case G1 (stable-baselines3 #1852): a saved agent file with a pickle payload is never unpickled."""
    marker = tmp_path / "pwned"
    bad_zip = tmp_path / "agent.zip"
    _crafted_sb3_zip(bad_zip, marker)
    with pytest.raises(PickleRefusedError, match="allow_pickle"):
        load_policy(bad_zip)
    assert not marker.exists()

    # a run directory whose weights file is really a pickle: safetensors refuses it, nothing executes
    run = _train(tmp_path, "a2c", steps=16)
    (run / "policy.safetensors").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        load_policy(run)
    with pytest.raises(ValueError, match="not a valid safetensors file"):
        evaluate_latent(run, n_per_class=2, progress=False)
    assert not marker.exists()


def test_sb3_zip_loads_only_with_explicit_opt_in(tmp_path: Path):
    run = _train(tmp_path, "ppo", save_zip=True)
    z = run / "sb3_model.zip"
    assert z.is_file()
    with pytest.raises(PickleRefusedError):
        load_policy(z)
    m = load_policy(z, allow_pickle=True, agent="ppo")
    ref = load_policy(run)
    obs = np.zeros((2, 18), dtype=np.float32)
    obs[:, 3] = 1.0
    assert np.allclose(m.predict(obs, deterministic=True)[0], ref.predict(obs, deterministic=True)[0])


def test_run_dir_rules_and_resume(tmp_path: Path):
    run = _train(tmp_path, "sac", steps=32)
    with pytest.raises(ValueError, match="already holds a run"):
        _train(tmp_path, "sac", steps=32)
    with pytest.raises(ValueError, match="resume"):
        _train(tmp_path, "sac", steps=32, name="fresh", resume=True)
    with pytest.raises(ValueError, match="exclude"):
        _train(tmp_path, "sac", steps=32, resume=True, overwrite=True)
    before = load_file(str(run / "policy.safetensors"))
    rb_before = load_file(str(run / "replay.safetensors"))["observations"]
    _train(tmp_path, "sac", steps=64, resume=True)
    meta = json.loads((run / "policy.json").read_text())
    assert meta["num_timesteps"] >= 64
    after = load_file(str(run / "policy.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before)
    rb_after = load_file(str(run / "replay.safetensors"))["observations"]
    assert len(rb_after) > len(rb_before) and torch.equal(rb_after[: len(rb_before)], rb_before)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and steps[-1] >= 64
    _train(tmp_path, "sac", steps=16, overwrite=True)
    assert json.loads((run / "policy.json").read_text())["num_timesteps"] < 64


def test_bad_arguments(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown agent"):
        train_latent(agent="dqn", output_dir=tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="max_steps"):
        train_latent(max_steps=0, output_dir=tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="trains 'aigc_rl/LatentImage-v0'"):
        train_latent("aigc_rl/TextCompletion-v0", output_dir=tmp_path / "x", progress=False)
    with pytest.raises(ValueError, match="safety"):
        train_latent(reward="quality+safety", output_dir=tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()  # bad input leaves nothing behind


def test_ppo_minibatch_of_one_is_rejected_up_front(tmp_path: Path):
    """Case B3: a PPO minibatch of one sample is refused before training, naming the setting to change."""
    with pytest.raises(ValueError, match="batch_size must be >= 2"):
        train_latent(
            agent="ppo", output_dir=tmp_path / "p", hyperparameters={"batch_size": 1}, progress=False
        )
    with pytest.raises(ValueError, match="leaves a minibatch of 1"):
        train_latent(
            agent="ppo",
            output_dir=tmp_path / "p",
            n_envs=1,
            hyperparameters={"n_steps": 5, "batch_size": 2},
            progress=False,
        )
    assert not (tmp_path / "p").exists()
    assert image_reward_pairs("quality+creativity:2") == [
        ("target-class", 1.0),
        ("realism", 5.0),
        ("image-diversity", 6.0),
    ]


def test_evaluate_writes_eval_json_and_grids(tmp_path: Path):
    run = _train(tmp_path, "sac")
    out = evaluate_latent(run, n_per_class=4, progress=False)
    saved = json.loads((run / "eval.json").read_text())
    assert saved == json.loads(json.dumps(out))
    assert saved["n_prompts"] == 40
    for pol in ("base", "tuned"):
        m = saved["policies"][pol]
        for k in ("target-accuracy", "diversity", "reward", "target-class", "image-diversity"):
            lo, hi = m[k]["ci95"]
            assert lo <= m[k]["mean"] <= hi, (pol, k)
        assert 0.0 <= m["target-accuracy"]["mean"] <= 1.0
    assert (run / "samples_base.png").stat().st_size > 1000 and (
        run / "samples_tuned.png"
    ).stat().st_size > 1000
    lines = (run / "samples.jsonl").read_text().splitlines()
    assert len(lines) == 80
    assert saved["reference"]["diversity_real"]["mean"] > 0.2


def test_train_from_the_cli_config_and_walk_mode(tmp_path: Path):
    """``aigc-rl train --env aigc_rl/LatentImage-v0`` passes a TrainConfig; its config.yaml round-trips."""
    from aigc_rl.config import TrainConfig

    cfg = TrainConfig(
        env="aigc_rl/LatentImage-v0", agent="a2c", max_steps=16, n_envs=4, output_dir=str(tmp_path / "c")
    )
    run = train_latent(
        cfg, hyperparameters=TINY["a2c"], env_kwargs={"mode": "walk", "walk_steps": 2}, progress=False
    )
    raw = yaml.safe_load((run / "config.yaml").read_text())
    assert raw["kind"] == "image" and raw["agent"] == "a2c" and raw["max_steps"] == 16
    assert raw["reward"] == "target-class:1+realism:5+image-diversity:3"  # 'quality+creativity' for images
    again = TrainConfig.from_yaml(run / "config.yaml")
    assert again.kind == "image" and again.n_envs == 4
    out = evaluate_latent(run, n_per_class=2, progress=False)
    assert out["n_prompts"] == 20
