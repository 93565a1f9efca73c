"""``aigc-rl sft``: supervised fine-tuning with TRL's SFTTrainer on a tiny randomly initialised Llama.

The tiny model is saved to a directory and passed as ``--model``, the code path of ``aigc-rl sft --model DIR``:
data checks before anything is written, prompt formatting shared with RL, completion-only loss, the run
directory (record, metrics, complete checkpoints, adapter or model), resume, and evaluation of the SFT run.
"""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from aigc_rl.agents.trl import sft as sft_mod
from aigc_rl.agents.trl.sft import SFTDataError, build_sft_trainer, load_sft_rows, prepare_sft_data
from aigc_rl.cli import main as cli_main
from aigc_rl.config import TrainConfig
from aigc_rl.errors import ConfigError
from aigc_rl.evaluation import evaluate_run
from aigc_rl.prompt_encoding import PromptEncoder
from aigc_rl.run import is_complete
from aigc_rl.train import run_train

REWARD = "fluency:0.1,distinct-2:1.0"
WORDS = ("sun", "sea", "cat", "dog")


def _demos(path, n=4):
    rows = [
        {"prompt": f"write a short line about the {w}", "completion": f"the {w} is warm today."}
        for w in WORDS[:n]
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory):
    return _demos(tmp_path_factory.mktemp("demos") / "d.jsonl")


def _cfg(model_dir, data, out, **kw):
    args = dict(
        model=str(model_dir),
        agent="sft",
        sft_data=str(data),
        reward=REWARD,
        max_steps=2,
        prompts_per_step=2,
        max_new_tokens=16,
        save_steps=1,
        eval_prompts=2,
        eval_samples=2,
        device="cpu",
        output_dir=str(out),
    )
    args.update(kw)
    return TrainConfig(**args)


def _flags(model_dir, data, out, *extra):
    return [
        "sft",
        "--model",
        str(model_dir),
        "--sft-data",
        str(data),
        "--max-steps",
        "2",
        "--save-steps",
        "1",
        "--max-new-tokens",
        "16",
        "--device",
        "cpu",
        "--reward",
        REWARD,
        "--output-dir",
        str(out),
        *extra,
    ]


