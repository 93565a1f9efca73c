"""Transfer (issue 12): ``aigc-rl train --init``, the base -> init -> tuned evaluation, ``aigc-rl export``.

The fine-tuned policy is a hand-made peft LoRA adapter on the tiny test model whose ``lora_B`` is not zero
(``init_lora_weights=False``), so that it moves the policy far from the base: a reference model that were the
base instead of the init would show a KL well above 1e-4 at step 0. An earlier RL run stands in for an SFT run
(both are run directories with ``adapter/``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch

from aigc_rl.cli import main
from aigc_rl.testing import save_tiny_lm

pytestmark = pytest.mark.usefixtures("one_thread")


def _tree_digest(d: Path) -> dict[str, str]:
    return {
        str(f.relative_to(d)): hashlib.sha256(f.read_bytes()).hexdigest()
        for f in sorted(d.rglob("*"))
        if f.is_file()
    }


def make_adapter(model_dir: Path, out: Path, seed: int = 1, targets: object = "all-linear") -> Path:
    """A LoRA adapter (r=4) with random, non-zero A and B on the model in ``model_dir``."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    cfg = LoraConfig(
        r=4, lora_alpha=8, target_modules=targets, init_lora_weights=False, task_type="CAUSAL_LM"
    )
    peft = get_peft_model(model, cfg)
    peft.save_pretrained(out, safe_serialization=True)
    return out


def _flags(model_dir: Path, prompts: Path, out: Path, *extra: str) -> list[str]:
    return [
        "train",
        "--model",
        str(model_dir),
        "--prompts",
        str(prompts),
        "--reward",
        "distinct-1,distinct-2:0.5",
        "--max-steps",
        "1",
        "--num-generations",
        "2",
        "--prompts-per-step",
        "2",
        "--max-new-tokens",
        "6",
        "--save-steps",
        "1",
        "--eval-prompts",
        "2",
        "--eval-samples",
        "2",
        "--device",
        "cpu",
        "--output-dir",
        str(out),
        *extra,
    ]


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def init_adapter(tiny_model_dir, tmp_path_factory):
    return make_adapter(tiny_model_dir, tmp_path_factory.mktemp("init") / "adapter")


@pytest.fixture(scope="module")
def init_run(tiny_model_dir, prompt_file, init_adapter, tmp_path_factory):
    """An RL run started from ``init_adapter`` (1 step)."""
    out = tmp_path_factory.mktemp("runs") / "from-adapter"
    assert main(_flags(tiny_model_dir, prompt_file, out, "--init", str(init_adapter))) == 0
    return out


def _mean_kl(model_dir: Path, adapter: Path) -> float:
    """Mean per-token KL(init || base) over the ten test prompts' positions (nats)."""
    from aigc_rl.lineage import load_policy
    from aigc_rl.testing import TINY_PROMPTS

    base, tok = load_policy(str(model_dir), None, device="cpu")
    init, _ = load_policy(str(model_dir), [adapter], device="cpu")
    kls = []
    with torch.no_grad():
        for w in TINY_PROMPTS:
            ids = tok(f"write a short line about the {w}", return_tensors="pt").input_ids
            lp_i = torch.log_softmax(init(ids).logits, -1)
            lp_b = torch.log_softmax(base(ids).logits, -1)
            kls.append((lp_i.exp() * (lp_i - lp_b)).sum(-1).mean().item())
    return sum(kls) / len(kls)


def test_kl_at_step_0_is_measured_against_the_init_policy(tiny_model_dir, init_adapter, init_run):
    kl0 = _metrics(init_run)[0]["kl"]
    assert kl0 < 1e-4
    # The check can fail: the init policy is far from the base, so a base reference would give a large KL.
    assert _mean_kl(tiny_model_dir, init_adapter) > 1e-2


