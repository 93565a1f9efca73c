"""SB3 agents on the latent image env: training changes the policy, saving without pickle (case G1, DLR-RM/stable-baselines3#1852),
run-dir rules (issue 9: one error path), checkpoints and exact resume (issue 10), metrics, evaluation output
and its flags, and the shared confidence intervals (:mod:`aigc_rl.stats`)."""

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
    IMAGE_SAVE_STEPS,
    PickleRefusedError,
    SpacesEnv,
    build_model,
    evaluate_latent,
    image_reward_pairs,
    load_policy,
    train_latent,
)
from aigc_rl.envs.image.latent_image import LatentImageTask
from aigc_rl.errors import ConfigError, RunDirError, RunLockedError, UserFileError

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
    initial = build_model(
        agent, hp, SpacesEnv(task.observation_space, task.action_space), 0, "cpu"
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
    summary = json.loads((run / "train_summary.json").read_text())  # as a text run's
    assert summary["global_step"] == meta["num_timesteps"] and summary["resumed_from"] is None
    assert summary["device"] == "cpu" and summary["n_envs"] == 4 and summary["train_seconds"] > 0
    sps, secs = summary["steps_per_second"], summary["train_seconds"]  # secs rounded to 0.01 s
    assert sps * (secs - 0.006) <= summary["global_step"] <= sps * (secs + 0.006)


def test_save_and_reload_give_the_same_actions_without_pickle(tmp_path: Path):
    """Case G1, DLR-RM/stable-baselines3#1852: the policy round-trips through safetensors + json; no .zip is written by default."""
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
    with pytest.raises(RunDirError, match="already holds a run"):
        _train(tmp_path, "sac", steps=32)
    with pytest.raises(RunDirError, match="resume"):
        _train(tmp_path, "sac", steps=32, name="fresh", resume=True)
    with pytest.raises(RunDirError, match="exclude"):
        _train(tmp_path, "sac", steps=32, resume=True, overwrite=True)
    assert not (tmp_path / "fresh").exists()
    legacy = tmp_path / "legacy"  # an aigc-rl 0.1.0 image run: no run.json, no checkpoints to resume from
    legacy.mkdir()
    (legacy / "config.yaml").write_text("kind: image\n")
    (legacy / "policy.json").write_text("{}")
    with pytest.raises(RunDirError, match="0.1.0"):
        _train(tmp_path, "sac", steps=32, name="legacy", resume=True)
    assert sorted(p.name for p in legacy.iterdir()) == ["config.yaml", "policy.json"]
    before = load_file(str(run / "policy.safetensors"))
    rb_before = load_file(str(run / "checkpoints" / "checkpoint-32" / "replay.safetensors"))["observations"]
    _train(tmp_path, "sac", steps=64, resume=True)
    meta = json.loads((run / "policy.json").read_text())
    assert meta["num_timesteps"] >= 64
    after = load_file(str(run / "policy.safetensors"))
    assert any(not torch.equal(before[k], after[k]) for k in before)
    rb_after = load_file(str(run / "checkpoints" / "checkpoint-64" / "replay.safetensors"))["observations"]
    assert len(rb_after) > len(rb_before) and torch.equal(rb_after[: len(rb_before)], rb_before)
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps) and len(steps) == len(set(steps)) and steps[-1] >= 64
    record = json.loads((run / "run.json").read_text())
    assert record["kind"] == "image" and record["status"] == "finished" and record["step"] == 64
    assert record["config"]["max_steps"] == 64 and record["image"]["save_steps"] == IMAGE_SAVE_STEPS
    assert {c["name"] for c in record["reward_components"]} == {"target-class", "image-diversity"}
    with pytest.raises(ConfigError, match="recorded agent"):
        _train(tmp_path, "ppo", steps=96, resume=True)  # another agent would not continue this run
    (run / "notes.txt").write_text("mine")  # a user's file in the run directory survives --overwrite
    _train(tmp_path, "sac", steps=16, overwrite=True)
    assert json.loads((run / "policy.json").read_text())["num_timesteps"] < 64
    assert (run / "notes.txt").read_text() == "mine"
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["checkpoint-16"]


TINY_KW = dict(
    max_steps=600,
    seed=0,
    reward="target-class+image-diversity:0.5",
    n_envs=4,
    log_interval=64,
    save_steps=200,
    progress=False,
)


def _metrics(run: Path) -> list[dict]:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in ("time_s", "steps_per_s")} for r in rows]


