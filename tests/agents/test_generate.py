"""``aigc-rl generate`` (issue 13, item 3): a finished run's policies side by side, read-only, seeded; and the
``--quiet`` flag (item 4): progress bars and status lines hidden, results kept."""

from __future__ import annotations

import fcntl
import json
import logging
import struct
import sys
from pathlib import Path

import pytest

from aigc_rl.agents.trl.run import sample_completions
from aigc_rl.cli import main as cli_main
from aigc_rl.config import ConfigError
from aigc_rl.generate import GenerateOptions, generate_text, grid_size, text_table
from aigc_rl.models import load_adapter, load_causal_lm
from aigc_rl.run import RunDir, RunLockedError
from aigc_rl.task import TextTask
from aigc_rl.testing import save_tiny_lm, tiny_train_config, write_prompt_file
from aigc_rl.train import run_train


def _snapshot(d: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(d)): (p.stat().st_mtime_ns, p.stat().st_size) for p in d.rglob("*")}


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("gen")
    save_tiny_lm(root / "model", seed=0)
    prompts = write_prompt_file(root / "p.jsonl")
    cfg = tiny_train_config(  # a high learning rate: the tuned policy samples other tokens than the base
        root / "model", prompts, root / "run", reward="distinct-2:1.0,length:0.5", learning_rate=0.05
    )
    return run_train(cfg)


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    from aigc_rl.agents.sb3.latent import train_latent

    root = tmp_path_factory.mktemp("gen-image")
    return train_latent(
        agent="a2c",
        max_steps=16,
        seed=0,
        output_dir=root / "run",
        reward="target-class+image-diversity:0.5",
        n_envs=4,
        hyperparameters={"n_steps": 4, "policy_kwargs": {"net_arch": [16]}},
        log_interval=16,
        progress=False,
    )


def test_text_generate_is_seeded_has_base_and_tuned_and_scores_each_completion(text_run):
    before = _snapshot(text_run)
    opts = GenerateOptions(prompts=["write a line about the sun", "the sea"], n=2, seed=7, max_new_tokens=5)
    rows = generate_text(text_run, opts)
    again = generate_text(text_run, GenerateOptions(**vars(opts)))
    assert [r["completion"] for r in rows] == [r["completion"] for r in again]  # same seed, same text
    other = generate_text(text_run, GenerateOptions(**{**vars(opts), "seed": 8}))
    assert [r["completion"] for r in rows] != [r["completion"] for r in other]
    # 2 prompts x 2 samples x (base, tuned), policies side by side for each sample
    assert len(rows) == 8
    assert [r["policy"] for r in rows[:2]] == ["base", "tuned"]
    assert [(r["prompt_index"], r["sample"]) for r in rows[::2]] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert rows[0]["prompt"] == "write a line about the sun" and rows[4]["prompt"] == "the sea"
    for r in rows:
        assert set(r["rewards"]) == {"reward", "distinct-2", "length"}
        assert set(r["judges"]) == {"copy-rate", "completion", "ead"}  # the cheap model-free default
        # the composite is the weighted sum of its components (normalize none)
        assert r["rewards"]["reward"] == pytest.approx(
            r["rewards"]["distinct-2"] + 0.5 * r["rewards"]["length"]
        )
        assert r["judges"]["completion"] == float(r["finished"])
    # base = the base model itself, tuned = its adapter: sampled directly with the same seed, same texts
    model, tok = load_causal_lm(str(text_run.parent / "model"), device="cpu")
    task = TextTask(prompts=opts.prompts, tokenizer=tok, reward="distinct-2", max_prompt_tokens=128)
    ids = [task.encode(i)[0] for i in range(2)]
    base = sample_completions(model, tok, ids, 2, 5, 1.0, seed=7)[0]
    tuned = sample_completions(load_adapter(model, text_run / "adapter").eval(), tok, ids, 2, 5, 1.0, seed=7)[
        0
    ]
    assert [r["completion"] for r in rows if r["policy"] == "base"] == [c for cs in base for c in cs]
    assert [r["completion"] for r in rows if r["policy"] == "tuned"] == [c for cs in tuned for c in cs]
    assert base != tuned
    assert _snapshot(text_run) == before  # read only