def _metrics(run):
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_sft_cli_writes_run_and_trains_lora(tiny_model_dir, demo_file, tmp_path):
    out = tmp_path / "run"
    assert cli_main(_flags(tiny_model_dir, demo_file, out)) == 0
    rec = json.loads((out / "run.json").read_text())
    assert rec["kind"] == "text" and rec["agent"] == "sft" and rec["config"]["agent"] == "sft"
    assert rec["status"] == "finished" and rec["global_step"] == 2
    assert rec["sft_data"]["rows"] == 4 and rec["sft_data"]["format"] == "prompt-completion"
    assert len(rec["sft_data"]["sha256"]) == 64
    assert (out / "config.yaml").is_file()
    lines = _metrics(out)
    assert [x["step"] for x in lines] == [1, 2]
    assert all(x["loss"] > 0 and "mean_token_accuracy" in x for x in lines)
    for step in (1, 2):
        assert is_complete(out / "checkpoints" / f"checkpoint-{step}")
    weights = load_file(str(out / "adapter" / "adapter_model.safetensors"))
    lora_b = [v for k, v in weights.items() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # LoRA B starts at zero: non-zero = trained
    assert (out / "adapter" / "tokenizer.json").is_file() and not (out / "model").exists()
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["global_step"] == 2 and summary["saved"] == "adapter" and summary["sft_rows"] == 4
    assert summary["epochs"] == 1.0  # 2 steps x 2 demonstrations of 4


def test_default_output_dir_and_train_agent_sft(tiny_model_dir, demo_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = TrainConfig(agent="sft", task="support", seed=3)
    assert str(cfg.resolved_output_dir()) == "runs/support-sft-seed3"
    # `aigc-rl train --agent sft` is the same command
    out = tmp_path / "via-train"
    flags = _flags(tiny_model_dir, demo_file, out, "--max-steps", "1")
    assert cli_main(["train", "--agent", "sft", *flags[1:]]) == 0
    assert json.loads((out / "run.json").read_text())["agent"] == "sft"


def test_loss_decreases_on_repeated_demos(tiny_model_dir, tmp_path):
    data = tmp_path / "one.jsonl"
    data.write_text(json.dumps({"prompt": "write a line", "completion": "the cat sat on the mat."}) + "\n")
    run = run_train(
        _cfg(
            tiny_model_dir,
            data,
            tmp_path / "run",
            max_steps=20,
            prompts_per_step=1,
            save_steps=20,
            learning_rate=5e-3,
        )
    )
    losses = [x["loss"] for x in _metrics(run)]
    assert len(losses) == 20
    # Measured (seed 0): 5.706 (~ln 298, the untrained tiny model's uniform guess) -> 5.201 after 20 steps.
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < first - 0.25 and losses[-1] < losses[0] - 0.4, losses
    assert sum(b < a for a, b in zip(losses[:-1], losses[1:], strict=True)) >= 16  # it falls step after step


def _trainer(tiny_model_dir, data, tmp_path, **kw):
    from aigc_rl.models import load_causal_lm

    cfg = _cfg(tiny_model_dir, data, tmp_path / "run", **kw)
    model, tok = load_causal_lm(str(tiny_model_dir), device="cpu")
    trainer = build_sft_trainer(cfg, prepare_sft_data(cfg, tok), model, tok, tmp_path / "run", use_cuda=False)
    return cfg, trainer, tok


def test_prompt_tokens_get_no_loss_and_match_the_rl_prompt(tiny_model_dir, demo_file, tmp_path):
    cfg, trainer, tok = _trainer(tiny_model_dir, demo_file, tmp_path)
    rows = [trainer.train_dataset[i] for i in range(2)]
    batch = trainer.data_collator(rows)
    encoder = PromptEncoder(tok, cfg.max_prompt_tokens)  # what RL and `aigc-rl eval` feed the policy
    for r, w in enumerate(WORDS[:2]):
        prompt_ids = encoder(f"write a short line about the {w}")
        n = len(prompt_ids)
        ids, labels = batch["input_ids"][r], batch["labels"][r]
        assert ids[:n].tolist() == prompt_ids  # the same chat-formatted prompt tokens as RL
        assert (labels[:n] == -100).all()  # no prompt token carries loss
        real = int(batch["attention_mask"][r].sum())
        completion = tok(f"the {w} is warm today.<|im_end|>\n", add_special_tokens=False)["input_ids"]
        assert labels[n:real].tolist() == completion  # every completion token (end of turn included) does
        assert (labels[real:] == -100).all()  # padding neither
    # zero loss weight: changing the prompt's logits' targets cannot change the loss
    model = trainer.model
    with torch.no_grad():
        loss = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "labels")}).loss
        mask = batch["labels"] != -100
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        logp = torch.log_softmax(logits[:, :-1].float(), -1)
        tgt = batch["labels"][:, 1:]
        nll = -logp.gather(-1, tgt.clamp(min=0).unsqueeze(-1)).squeeze(-1)[mask[:, 1:]]
    assert torch.allclose(loss, nll.mean(), atol=1e-5)  # the loss is the mean over completion tokens only


def test_messages_rows_train_only_the_last_assistant_turn(tiny_model_dir, tmp_path):
    data = tmp_path / "chat.jsonl"
    msgs = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hello"},
        {"role": "user", "content": "the sun?"},
        {"role": "assistant", "content": "the sun is warm."},
    ]
    data.write_text(json.dumps({"messages": msgs}) + "\n")
    _, trainer, tok = _trainer(tiny_model_dir, data, tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[0]])
    trained = batch["labels"][0][batch["labels"][0] != -100].tolist()
    assert trained == tok("the sun is warm.<|im_end|>\n", add_special_tokens=False)["input_ids"]
    prompt = tok.apply_chat_template(msgs[:-1], tokenize=False, add_generation_prompt=True)
    n = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert batch["input_ids"][0][:n].tolist() == tok(prompt, add_special_tokens=False)["input_ids"]


