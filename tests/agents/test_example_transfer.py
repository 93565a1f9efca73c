"""examples/domain_transfer.py: SFT on one task's demonstrations, RL on another from it, both evaluated."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "domain_transfer.py"


def test_domain_transfer_example_runs_sft_then_rl_from_it(tiny_model_dir, tmp_path):
    spec = importlib.util.spec_from_file_location("domain_transfer", EXAMPLE)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "transfer"
    res = mod.main(
        ["--model", str(tiny_model_dir), "--sft-steps", "2", "--rl-steps", "1", "--n-prompts", "2",
         "--judges", "none", "--reward", "distinct-2", "--max-new-tokens", "6", "--out", str(out)]
    )  # fmt: skip
    assert list(res["sft"]["policies"]) == ["base", "tuned"] and res["sft"]["task"] == "education"
    assert list(res["rl"]["policies"]) == ["base", "init", "tuned"] and res["rl"]["task"] == "support"
    rec = json.loads((out / "support-grpo-from-education-sft" / "run.json").read_text())
    assert rec["init"]["kind"] == "run" and rec["init"]["agent"] == "sft"
    first = json.loads(
        (out / "support-grpo-from-education-sft" / "metrics.jsonl").read_text().splitlines()[0]
    )
    assert abs(first["kl"]) < 1e-4  # the reference is the SFT policy, not the pretrained base
    assert (out / "report" / "report.html").is_file()