def test_text_generate_cli_table_and_jsonl(text_run, tmp_path, capsys):
    out = tmp_path / "g.jsonl"
    argv = ["generate", "--run", str(text_run), "--prompt", "hello there", "-n", "2", "--seed", "3"]
    assert cli_main([*argv, "--jsonl", str(out), "--judges", "completion"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 4 and {r["policy"] for r in rows} == {"base", "tuned"}
    for r in rows:
        assert set(r) >= {"prompt", "policy", "completion", "rewards", "judges"}
        assert set(r["judges"]) == {"completion"} and r["prompt"] == "hello there"
    assert "wrote 4 rows" in capsys.readouterr().out
    # the table: one column per policy, the means below; no JSONL asked, so no file written
    assert cli_main([*argv, "--policy", "tuned"]) == 0
    table = capsys.readouterr().out
    assert "tuned" in table and "base" not in table and "distinct-2" in table and "copy-rate" in table
    assert cli_main(argv) == 0
    table = capsys.readouterr().out
    assert "base" in table and "tuned" in table and "hello there" in table


def test_generate_reads_while_a_training_holds_the_lock(text_run, capsys):
    with (text_run / ".lock").open("a+") as fh:  # what another process's training holds
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(RunLockedError):
            RunDir(text_run).acquire()  # eval would wait for nobody: exit 2
        rc = cli_main(["generate", "--run", str(text_run), "--prompt", "hi", "--policy", "base"])
    assert rc == 0 and "base" in capsys.readouterr().out


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["-n", "0"], "-n must be an integer >= 1"),
        (["--temperature", "0"], "--temperature must be a number > 0"),
        (["--policy", "init"], "has no init policy"),
        (["--policy", "best"], "invalid choice"),
        (["--judges", "sparkle"], "unknown judge 'sparkle'"),
        (["--prompts", "/nonexistent/p.jsonl"], "p.jsonl"),
        (["--prompt", "a", "--prompts", "p.txt"], "not allowed with argument"),
        (["--out", "x.png"], "image runs only"),
        (["--jsonl", "/nonexistent/dir/x.jsonl"], "does not exist"),
    ],
)
def test_generate_bad_flags_exit_2_with_one_line(text_run, tmp_path, capsys, extra, needle):
    before = _snapshot(text_run)
    prompt = [] if {"--prompt", "--prompts"} & set(extra) else ["--prompt", "hi"]
    rc = cli_main(["generate", "--run", str(text_run), *prompt, *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert _snapshot(text_run) == before


def test_generate_missing_and_unfinished_runs_exit_2(text_run, tmp_path, capsys):
    rc = cli_main(["generate", "--run", str(tmp_path / "nope")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "no such run directory" in err[0]
    (tmp_path / "empty").mkdir()
    assert cli_main(["generate", "--run", str(tmp_path / "empty")]) == 2
    assert "holds no run record" in capsys.readouterr().err
    # an unfinished run: its record, no adapter yet
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    for f in ("run.json", "config.yaml"):
        (unfinished / f).write_bytes((text_run / f).read_bytes())
    rc = cli_main(["generate", "--run", str(unfinished)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "has not finished training" in err[0] and "--resume" in err[0]
    assert sorted(p.name for p in unfinished.iterdir()) == ["config.yaml", "run.json"]


def test_text_table_plain_and_rich_show_each_policy_and_the_means(monkeypatch, capsys):
    row = lambda p, c, r: {  # noqa: E731
        "prompt": "say [bold]hi[/bold]",
        "prompt_index": 0,
        "sample": 0,
        "policy": p,
        "completion": c,
        "rewards": {"reward": r, "completion": 1.0},
        "judges": {"ead": float("nan"), "completion": 0.0},
    }
    rows = [row("base", "plain [red]text", 0.25), row("tuned", "tuned text", 0.75)]
    assert text_table(rows) is None  # rich printed it
    out = capsys.readouterr().out
    assert "plain [red]text" in out and "[bold]hi[/bold]" in out  # shown as written, not read as markup
    assert "0.250" in out and "0.750" in out and "nan" in out
    monkeypatch.setitem(sys.modules, "rich.console", None)  # rich not installed
    plain = text_table(rows)
    assert plain is not None
    lines = plain.splitlines()
    assert lines[0] == "prompt 1: say [bold]hi[/bold]"
    assert lines[1].split() == ["[1]", "base", "plain", "[red]text"]
    assert lines[-4].split() == ["reward", "0.250", "0.750"] and lines[-2].split() == [
        "judge:",
        "ead",
        "nan",
        "nan",
    ]
    # the reward component and the judge of one name are two rows with their own means (new-user trial)
    assert lines[-3].split() == ["completion", "1.000", "1.000"]
    assert lines[-1].split() == ["judge:", "completion", "0.000", "0.000"]


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_image_generate_writes_a_grid_of_the_right_size(image_run, tmp_path, capsys):
    before = _snapshot(image_run)
    png = tmp_path / "grid.png"
    jsonl = tmp_path / "img.jsonl"
    argv = ["generate", "--run", str(image_run), "-n", "5", "--target-class", "3", "--out", str(png)]
    assert cli_main([*argv, "--jsonl", str(jsonl)]) == 0
    out = capsys.readouterr().out
    assert _png_size(png) == grid_size(5) == (500, 250)
    rows = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [r["policy"] for r in rows] == ["base"] * 5 + ["tuned"] * 5
    assert all(r["target"] == 3 and 0 <= r["judge_pred"] <= 9 and 0 <= r["judge_prob"] <= 1 for r in rows)
    assert all({"reward", "target-class", "image-diversity"} <= set(r["rewards"]) for r in rows)
    assert "base" in out and "tuned" in out and f"wrote {png}" in out
    # seeded: the same grid twice
    first = png.read_bytes()
    assert cli_main(argv) == 0 and png.read_bytes() == first
    assert _snapshot(image_run) == before  # read only
    capsys.readouterr()
    # image-only and text-only flags
    for extra, needle in (
        (["--target-class", "10"], "--target-class must be an integer in 0..9"),
        (["--prompt", "hi"], "apply to text runs only"),
        (["--policy", "init"], "no init policy"),
    ):
        rc = cli_main(["generate", "--run", str(image_run), "--out", str(tmp_path / "x.png"), *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 2 and len(err) == 1 and needle in err[0], err
    assert not (tmp_path / "x.png").exists()


def test_unfinished_image_run_exits_2(image_run, tmp_path, capsys):
    d = tmp_path / "img"
    d.mkdir()
    for f in ("run.json", "latent.json", "config.yaml"):
        (d / f).write_bytes((image_run / f).read_bytes())
    rc = cli_main(["generate", "--run", str(d), "--out", str(tmp_path / "g.png")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "has not finished training" in err[0]
    assert not (tmp_path / "g.png").exists()


# ---- --quiet ------------------------------------------------------------------------------------------------


def test_quiet_hides_progress_bars_and_status_lines_but_not_results(text_run, capfd):
    argv = ["generate", "--run", str(text_run), "--prompt", "hi", "--policy", "tuned"]
    assert cli_main(argv) == 0
    loud = capfd.readouterr()
    assert "aigc-rl generate" in loud.err  # the tqdm bar (to stderr)
    logging.getLogger("aigc_rl.agents.trl.run").info("aigc-rl train: resuming X")
    assert "resuming X" in capfd.readouterr().err  # INFO lines are printed by default
    for quiet_argv in (["--quiet", *argv], [*argv, "--quiet"], ["-q", *argv]):
        assert cli_main(quiet_argv) == 0
        logging.getLogger("aigc_rl.agents.trl.run").info("aigc-rl train: resuming X")
        logging.getLogger("aigc_rl.run").warning("aigc-rl train: SIGINT: finishing")
        quiet = capfd.readouterr()
        assert quiet.err == "aigc-rl train: SIGINT: finishing\n"  # no bar, no info line; warnings kept
        assert quiet.out == loud.out  # the result table is the same
    cli_main(["envs"])  # back to the default for the tests that follow
    capfd.readouterr()


def test_quiet_text_training_shows_no_progress_bar(tmp_path, capfd):
    save_tiny_lm(tmp_path / "model", seed=0)
    prompts = write_prompt_file(tmp_path / "p.jsonl")
    cfg = tiny_train_config(tmp_path / "model", prompts, tmp_path / "run", max_steps=1)
    argv = ["train", "--model", cfg.model, "--prompts", cfg.prompts, "--max-steps", "1"]
    argv += ["--num-generations", "2", "--prompts-per-step", "2", "--max-new-tokens", "4", "--device", "cpu"]
    argv += ["--reward", "distinct-2", "--output-dir", str(tmp_path / "run")]
    capfd.readouterr()
    assert cli_main(["--quiet", *argv]) == 0
    cap = capfd.readouterr()
    assert "run written to" in cap.out and "'loss'" not in cap.out  # no log dicts (metrics.jsonl has them)
    assert "it/s" not in cap.err and "%|" not in cap.err, cap.err
    cli_main(["envs"])
    capfd.readouterr()


def test_quiet_image_training_shows_no_progress_bar(tmp_path, capfd):
    argv = ["train", "--env", "aigc_rl/LatentImage-v0", "--agent", "a2c", "--max-steps", "8", "--n-envs", "4"]
    assert cli_main([*argv, "--output-dir", str(tmp_path / "loud")]) == 0
    assert "train latent policy" in capfd.readouterr().err  # the bar, by default
    assert cli_main([*argv, "--output-dir", str(tmp_path / "quiet"), "--quiet"]) == 0
    cap = capfd.readouterr()
    assert cap.err == "" and "run written to" in cap.out
    cli_main(["envs"])
    capfd.readouterr()


def test_generate_on_an_init_run_shows_base_init_tuned(text_run, tmp_path):
    from aigc_rl.lineage import load_run_policy

    cfg = tiny_train_config(
        text_run.parent / "model",
        text_run.parent / "p.jsonl",
        tmp_path / "init-run",
        reward="distinct-2",
        init=str(text_run),
        learning_rate=0.05,
    )
    run = run_train(cfg)
    opts = GenerateOptions(prompts=["the moon"], n=2, seed=5, max_new_tokens=4)
    rows = generate_text(run, opts)
    assert [r["policy"] for r in rows[:3]] == ["base", "init", "tuned"] and len(rows) == 6
    # init = the base with the first run's adapter merged; sampled directly with the same seed
    model, tok = load_run_policy(run, str(text_run.parent / "model"), device="cpu")
    ids = [TextTask(prompts=["the moon"], tokenizer=tok, reward="distinct-2").encode(0)[0]]
    init = sample_completions(model.eval(), tok, ids, 2, 4, 1.0, seed=5)[0][0]
    assert [r["completion"] for r in rows if r["policy"] == "init"] == init
    only = generate_text(run, GenerateOptions(**{**vars(opts), "policy": "init"}))
    assert [r["completion"] for r in only] == init


def test_generate_on_a_full_finetune_sft_run(text_run, tmp_path):
    demos = tmp_path / "d.jsonl"
    demos.write_text(
        "".join(
            json.dumps({"prompt": f"write about the {w}", "completion": f"the {w} is warm."}) + "\n"
            for w in ("sun", "sea", "cat", "dog")
        )
    )
    from aigc_rl.config import TrainConfig

    cfg = TrainConfig(
        model=str(text_run.parent / "model"),
        agent="sft",
        sft_data=str(demos),
        full_finetune=True,
        reward="distinct-2",
        learning_rate=0.05,
        max_steps=2,
        prompts_per_step=2,
        max_new_tokens=8,
        save_steps=1,
        device="cpu",
        output_dir=str(tmp_path / "sft"),
    )
    run = run_train(cfg)
    assert not (run / "adapter").exists()
    rows = generate_text(run, GenerateOptions(prompts=["the moon"], n=2, seed=5, max_new_tokens=4))
    assert [r["policy"] for r in rows] == ["base", "tuned"] * 2
    # tuned = the run's model/, sampled directly with the same seed
    model, tok = load_causal_lm(str(run / "model"), device="cpu")
    ids = [TextTask(prompts=["the moon"], tokenizer=tok, reward="distinct-2").encode(0)[0]]
    assert [r["completion"] for r in rows if r["policy"] == "tuned"] == sample_completions(
        model.eval(), tok, ids, 2, 4, 1.0, seed=5
    )[0][0]
    with pytest.raises(ConfigError, match="no init policy"):
        generate_text(run, GenerateOptions(prompts=["x"], policy="init"))