def test_long_chat_prompt_is_refused_before_anything_is_written(tiny_model_dir, tmp_path, capsys):
    data = tmp_path / "long.jsonl"
    turns = [
        {"role": "user", "content": "the cat sat on the mat. " * 40},
        {"role": "assistant", "content": "ok"},
    ]
    data.write_text(json.dumps({"messages": turns}) + "\n")
    out = tmp_path / "out"
    assert cli_main(_flags(tiny_model_dir, data, out)) == 2
    assert "row 1: the turns before the last take" in capsys.readouterr().err and not out.exists()


def test_overwrite_refuses_data_inside_the_run(tiny_model_dir, demo_file, tmp_path, capsys):
    out = tmp_path / "run"
    assert cli_main(_flags(tiny_model_dir, demo_file, out, "--max-steps", "1")) == 0
    inside = _demos(out / "demos.jsonl")
    assert cli_main(_flags(tiny_model_dir, inside, out, "--overwrite")) == 2
    assert "lies inside" in capsys.readouterr().err and (out / "adapter").is_dir()


def test_resume_continues_from_the_newest_complete_checkpoint(tiny_model_dir, demo_file, tmp_path, capsys):
    full = run_train(_cfg(tiny_model_dir, demo_file, tmp_path / "full", max_steps=4))
    part = tmp_path / "part"
    run_train(_cfg(tiny_model_dir, demo_file, part, max_steps=2))
    assert cli_main(["sft", "--output-dir", str(part), "--resume", "--max-steps", "4"]) == 0
    rec = json.loads((part / "run.json").read_text())
    assert rec["status"] == "finished" and rec["resumed_from"].endswith("checkpoint-2")
    assert [x["step"] for x in _metrics(part)] == [1, 2, 3, 4]
    a = load_file(str(full / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(part / "adapter" / "adapter_model.safetensors"))
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)  # same as the uninterrupted run
    # a resumed run keeps its config and its data
    assert cli_main(["sft", "--output-dir", str(part), "--resume", "--learning-rate", "0.1"]) == 2
    changed = _demos(tmp_path / "changed.jsonl", n=3)
    cont = tmp_path / "cont"
    run_train(_cfg(tiny_model_dir, changed, cont, max_steps=1))
    _demos(changed, n=4)
    before = (cont / "run.json").read_text()
    capsys.readouterr()
    assert cli_main(["sft", "--output-dir", str(cont), "--resume", "--max-steps", "2"]) == 2
    assert "changed since the run started" in capsys.readouterr().err
    assert (cont / "run.json").read_text() == before  # refused before anything was touched


def test_stop_flag_stops_at_a_checkpoint(tiny_model_dir, demo_file, tmp_path, monkeypatch):
    from aigc_rl.agents.trl.trainer import StopFlag
    from aigc_rl.run import TrainingInterrupted

    real = StopFlag.on_step_end

    def stop_after_first(self, args, state, control, **kw):
        if state.global_step == 1:
            self.requested = 2  # SIGINT, as the signal handler sets it
        return real(self, args, state, control, **kw)

    monkeypatch.setattr(StopFlag, "on_step_end", stop_after_first)
    out = tmp_path / "run"
    with pytest.raises(TrainingInterrupted) as e:
        run_train(_cfg(tiny_model_dir, demo_file, out, max_steps=3, save_steps=10))
    assert e.value.step == 1 and e.value.exit_status == 130
    rec = json.loads((out / "run.json").read_text())
    assert rec["status"] == "interrupted" and is_complete(out / "checkpoints" / "checkpoint-1")
    assert not (out / "adapter").exists()
    monkeypatch.setattr(StopFlag, "on_step_end", real)
    # the command the message prints resumes it: `aigc-rl train` reads agent sft from the record
    assert cli_main(["train", "--output-dir", str(out), "--resume"]) == 0
    assert json.loads((out / "run.json").read_text())["status"] == "finished"
    assert [x["step"] for x in _metrics(out)] == [1, 2, 3] and (out / "adapter").is_dir()