def test_init_is_copied_and_recorded(init_adapter, init_run):
    before = _tree_digest(init_adapter)
    rec = json.loads((init_run / "run.json").read_text())
    assert rec["init"]["kind"] == "adapter"
    assert rec["init"]["path"] == str(init_adapter.resolve())
    assert rec["config"]["init"] == str(init_adapter)
    copied = init_run / "init"
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (copied / name).read_bytes() == (init_adapter / name).read_bytes()
    assert _tree_digest(init_adapter) == before  # the source is only read
    assert (init_run / "adapter" / "adapter_model.safetensors").is_file()


def test_resume_rebuilds_the_policy_from_the_run_copy(tiny_model_dir, prompt_file, tmp_path):
    src = make_adapter(tiny_model_dir, tmp_path / "src-adapter", seed=3)
    out = tmp_path / "run"
    flags = _flags(tiny_model_dir, prompt_file, out, "--init", str(src))
    assert main(flags) == 0
    # the source is gone: --resume must take the copy in RUN/init
    src.rename(tmp_path / "moved")
    resumed = [f if f != "1" or flags[i - 1] != "--max-steps" else "2" for i, f in enumerate(flags)]
    assert main(resumed + ["--resume"]) == 0
    rows = _metrics(out)
    assert [r["step"] for r in rows] == [1, 2]
    assert json.loads((out / "run.json").read_text())["global_step"] == 2


def test_init_from_a_run_records_its_lineage(tiny_model_dir, prompt_file, init_run, tmp_path):
    out = tmp_path / "from-run"
    assert main(_flags(tiny_model_dir, prompt_file, out, "--init", str(init_run), "--seed", "1")) == 0
    rec = json.loads((out / "run.json").read_text())["init"]
    assert rec["kind"] == "run" and rec["agent"] == "grpo" and rec["model"] == str(tiny_model_dir)
    assert rec["init"]["kind"] == "adapter"  # the source run's own init
    # self-contained: the source run's adapter, and its init below it
    assert (out / "init" / "adapter_model.safetensors").read_bytes() == (
        init_run / "adapter" / "adapter_model.safetensors"
    ).read_bytes()
    assert (out / "init" / "init" / "adapter_model.safetensors").is_file()
    assert _metrics(out)[0]["kl"] < 1e-4

    from aigc_rl.lineage import lineage_of, lineage_text

    text = lineage_text(lineage_of(out))
    assert text.startswith(f"{tiny_model_dir} → adapter (") and " → grpo (" in text
    assert text.endswith(f"grpo ({out})") and text.count("→") == 3


# -- bad input: exit 2, one line, nothing written ------------------------------------------------------------


def _other_base_adapter(tmp: Path) -> Path:
    other = save_tiny_lm(tmp / "other-base", seed=0, hidden_size=48)
    return make_adapter(other, tmp / "other-adapter")


def _gpt2_adapter(tmp: Path) -> Path:
    from peft import LoraConfig, get_peft_model
    from transformers import GPT2Config, GPT2LMHeadModel

    model = GPT2LMHeadModel(GPT2Config(n_embd=32, n_layer=1, n_head=4, vocab_size=300, n_positions=64))
    cfg = LoraConfig(r=4, target_modules=["c_attn"], init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(model, cfg).save_pretrained(tmp / "gpt2-adapter")
    return tmp / "gpt2-adapter"


def _damaged_adapter(tmp: Path, model_dir: Path) -> Path:
    d = make_adapter(model_dir, tmp / "damaged")
    f = d / "adapter_model.safetensors"
    f.write_bytes(f.read_bytes()[:20])
    return d


def _unfinished_run(tmp: Path) -> Path:
    d = tmp / "unfinished"
    d.mkdir()
    (d / "run.json").write_text(json.dumps({"format": 1, "kind": "text", "status": "running", "config": {}}))
    return d


def _neither(tmp: Path) -> Path:
    d = tmp / "neither"
    d.mkdir()
    (d / "notes.txt").write_text("hello")
    return d


def _empty(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda t, m: t / "nothing-here", "no such directory"),
        (lambda t, m: _empty(t), "empty directory"),
        (lambda t, m: _neither(t), "neither run.json"),
        (lambda t, m: _damaged_adapter(t, m), "adapter_model.safetensors"),
        (lambda t, m: _other_base_adapter(t), "another base model"),
        (lambda t, m: _gpt2_adapter(t), "c_attn"),
        (lambda t, m: _unfinished_run(t), "has not finished"),
    ],
    ids=["missing", "empty", "neither", "damaged", "other-base-shapes", "other-base-names", "unfinished-run"],
)
def test_bad_init_exits_2_and_writes_nothing(tiny_model_dir, prompt_file, tmp_path, capsys, make, words):
    src = make(tmp_path, tiny_model_dir)
    capsys.readouterr()  # what making the input printed
    out = tmp_path / "out"
    assert main(_flags(tiny_model_dir, prompt_file, out, "--init", str(src))) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and words in err, err
    assert not out.exists()


