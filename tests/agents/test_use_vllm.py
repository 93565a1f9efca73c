"""``--use-vllm``: refused with one line and exit 2, writing nothing, when vLLM is missing or there is no GPU;
passed to TRL's ``GRPOConfig`` as ``use_vllm=True, vllm_mode="colocate"`` otherwise."""

from __future__ import annotations

import importlib.util

import pytest

from aigc_rl.agents.trl import run as trl_run
from aigc_rl.cli import main as cli_main
from aigc_rl.config import ConfigError, TrainConfig


def _argv(tiny_model_dir, prompt_file, out, *extra):
    return [
        "train",
        "--model",
        str(tiny_model_dir),
        "--prompts",
        str(prompt_file),
        "--reward",
        "distinct-1",
        "--max-steps",
        "1",
        "--use-vllm",
        "--output-dir",
        str(out),
        *extra,
    ]


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_use_vllm_without_vllm_exits_2_one_line(tiny_model_dir, prompt_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(_argv(tiny_model_dir, prompt_file, out, "--device", "cpu")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "vllm is not installed; install vllm on a GPU machine" in err
    assert not out.exists()


def test_use_vllm_without_gpu_exits_2_one_line(tiny_model_dir, prompt_file, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(trl_run, "_vllm_installed", lambda: True)  # as if vllm were installed
    out = tmp_path / "run"
    assert cli_main(_argv(tiny_model_dir, prompt_file, out, "--device", "cpu")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--use-vllm needs a GPU, but this run trains on the CPU (--device cpu)" in err
    assert not out.exists()


def test_check_vllm_passes_with_vllm_and_gpu(monkeypatch):
    cfg = TrainConfig(use_vllm=True, device="cuda")
    monkeypatch.setattr(trl_run, "_vllm_installed", lambda: True)
    trl_run.check_vllm(cfg, use_cuda=True)  # no error
    monkeypatch.setattr(trl_run, "_vllm_installed", lambda: False)
    with pytest.raises(ConfigError, match="vllm is not installed"):
        trl_run.check_vllm(cfg, use_cuda=True)
    trl_run.check_vllm(TrainConfig(device="cpu"), use_cuda=False)  # without --use-vllm nothing is checked


def test_use_vllm_is_for_text_runs():
    with pytest.raises(ConfigError, match="use_vllm applies to text runs"):
        TrainConfig(env="aigc_rl/LatentImage-v0", use_vllm=True)


@pytest.mark.parametrize("agent", ["grpo", "rloo"])
def test_use_vllm_reaches_trl_config(agent, monkeypatch, tmp_path):
    """build_trainer puts use_vllm/vllm_mode into the TRL config it builds (the trainer itself is not built:
    TRL would start vLLM)."""
    import trl

    from aigc_rl.agents.trl import trainer as trainer_mod

    seen = {}

    class Stop(Exception):
        pass

    def fake_config(**kw):
        seen.update(kw)
        raise Stop

    monkeypatch.setattr(trl, "GRPOConfig" if agent == "grpo" else "RLOOConfig", fake_config)
    cfg = TrainConfig(agent=agent, use_vllm=True, reward="distinct-1")
    task = type("T", (), {"reward": None})()
    monkeypatch.setattr(trainer_mod, "reward_funcs_for", lambda reward: ([], []))
    with pytest.raises(Stop):
        trainer_mod.build_trainer(cfg, task, None, None, tmp_path, use_cuda=True)
    assert seen["use_vllm"] is True and seen["vllm_mode"] == "colocate" and seen["bf16"] is True
    seen.clear()
    with pytest.raises(Stop):
        trainer_mod.build_trainer(
            TrainConfig(agent=agent, reward="distinct-1"), task, None, None, tmp_path, True
        )
    assert "use_vllm" not in seen