def _resume_from_each_checkpoint(tmp_path: Path, agent: str) -> None:
    import shutil

    full = train_latent(agent=agent, output_dir=tmp_path / "full", hyperparameters=TINY[agent], **TINY_KW)
    ckpts = sorted((full / "checkpoints").iterdir(), key=lambda p: int(p.name.split("-")[1]))
    assert len(ckpts) == 3 and all((c / ".aigc-rl-complete").is_file() for c in ckpts)
    ref = load_file(str(full / "policy.safetensors"))
    for ck in ckpts:
        n = int(ck.name.split("-")[1])
        d = tmp_path / f"from-{n}"
        shutil.copytree(full, d)
        for c in (d / "checkpoints").iterdir():
            if int(c.name.split("-")[1]) > n:
                shutil.rmtree(c)
        (d / "policy.safetensors").unlink()
        (d / "policy.json").unlink()
        train_latent(agent=agent, output_dir=d, resume=True, **TINY_KW)
        got = load_file(str(d / "policy.safetensors"))
        assert set(got) == set(ref)
        diff = max(float((ref[k] - got[k]).abs().max()) for k in ref)
        assert diff == 0.0, f"{agent}: resumed from step {n}, max abs diff {diff}"
        assert _metrics(d) == _metrics(full)  # every step logged once, with the same values
        for name in ("optim.safetensors", "state.safetensors"):
            a = load_file(str(full / "checkpoints" / ckpts[-1].name / name))
            b = load_file(str(d / "checkpoints" / ckpts[-1].name / name))
            assert set(a) == set(b) and all(torch.equal(a[k], b[k]) for k in a), (n, name)


def test_resumed_sac_run_equals_uninterrupted_run(tmp_path: Path):
    """Issue 10: a SAC run resumed from each of its checkpoints gives the same policy tensors (max abs diff
    0.0), optimiser, replay, RNG and env states, and metrics as the uninterrupted run with the same seed."""
    _resume_from_each_checkpoint(tmp_path, "sac")


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["ppo", "a2c"])
def test_resumed_on_policy_run_equals_uninterrupted_run(tmp_path: Path, agent: str):
    """Issue 10, the same for PPO and A2C (checkpoints fall on rollout boundaries)."""
    _resume_from_each_checkpoint(tmp_path, agent)


def test_checkpoints_every_save_steps_and_incomplete_ones_are_skipped(tmp_path: Path):
    """Issue 10: checkpoints every ``save_steps`` env steps, written as ``.tmp`` and renamed when complete;
    resume ignores (and removes) a ``.tmp`` left by a kill and a directory without the complete marker."""
    kw = dict(TINY_KW, max_steps=96, save_steps=32)
    run = train_latent(agent="sac", output_dir=tmp_path / "r", hyperparameters=TINY["sac"], **kw)
    names = sorted(p.name for p in (run / "checkpoints").iterdir())
    assert names == ["checkpoint-32", "checkpoint-64", "checkpoint-96"]
    ref = load_file(str(run / "policy.safetensors"))
    ck = run / "checkpoints"
    import shutil

    shutil.rmtree(ck / "checkpoint-96")
    shutil.copytree(ck / "checkpoint-64", ck / "checkpoint-96.tmp")  # a kill mid-save
    (ck / "checkpoint-96.tmp" / "optim.safetensors").write_bytes(b"torn")
    shutil.copytree(ck / "checkpoint-64", ck / "checkpoint-80")  # unmarked: never completed
    (ck / "checkpoint-80" / ".aigc-rl-complete").unlink()
    (ck / "checkpoint-80" / "state.safetensors").write_bytes(b"")
    train_latent(agent="sac", output_dir=run, resume=True, **kw)
    got = load_file(str(run / "policy.safetensors"))
    assert all(torch.equal(ref[k], got[k]) for k in ref)
    assert not (ck / "checkpoint-96.tmp").exists()