def test_other_base_adapter_is_caught_by_shapes_not_by_its_recorded_name(
    tiny_model_dir, prompt_file, tmp_path, capsys
):
    d = _other_base_adapter(tmp_path)
    cfg_file = d / "adapter_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["base_model_name_or_path"] = str(tiny_model_dir)  # lies about its base
    cfg_file.write_text(json.dumps(cfg))
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(_flags(tiny_model_dir, prompt_file, out, "--init", str(d))) == 2
    assert "has shape" in capsys.readouterr().err
    assert not out.exists()


# -- base -> init -> tuned evaluation -----------------------------------------------------------------------


def test_eval_compares_the_three_stages(tiny_model_dir, init_run, capsys):
    assert main(["eval", "--run", str(init_run), "--judges", "none"]) == 0
    printed = capsys.readouterr().out
    assert "lineage" in printed and "init" in printed
    ev = json.loads((init_run / "eval.json").read_text())
    assert list(ev["policies"]) == ["base", "init", "tuned"]
    assert list(ev["judges"]) == ["base", "init", "tuned"]
    assert [s["stage"] for s in ev["lineage"]] == ["base", "init", "tuned"]
    rows = [json.loads(line) for line in (init_run / "samples.jsonl").read_text().splitlines()]
    by = {p: [r["completion"] for r in rows if r["policy"] == p] for p in ("base", "init", "tuned")}
    assert all(len(v) == 4 for v in by.values())
    assert by["init"] != by["base"]  # the init policy is not the base
    # the same seed for every policy: the base policy samples as a run without init would (same model, seed)
    from aigc_rl.agents.trl.run import sample_completions
    from aigc_rl.lineage import load_policy

    base, tok = load_policy(str(tiny_model_dir), None, device="cpu")
    from aigc_rl.task import TextTask

    task = TextTask(
        prompts=json.loads((init_run / "run.json").read_text())["config"]["prompts"],
        split="eval",
        reward="distinct-1",
        tokenizer=tok,
        max_prompt_tokens=128,
        max_new_tokens=6,
    )
    ids = [task.encode(i)[0] for i in range(2)]
    again = sample_completions(base, tok, ids, 2, 6, 1.0, seed=0)[0]
    assert [c for cs in again for c in cs] == by["base"]

    report = (init_run / "report.md").read_text()
    assert f"- Lineage: {tiny_model_dir} → adapter (" in report
    assert "init mean" in report and "tuned mean" in report and "base mean" in report
    assert json.loads((init_run / "report.json").read_text())["runs"][0]["lineage"] == ev["lineage"]


# -- export ------------------------------------------------------------------------------------------------


def _greedy(model, tok, n: int = 8) -> list[list[int]]:
    from aigc_rl.testing import TINY_PROMPTS

    out = []
    with torch.no_grad():
        for w in TINY_PROMPTS[:4]:
            ids = tok(f"write a short line about the {w}", return_tensors="pt").input_ids
            g = model.generate(ids, do_sample=False, max_new_tokens=n, pad_token_id=tok.pad_token_id)
            out.append(g[0, ids.shape[1] :].tolist())
    return out


