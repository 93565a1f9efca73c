"""``--report-to`` (issue 13, item 1): TensorBoard event files in ``RUN/tb`` for text (TRL) and image (SB3)
runs, holding the reward components and the KL; W&B through a small SB3 callback; a missing tracker package
exits 2 with one line naming the install, before anything is written."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import pytest

from aigc_rl.cli import main
from aigc_rl.config import ConfigError, TrainConfig
from aigc_rl.testing import tiny_train_config
from aigc_rl.tracking import parse_report_to
from aigc_rl.train import run_train

pytestmark = pytest.mark.usefixtures("one_thread")


def _scalars(tb_dir: Path) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series of the event files under ``tb_dir``: tag -> [(step, value)], read with
    TensorBoard's own ``EventAccumulator``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = sorted(tb_dir.rglob("events.out.tfevents.*"))
    assert files, f"no event file under {tb_dir}"
    out: dict[str, list[tuple[int, float]]] = {}
    for f in files:
        acc = EventAccumulator(str(f), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            out.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return out


def test_text_run_writes_reward_components_and_kl_to_tensorboard(tmp_path, tiny_model_dir, prompt_file):
    cfg = tiny_train_config(
        tiny_model_dir, prompt_file, tmp_path / "run", max_steps=3, report_to="tensorboard"
    )
    run = run_train(cfg)
    assert not (run / "checkpoints" / "runs").exists()  # not transformers' default place
    scalars = _scalars(run / "tb")
    for tag in ("train/kl", "train/reward", "train/rewards/fluency/mean", "train/rewards/distinct-2/mean"):
        assert [s for s, _ in scalars[tag]] == [1, 2, 3], tag
    # Every number metrics.jsonl holds is in TensorBoard at the same step with the same value.
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [1, 2, 3]
    for rec in lines:
        for k, v in rec.items():
            if k != "step" and isinstance(v, (int, float)):
                got = dict(scalars[f"train/{k}"])[rec["step"]]
                assert got == pytest.approx(v, rel=1e-6, abs=1e-7), k
    assert json.loads((run / "run.json").read_text())["config"]["report_to"] == "tensorboard"


def test_report_to_values():
    assert parse_report_to("none") == []
    assert parse_report_to(" TensorBoard , wandb,tensorboard") == ["tensorboard", "wandb"]
    assert parse_report_to(["mlflow"]) == ["mlflow"]  # any integration transformers accepts, YAML list too
    assert parse_report_to("all") == ["all"]
    for bad, needle in (
        ("tensorbord", "unknown tracker 'tensorbord'"),
        ("none,wandb", "stand alone"),
        ("wandb,", "empty item"),
    ):
        with pytest.raises(ConfigError, match=needle):
            parse_report_to(bad)
    with pytest.raises(ConfigError, match="image runs .* take none, tensorboard, wandb"):
        TrainConfig(env="aigc_rl/LatentImage-v0", report_to="mlflow")


def _snapshot(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize(
    "kind, tracker, needle",
    [
        ("text", "wandb", "pip install wandb"),
        ("text", "tensorboard", "the tensorboard extra"),
        ("image", "wandb", "pip install wandb"),
        ("image", "tensorboard", "the tensorboard extra"),
    ],
)
def test_missing_tracker_package_exits_2_and_writes_nothing(
    tmp_path, capsys, monkeypatch, tiny_model_dir, prompt_file, kind, tracker, needle
):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == tracker else real(n, *a))
    monkeypatch.setitem(sys.modules, tracker, None)  # and `import` fails as when not installed
    out = tmp_path / "run"
    if kind == "text":
        argv = ["train", "--model", tiny_model_dir, "--prompts", prompt_file, "--max-steps", "1"]
    else:
        argv = ["train", "--env", "aigc_rl/LatentImage-v0", "--max-steps", "8", "--n-envs", "2"]
    before = _snapshot(tmp_path)
    rc = main([str(a) for a in [*argv, "--output-dir", out, "--report-to", f"{tracker}", "--device", "cpu"]])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and needle in err and f"--report-to {tracker}" in err, err
    assert _snapshot(tmp_path) == before


_IMAGE_KW = dict(
    agent="sac",
    max_steps=32,
    seed=0,
    reward="target-class+image-diversity:0.5",
    n_envs=4,
    hyperparameters={
        "learning_starts": 8,
        "batch_size": 8,
        "buffer_size": 100,
        "policy_kwargs": {"net_arch": [8]},
    },
    log_interval=8,
    progress=False,
)


def test_image_run_writes_metrics_rows_to_tensorboard(tmp_path):
    from aigc_rl.agents.sb3.latent import train_latent

    run = train_latent(output_dir=tmp_path / "img", report_to="tensorboard", **_IMAGE_KW)
    scalars = _scalars(run / "tb")
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in lines] == [8, 16, 24, 32]
    for tag in ("train/reward", "train/rewards/target-class/mean", "train/rewards/image-diversity/mean"):
        assert [s for s, _ in scalars[tag]] == [8, 16, 24, 32], tag
    for rec in lines:
        for k in ("reward", "rewards/target-class/mean", "episodes"):
            assert dict(scalars[f"train/{k}"])[rec["step"]] == pytest.approx(rec[k], rel=1e-6), k
    assert "train/actor_loss" in scalars  # SB3's own losses go to the same event files


def test_image_run_logs_rows_to_wandb(tmp_path, monkeypatch):
    """A stand-in ``wandb`` module records what the SB3 callback hands it (wandb itself is not a test
    dependency); the rows equal metrics.jsonl."""
    import importlib.util

    calls: dict[str, list] = {"init": [], "log": [], "finish": []}

    class _Run:
        def log(self, data, step):
            calls["log"].append((step, data))

        def finish(self):
            calls["finish"].append(True)

    fake = types.ModuleType("wandb")
    fake.init = lambda **kw: calls["init"].append(kw) or _Run()  # type: ignore[attr-defined]
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "wandb" else real(n, *a))
    monkeypatch.setitem(sys.modules, "wandb", fake)
    from aigc_rl.agents.sb3.latent import train_latent

    run = train_latent(output_dir=tmp_path / "img", report_to="wandb", **_IMAGE_KW)
    [init] = calls["init"]
    assert init["dir"] == str(run) and init["project"] == "aigc-rl" and init["config"]["reward"]
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [s for s, _ in calls["log"]] == [r["step"] for r in lines] == [8, 16, 24, 32]
    for (_, data), rec in zip(calls["log"], lines, strict=True):
        assert data["train/reward"] == rec["reward"] and data["train/episodes"] == rec["episodes"]
    assert calls["finish"] == [True]
    assert not (run / "tb").exists()


def test_overwrite_removes_the_tracker_files_and_keeps_the_users(tmp_path):
    from aigc_rl.run import RunDir, run_record

    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    rd.write_record(run_record(kind="text", config={}))
    for d in ("tb", "wandb"):
        (rd.path / d).mkdir()
        (rd.path / d / "events.out.tfevents.1").write_bytes(b"x")
    (rd.path / "mine.txt").write_text("mine")
    rd.prepare(overwrite=True)
    rd.release()
    assert sorted(p.name for p in rd.path.iterdir() if p.name != ".lock") == ["mine.txt"]


def test_resume_may_change_report_to_only(tmp_path, tiny_model_dir, prompt_file):
    cfg = tiny_train_config(
        tiny_model_dir, prompt_file, tmp_path / "run", report_to="tensorboard", resume=True
    )
    recorded = tiny_train_config(tiny_model_dir, prompt_file, tmp_path / "run").to_dict()
    cfg.check_resume(recorded)  # none -> tensorboard: allowed, it does not change what is trained
    moved = tiny_train_config(
        tiny_model_dir, prompt_file, tmp_path / "run", prompt_column="text", resume=True
    )
    with pytest.raises(ConfigError, match="prompt_column is 'text' but the run was trained with 'prompt'"):
        moved.check_resume(recorded)


def test_sft_run_writes_its_loss_to_tensorboard(tmp_path, tiny_model_dir):
    demos = tmp_path / "d.jsonl"
    demos.write_text(
        "".join(
            json.dumps({"prompt": f"a line about the {w}", "completion": f"the {w} is warm."}) + "\n"
            for w in "abcd"
        )
    )
    out = tmp_path / "run"
    argv = ["sft", "--model", tiny_model_dir, "--sft-data", demos, "--max-steps", "2", "--device", "cpu"]
    assert main([str(a) for a in [*argv, "--output-dir", out, "--report-to", "tensorboard"]]) == 0
    scalars = _scalars(out / "tb")
    lines = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [s for s, _ in scalars["train/loss"]] == [r["step"] for r in lines] == [1, 2]
    assert [v for _, v in scalars["train/loss"]] == pytest.approx([r["loss"] for r in lines], rel=1e-6)