def test_a_torn_policy_is_refused(tmp_path: Path):
    """Issue 10: policy.json and policy.safetensors from different saves (a kill between the two atomic
    writes) are refused with a message naming the files, never loaded half old, half new."""
    run = _train(tmp_path, "a2c", steps=16)
    meta = json.loads((run / "policy.json").read_text())
    meta["save_id"] = "0" * 32
    (run / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(UserFileError, match="different saves"):
        load_policy(run)
    assert load_policy(run / "checkpoints" / "checkpoint-16").num_timesteps == 16
    (run / "policy.json").unlink()
    (run / "policy.safetensors").unlink()
    assert load_policy(run).num_timesteps == 16  # an interrupted run: its newest complete checkpoint


def test_the_lock_keeps_a_second_writer_out(tmp_path: Path):
    """Issue 10: training and evaluation hold the run's lock; another process's writer exits with
    RunLockedError naming the holder, and nothing is written."""
    import subprocess
    import sys

    run = _train(tmp_path, "a2c", steps=16)
    before = {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.name != ".lock"}
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from aigc_rl.run import RunDir; RunDir(sys.argv[1]).acquire(); "
            "print('held', flush=True); time.sleep(60)",
            str(run),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid}"):
            _train(tmp_path, "a2c", steps=32, resume=True)
        with pytest.raises(RunLockedError):
            evaluate_latent(run, samples=2, progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert {p.name: p.stat().st_mtime_ns for p in run.iterdir() if p.name != ".lock"} == before


def test_image_run_into_a_run_directory_exits_2_from_the_cli(tmp_path: Path, capsys):
    """Issue 9: ``aigc-rl train --env aigc_rl/LatentImage-v0`` into a directory that holds a run prints one
    line and exits 2 (was a ValueError traceback); nothing in the directory changes."""
    from aigc_rl.cli import main

    run = _train(tmp_path, "a2c", steps=16)
    before = {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in run.rglob("*")}
    argv = ["train", "--env", "aigc_rl/LatentImage-v0", "--agent", "a2c", "--max-steps", "16"]
    rc = main([*argv, "--output-dir", str(run)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("aigc-rl train: error: ") and "--resume" in err
    assert {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in run.rglob("*")} == before
    # --save-steps counts env steps for an image run
    new = tmp_path / "cli"
    assert (
        main(
            [
                *argv[:4],
                "sac",
                "--max-steps",
                "16",
                "--n-envs",
                "4",
                "--save-steps",
                "8",
                "--output-dir",
                str(new),
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (new / "checkpoints").iterdir()) == ["checkpoint-16", "checkpoint-8"]
    assert json.loads((new / "run.json").read_text())["status"] == "finished"
    capsys.readouterr()
    # a bad image reward is exit 2 as well, before anything is written
    rc = main([*argv, "--reward", "quality+safety", "--output-dir", str(tmp_path / "new")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "safety" in err and not (tmp_path / "new").exists()


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
    """Case B3, DLR-RM/stable-baselines3#325: a PPO minibatch of one sample is refused before training, naming the setting to change."""
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
    # a prompt of an image run is a target class: 10 classes x 4 images each (was "n_prompts": 40 images)
    assert saved["n_prompts"] == 10 and saved["samples_per_prompt"] == 4 and saved["n_samples"] == 40
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
    assert json.loads((run / "latent.json").read_text())["save_steps"] == IMAGE_SAVE_STEPS  # text default 20
    assert [p.name for p in (run / "checkpoints").iterdir()] == ["checkpoint-16"]
    out = evaluate_latent(run, n_per_class=2, progress=False)
    assert out["n_samples"] == 20 and out["n_prompts"] == 10


def test_eval_flags_set_classes_and_samples_per_class(tmp_path: Path, capsys):
    """Issue 9: ``aigc-rl eval --run IMAGE_RUN --n-prompts N --samples K`` evaluates N target classes with K
    images each per policy (both flags were silently ignored); out-of-range values exit 2 and write nothing."""
    from aigc_rl.cli import main

    run = _train(tmp_path, "a2c", steps=16)
    assert main(["eval", "--run", str(run), "--n-prompts", "3", "--samples", "2"]) == 0
    saved = json.loads((run / "eval.json").read_text())
    assert (saved["n_prompts"], saved["samples_per_prompt"], saved["n_samples"]) == (3, 2, 6)
    assert saved["samples"]["classes"] == [0, 1, 2]
    rows = [json.loads(line) for line in (run / "samples.jsonl").read_text().splitlines()]
    assert len(rows) == 12 and {r["target"] for r in rows} == {0, 1, 2}
    assert len(saved["policies"]["tuned"]["diversity"]["per_class"]) == 3
    out = evaluate_latent(run, n_prompts=2, samples=5, progress=False)
    assert out["n_samples"] == 10 and len((run / "samples.jsonl").read_text().splitlines()) == 20
    capsys.readouterr()
    before = (run / "eval.json").read_bytes()
    for flags in (["--n-prompts", "11"], ["--samples", "1"]):
        assert main(["eval", "--run", str(run), *flags]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and flags[0] in err, err
    assert (run / "eval.json").read_bytes() == before


def test_shared_intervals_match_the_text_evaluation_and_scipy():
    """aigc_rl.stats: bootstrap_ci is bit-identical to the text evaluation's; scipy.stats.bootstrap agrees to
    1e-12 but not bit for bit (why the numpy implementation stays); binomial_ci is the Wilson interval."""
    from scipy.stats import bootstrap, norm

    from aigc_rl import evaluation, stats

    rng = np.random.default_rng(3)
    arrays = [rng.normal(size=n) for n in (2, 5, 17, 60, 240)] + [rng.exponential(size=60)]
    differs = 0
    for a in arrays:
        for seed in (0, 7):
            ours = stats.bootstrap_ci(a, seed=seed)
            assert ours == evaluation.bootstrap_ci(a, seed=seed)
            r = bootstrap(
                (a,), np.mean, n_resamples=5000, method="percentile", rng=np.random.default_rng(seed)
            )
            sp = (float(r.confidence_interval.low), float(r.confidence_interval.high))
            assert np.allclose(ours, sp, rtol=0, atol=1e-12)
            differs += ours != sp
    assert differs > 0  # measured: scipy's percentiles differ in the last bits for some arrays
    assert stats.bootstrap_ci(np.array([np.nan, 2.0])) == (2.0, 2.0)
    assert all(np.isnan(stats.bootstrap_ci(np.array([]))))
    z = norm.ppf(0.975)
    for k, n in ((0, 10), (3, 10), (10, 10), (37, 40)):
        p = k / n
        c = (p + z * z / (2 * n)) / (1 + z * z / n)
        h = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        assert np.allclose(stats.binomial_ci(k, n), (c - h, c + h), rtol=0, atol=1e-12)
    assert all(np.isnan(stats.binomial_ci(0, 0)))
    with pytest.raises(ValueError):
        stats.binomial_ci(5, 3)