def test_eval_on_an_sft_adapter_run(tiny_model_dir, demo_file, tmp_path):
    out = tmp_path / "run"
    run_train(_cfg(tiny_model_dir, demo_file, out, max_steps=2))
    res = evaluate_run(out, judges="none")
    assert set(res["policies"]) == {"base", "tuned"} and res["n_prompts"] == 2
    assert (out / "eval.json").is_file() and (out / "samples.jsonl").is_file()
    assert "Agent: sft" in (out / "report.md").read_text()  # the report renders an SFT run


def test_full_finetune_saves_model_and_evaluates(tiny_model_dir, demo_file, tmp_path):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "run"
    assert cli_main(_flags(tiny_model_dir, demo_file, out, "--full-finetune")) == 0
    assert (out / "model" / "model.safetensors").is_file() and (out / "model" / "tokenizer.json").is_file()
    assert not (out / "adapter").exists()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir).state_dict()
    tuned = AutoModelForCausalLM.from_pretrained(out / "model").state_dict()
    assert any(not torch.equal(base[k], tuned[k]) for k in base)  # every weight trainable: some moved
    res = evaluate_run(out, judges="none", report=False)
    samples = [json.loads(x) for x in (out / "samples.jsonl").read_text().splitlines()]
    by = {p: [s["completion"] for s in samples if s["policy"] == p] for p in ("base", "tuned")}
    assert set(res["policies"]) == {"base", "tuned"} and by["base"] != by["tuned"]


# -- bad input: exit 2, one line, nothing written ----------------------------------------------------------


