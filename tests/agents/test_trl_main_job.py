"""The main job's pipeline (train -> eval) with TRL GRPO/RLOO on a tiny randomly initialised Llama.

The tiny model is saved to a local directory and passed as ``model``, so these tests exercise the same code
path as ``aigc-rl train --model DIR``: model resolution, prompt set, reward composition, LoRA adapter, KL to
the reference, metrics.jsonl, checkpoints, resume and evaluation.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from aigc_rl.cli import main as cli_main
from aigc_rl.config import TrainConfig
from aigc_rl.evaluation import evaluate_run
from aigc_rl.testing import tiny_train_config
from aigc_rl.train import RunDirError, run_train

REWARD = "fluency:0.1,distinct-2:1.0"


def _cfg(model_dir, prompts, out, **kw):
    return tiny_train_config(model_dir, prompts, out, **{"reward": REWARD, **kw})


@pytest.mark.parametrize("agent", ["grpo", "rloo"])
def test_train_writes_run_and_changes_adapter(tiny_model_dir, prompt_file, tmp_path, agent):
    run = run_train(_cfg(tiny_model_dir, prompt_file, tmp_path / "run", agent=agent))
    lines = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [x for x in lines if "reward" in x]
    assert [x["step"] for x in steps] == [1, 2]
    for rec in steps:  # every reward component and the KL are logged
        assert {"rewards/fluency/mean", "rewards/distinct-2/mean", "kl"} <= set(rec)
        # GRPO's k3 estimator is non-negative by construction (case D1, huggingface/trl#1161); RLOO's k1 is not
        if agent == "grpo":
            assert rec["kl"] >= 0
    weights = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # LoRA B starts at zero: non-zero = trained
    assert (run / "config.yaml").exists() and (run / "checkpoints" / "checkpoint-2").exists()
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["global_step"] == 2


def test_adapter_loads_with_plain_transformers_and_peft(tiny_model_dir, prompt_file, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run = run_train(_cfg(tiny_model_dir, prompt_file, tmp_path / "run", max_steps=1))
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    tuned = PeftModel.from_pretrained(base, str(run / "adapter"))
    ids = torch.tensor([[1, 5, 6, 7]])
    with torch.no_grad():
        out_tuned = tuned(input_ids=ids).logits
        with tuned.disable_adapter():
            out_base = tuned(input_ids=ids).logits
    assert not torch.allclose(out_tuned, out_base)


def test_refuses_existing_run_then_resumes(tiny_model_dir, prompt_file, tmp_path):
    out = tmp_path / "run"
    run_train(_cfg(tiny_model_dir, prompt_file, out, max_steps=1))
    with pytest.raises(RunDirError, match="already holds a run"):
        run_train(_cfg(tiny_model_dir, prompt_file, out, max_steps=1))
    run = run_train(_cfg(tiny_model_dir, prompt_file, out, max_steps=2, resume=True))
    summary = json.loads((run / "train_summary.json").read_text())
    assert summary["global_step"] == 2 and summary["resumed_from"].endswith("checkpoint-1")
    with pytest.raises(RunDirError, match="holds no run to resume"):
        run_train(_cfg(tiny_model_dir, prompt_file, tmp_path / "empty", resume=True))


def test_eval_json_shape(tiny_model_dir, prompt_file, tmp_path):
    run = run_train(_cfg(tiny_model_dir, prompt_file, tmp_path / "run", max_steps=1))
    out = evaluate_run(run, report=False)
    saved = json.loads((run / "eval.json").read_text())
    assert saved == json.loads(json.dumps(out))
    assert out["n_prompts"] == 2
    for policy in ("base", "tuned"):
        metrics = out["policies"][policy]
        assert {"reward", "fluency", "distinct-2", "length", "repetition"} <= set(metrics)
        for m in metrics.values():
            lo, hi = m["ci95"]
            assert lo <= m["mean"] + 1e-9 and m["mean"] <= hi + 1e-9
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    assert len(samples) == 2 * 2 * 2 and {s["policy"] for s in samples} == {"base", "tuned"}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--reward", "sparkle"], "unknown reward 'sparkle'"),
        (["train", "--task", "poetry"], "unknown task 'poetry'"),
        (["train", "--agent", "dqn"], "unknown agent 'dqn'"),
        (["train", "--max-steps", "0"], "max_steps must be an integer >= 1"),
        (["train", "--resume", "--overwrite"], "exclude each other"),
    ],
)
def test_cli_bad_input_exits_2_with_clear_error(argv, message, capsys, tmp_path):
    assert cli_main(argv + ["--output-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert not (tmp_path / "x").exists()  # nothing written for a refused run


def test_cli_config_file(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("reward: relevance\nlearning_rte: 0.1\n", encoding="utf-8")
    assert cli_main(["train", "--config", str(cfg)]) == 2
    assert "unknown config keys ['learning_rte']" in capsys.readouterr().err
    cfg.write_text("reward: relevance\nmax_steps: 7\n", encoding="utf-8")
    loaded = TrainConfig.from_yaml(cfg, seed=3)
    assert (loaded.reward, loaded.max_steps, loaded.seed) == ("relevance", 7, 3)