def _adapter_policy(run: Path, model_dir: Path):
    from aigc_rl.lineage import load_run_policy
    from aigc_rl.models import load_adapter

    model, tok = load_run_policy(run, str(model_dir), device="cpu")
    return load_adapter(model, run / "adapter").eval(), tok


@pytest.mark.parametrize("which", ["plain", "with-init"])
def test_export_generates_like_the_adapter_policy(tiny_model_dir, prompt_file, init_run, tmp_path, which):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if which == "plain":
        run = tmp_path / "plain"
        assert main(_flags(tiny_model_dir, prompt_file, run)) == 0
    else:
        run = init_run
    out = tmp_path / "exported"
    assert main(["export", str(run), "--out", str(out)]) == 0
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    exported = AutoModelForCausalLM.from_pretrained(out).eval()
    tok = AutoTokenizer.from_pretrained(out)
    policy, ptok = _adapter_policy(run, tiny_model_dir)
    want = _greedy(policy, ptok)
    assert _greedy(exported, tok) == want
    assert sum(len(x) for x in want) > 0
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    merged = exported.state_dict()
    assert any(not torch.equal(base[k], merged[k]) for k in base)  # the adapter is in the weights
    if which == "with-init":  # the init is merged in too: the adapter alone on the base generates otherwise
        from aigc_rl.models import load_adapter

        bare = load_adapter(AutoModelForCausalLM.from_pretrained(tiny_model_dir), run / "adapter").eval()
        assert _greedy(bare, tok) != want


def test_export_bad_input_exits_2(tiny_model_dir, init_run, tmp_path, capsys):
    unfinished = _unfinished_run(tmp_path)
    capsys.readouterr()
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main(["export", str(init_run), "--out", str(full)]) == 2
    assert [f.name for f in full.iterdir()] == ["keep.txt"] and (full / "keep.txt").read_text() == "mine"
    assert main(["export", str(tmp_path / "no-run"), "--out", str(tmp_path / "a")]) == 2
    assert main(["export", str(unfinished), "--out", str(tmp_path / "b")]) == 2
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 3 and all(e.startswith("aigc-rl export: error: ") for e in errs)


def test_init_from_a_full_model_directory_through_the_python_api(
    tiny_model_dir, prompt_file, init_adapter, tmp_path
):
    """A full fine-tuned model (here: the init adapter merged and saved) as --init, via run_train."""
    from aigc_rl.lineage import load_policy
    from aigc_rl.testing import tiny_train_config
    from aigc_rl.train import run_train

    full = tmp_path / "full-model"
    model, tok = load_policy(str(tiny_model_dir), [init_adapter], device="cpu")
    model.save_pretrained(full)
    tok.save_pretrained(full)
    cfg = tiny_train_config(
        tiny_model_dir, prompt_file, tmp_path / "run", init=str(full), max_steps=1, reward="distinct-1"
    )
    run = run_train(cfg)
    rec = json.loads((run / "run.json").read_text())["init"]
    assert rec == {"path": str(full.resolve()), "kind": "model", "weights": "model"}
    assert (run / "init" / "config.json").is_file() and (run / "init" / "model.safetensors").is_file()
    assert _metrics(run)[0]["kl"] < 1e-4
    out = tmp_path / "exported"
    assert main(["export", str(run), "--out", str(out)]) == 0
    from transformers import AutoModelForCausalLM

    exported = AutoModelForCausalLM.from_pretrained(out).eval()
    policy, ptok = _adapter_policy(run, tiny_model_dir)
    assert _greedy(exported, ptok) == _greedy(policy, ptok)


def test_full_model_of_another_architecture_exits_2(tiny_model_dir, prompt_file, tmp_path, capsys):
    other = save_tiny_lm(tmp_path / "other", seed=0, num_layers=3)
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(_flags(tiny_model_dir, prompt_file, out, "--init", str(other))) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "another architecture" in err and "model.layers.2" in err
    assert not out.exists()