def _bad(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


BAD = [
    ("missing.jsonl", None, "does not exist"),
    ("empty.jsonl", "", "holds no demonstration"),
    ("blank.jsonl", "\n\n", "holds no demonstration"),
    ("notjson.jsonl", '{"prompt": "a", "completion": \n', "invalid JSON"),
    ("nocompletion.jsonl", '{"prompt": "a"}\n', "no 'completion' field"),
    ("noprompt.jsonl", '{"completion": "a"}\n', "no 'prompt' field"),
    ("nonstring.jsonl", '{"prompt": "a", "completion": 3}\n', "'completion' must be a string"),
    ("emptycompletion.jsonl", '{"prompt": "a", "completion": "  "}\n', "empty 'completion'"),
    ("array.jsonl", "[1, 2]\n", "expected an object"),
    ("nocols.csv", "prompt,answer\na,b\n", "needs 'prompt' and 'completion' columns"),
    (
        "lastuser.jsonl",
        '{"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]}\n',
        "last message must be the assistant",
    ),
    (
        "mixed.jsonl",
        '{"prompt": "a", "completion": "b"}\n{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n',
        "mix",
    ),
    ("plain.txt", "a line\n", "unsupported type"),
]


@pytest.mark.parametrize("name,text,message", BAD, ids=[b[0] for b in BAD])
def test_bad_data_exits_2_and_writes_nothing(tiny_model_dir, tmp_path, capsys, name, text, message):
    data = tmp_path / name if text is None else _bad(tmp_path, name, text)
    out = tmp_path / "out"
    assert cli_main(_flags(tiny_model_dir, data, out)) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("aigc-rl sft: error:") and "\n" not in err and message in err, err
    assert str(data) in err
    assert not out.exists()


def test_unknown_task_and_missing_demos_exit_2(tiny_model_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert cli_main(_flags(tiny_model_dir, "poetry", out)) == 2
    err = capsys.readouterr().err
    assert "unknown task 'poetry'" in err and "content, education, support" in err and not out.exists()
    monkeypatch.setattr(sft_mod, "DEMOS_DIR", tmp_path / "no-demos")
    assert cli_main(_flags(tiny_model_dir, "support", out)) == 2
    assert "ships no demonstrations" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["sft", "--beta", "0.1"], "beta: reinforcement-learning options"),
        (["sft", "--num-generations", "8", "--loss-type", "grpo"], "loss_type, num_generations"),
        (["train", "--sft-data", "x.jsonl"], "sft_data: supervised fine-tuning options"),
        (["train", "--full-finetune"], "full_finetune: supervised fine-tuning options"),
    ],
)
def test_rl_and_sft_fields_are_refused_across(tmp_path, capsys, argv, message):
    out = tmp_path / "out"
    assert cli_main([*argv, "--output-dir", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()
    with pytest.raises(ConfigError):
        TrainConfig(agent="rloo", full_finetune=True)


# -- data formats --------------------------------------------------------------------------------------------


def test_csv_saved_dataset_and_task_name_sources(tmp_path, monkeypatch):
    from datasets import Dataset, DatasetDict

    csv_path = _bad(tmp_path, "d.csv", 'id,prompt,completion\n1,"hi, there",hello\n2,sun,warm\n')
    rows, info = load_sft_rows(csv_path)
    assert rows == [{"prompt": "hi, there", "completion": "hello"}, {"prompt": "sun", "completion": "warm"}]
    assert info["format"] == "prompt-completion" and info["rows"] == 2
    saved = tmp_path / "saved"
    DatasetDict({"train": Dataset.from_list([{"prompt": "a", "completion": "b"}])}).save_to_disk(str(saved))
    assert load_sft_rows(saved)[0] == [{"prompt": "a", "completion": "b"}]
    bad = tmp_path / "badsaved"
    Dataset.from_list([{"text": "a"}]).save_to_disk(str(bad))
    with pytest.raises(SFTDataError, match="needs 'prompt' and 'completion' columns"):
        load_sft_rows(bad)
    demos = tmp_path / "demos"
    demos.mkdir()
    _demos(demos / "support.jsonl", n=3)
    monkeypatch.setattr(sft_mod, "DEMOS_DIR", demos)
    rows, info = load_sft_rows("support")
    assert len(rows) == 3 and info["path"] == str(demos / "support.jsonl")
    cfg = TrainConfig(agent="sft", task="support")  # no --sft-data: the task's demos
    assert sft_mod.sft_source(cfg) == "support"
    with pytest.raises(ConfigError, match="--sft-data"):
        sft_mod.sft_source(TrainConfig(agent="sft", prompts="p.jsonl"))


def test_sft_from_an_init_run_records_and_evaluates_the_lineage(tiny_model_dir, demo_file, tmp_path):
    first = run_train(_cfg(tiny_model_dir, demo_file, tmp_path / "first", max_steps=1))
    second = tmp_path / "second"
    assert cli_main(_flags(tiny_model_dir, demo_file, second, "--max-steps", "1", "--init", str(first))) == 0
    rec = json.loads((second / "run.json").read_text())
    assert rec["init"]["kind"] == "run" and rec["init"]["agent"] == "sft"
    assert (second / "init" / "adapter_model.safetensors").is_file()
    res = evaluate_run(second, judges="none", report=False)
    assert list(res["policies"]) == ["base", "init", "tuned"]
    assert [s["stage"] for s in res["lineage"]] == ["base", "init", "tuned"]


@pytest.mark.parametrize("task", ["content", "support", "education"])
def test_shipped_demos_load_as_prompt_completion(task):
    rows, info = load_sft_rows(task)
    assert (
        info["format"] == "prompt-completion" and len(rows) >= 100 and info["path"].endswith(f"{task}.jsonl")
    )
