"""``aigc-rl`` command line: train, sft, eval, generate, report, pretrain, export, rewards, envs.

Results go to stdout; status lines (``logging``) and progress bars to stderr, hidden by ``--quiet``
(:mod:`aigc_rl.progress`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from . import __version__

__all__ = ["main", "build_parser"]

logger = logging.getLogger(__name__)


class _Parser(argparse.ArgumentParser):
    """``argparse`` with a one-line error (exit 2), like every other bad input of the command line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        msg = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {msg} (see {self.prog} --help)\n")


def _integer(text: str) -> int:
    """An integer flag value; ``1e8`` is accepted as 100000000 (then bounded by the config like any other)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}") from None
    if not v.is_integer():
        raise argparse.ArgumentTypeError(f"invalid integer {text!r}")
    return int(v)


def _add_train(sub: argparse._SubParsersAction, command: str = "train") -> None:
    from .config import TrainConfig

    if command == "sft":
        p = sub.add_parser(
            "sft",
            help="supervised fine-tuning on demonstrations (TRL SFTTrainer, LoRA; loss on the completion only)",
            description="Fine-tune a policy on prompt/completion demonstrations (--sft-data) before RL; the "
            "same flags and run directory as `aigc-rl train`, agent sft. Flags override --config FILE.yaml.",
        )
    else:
        p = sub.add_parser(
            "train",
            help="train a generation policy (default: the main job, the embedded SmolLM2 on the 'content' prompts)",
            description="Train a policy. Flags override --config FILE.yaml, which overrides the defaults.",
        )
    p.add_argument("--config", metavar="FILE.yaml", help="YAML file with any of the fields below")
    helps = {f.name: f.metadata.get("help", "") for f in __import__("dataclasses").fields(TrainConfig)}
    defaults = TrainConfig()  # text defaults; the image defaults are given in the help
    for name in TrainConfig.field_names():
        if command == "sft" and name == "agent":
            continue  # always sft
        flag = "--" + name.replace("_", "-")
        default = getattr(defaults, name)
        if isinstance(default, bool):
            p.add_argument(flag, action="store_true", default=None, help=helps[name])
        else:
            typ = {"max_steps": _integer, "agent": str, "kl_target": float, "epsilon_high": float}.get(
                name, type(default) if default is not None else str
            )
            typ = _integer if typ is int else typ
            shown = "" if name in ("agent", "max_steps") else f" (default: {default})"
            p.add_argument(flag, type=typ, default=None, help=helps[name] + shown)


def _cmd_train(args: argparse.Namespace) -> int:
    from .config import ConfigError, TrainConfig, recorded_config
    from .train import TrainingInterrupted, run_train

    given = TrainConfig.read_yaml(args.config) if args.config else {}
    given.update(
        {k: getattr(args, k) for k in TrainConfig.field_names() if getattr(args, k, None) is not None}
    )
    if args.command == "sft":
        if given.get("agent", "sft") != "sft":
            raise ConfigError(
                f"{args.config}: agent {given['agent']!r}, but `aigc-rl sft` trains agent sft; drop the agent "
                "key or use `aigc-rl train`"
            )
        given["agent"] = "sft"
    if given.get("resume"):
        # --resume is the run's own: start from its recorded config; the flags given may change only what
        # is safe to change (run_train checks them against the record and names any other field).
        run_dir = TrainConfig.from_dict(dict(given, resume=False), "--resume").resolved_output_dir()
        recorded = recorded_config(run_dir)
        if recorded is not None:
            given = {**{k: v for k, v in recorded.items() if k != "kind"}, **given}
            given["output_dir"] = str(run_dir)
    cfg = TrainConfig.from_dict(given, str(args.config or "flags"))
    try:
        run_dir = run_train(cfg, inputs=[args.config])
    except TrainingInterrupted as e:
        logger.warning("aigc-rl %s: %s", args.command, e)
        return e.exit_status
    print(f"aigc-rl: run written to {run_dir}")
    print(f"aigc-rl: next: aigc-rl eval --run {run_dir}")
    return 0


def _cmd_eval(args: argparse.Namespace) -> int:
    from .config import ConfigError
    from .evaluation import evaluate_run

    for flag, v in (("--n-prompts", args.n_prompts), ("--samples", args.samples)):
        if v is not None and v < 1:
            raise ConfigError(f"{flag} must be an integer >= 1, got {v}")
    from .judges.evaluate import select_judges

    select_judges(args.judges)  # a bad --judges exits 2 before the run is locked or a model loaded
    out = evaluate_run(args.run, n_prompts=args.n_prompts, samples=args.samples, judges=args.judges)
    pols = list(out["policies"])  # base, [init,] tuned
    tuned = out["policies"].get("tuned", {})
    print(f"aigc-rl eval: {out['n_prompts']} held-out prompts")
    if out.get("lineage"):
        print("aigc-rl eval: lineage " + " → ".join(str(s["label"]) for s in out["lineage"]))
    print(f"{'metric':<20}" + "".join(f"{p:>30}" for p in pols))
    fmt = lambda d: f"{d['mean']:.4f} [{d['ci95'][0]:.4f}, {d['ci95'][1]:.4f}]"  # noqa: E731
    cell = lambda d, k: f"{fmt(d[k]) if k in d else '-':>30}"  # noqa: E731
    for k in tuned:
        print(f"{k:<20}" + "".join(cell(out["policies"][p], k) for p in pols))
    judged = out.get("judges") or {}
    if judged.get("tuned"):
        print("aigc-rl eval: held-out judges (never trained on)")
        for k in judged["tuned"]:
            print(f"{k:<20}" + "".join(cell(judged.get(p, {}), k) for p in pols))
    skipped = out.get("judges_skipped") or {}
    from .judges.evaluate import OPT_IN

    opt_in = [k for k in skipped if k in OPT_IN]
    missing = [k for k in skipped if k not in OPT_IN]
    if missing:
        from .judges.assets import JUDGES_INSTALL

        print(
            f"aigc-rl eval: skipped judges {', '.join(missing)} (optional dependencies missing, see "
            f"judges_skipped in eval.json); to add them: {JUDGES_INSTALL}"
        )
    if opt_in:
        print(
            f"aigc-rl eval: not run (opt-in, see judges_skipped in eval.json): {', '.join(opt_in)}; "
            "run them with --judges all or by name"
        )
    print(
        f"aigc-rl eval: wrote eval.json, samples.jsonl and the report (report.html, report.md, report.json) in {args.run}"
    )
    return 0


def _cmd_generate(args: argparse.Namespace) -> int:
    from .generate import (
        GenerateOptions,
        check_run,
        generate_image,
        generate_text,
        image_summary,
        text_table,
    )
    from .judges.evaluate import select_judges

    opts = GenerateOptions(
        prompts=args.prompt,
        prompts_file=args.prompts,
        n=args.n,
        policy=args.policy,
        seed=args.seed,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        judges=args.judges,
        target_class=args.target_class,
        out=args.out,
    )
    opts.check()  # bad flags exit 2 before the run is read or a model loaded
    if args.judges is not None:
        select_judges(args.judges)
    run_dir, kind = check_run(args.run)
    jsonl = None
    if args.jsonl is not None:
        from .generate import check_out_file

        jsonl = check_out_file(args.jsonl, "--jsonl")
    if kind == "image":
        png, rows = generate_image(run_dir, opts)
        print(image_summary(rows))
        print(f"aigc-rl generate: wrote {png}")
    else:
        if args.out is not None or args.target_class is not None:
            from .config import ConfigError

            raise ConfigError(
                "--out and --target-class apply to image runs only; use --jsonl FILE for a text run"
            )
        rows = generate_text(run_dir, opts)
        if jsonl is None:
            plain = text_table(rows)
            if plain is not None:
                print(plain)
    if jsonl is not None:
        from .generate import write_jsonl

        write_jsonl(jsonl, rows)
        print(f"aigc-rl generate: wrote {len(rows)} rows to {jsonl}")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from .report import render_report

    out_dir = Path(args.out)
    if out_dir.exists() and not out_dir.is_dir():
        raise FileExistsError(
            f"--out {out_dir} is a file; pass a directory for report.html, report.md, report.json"
        )
    render_report([Path(r) for r in args.runs], out_dir)
    print(
        f"aigc-rl report: wrote {out_dir / 'report.html'}, {out_dir / 'report.md'}, {out_dir / 'report.json'}"
    )
    return 0


def _cmd_pretrain(args: argparse.Namespace) -> int:
    from .config import ConfigError
    from .generators.pretrain import pretrain

    if args.epochs is not None and args.epochs < 1:
        raise ConfigError(f"--epochs must be an integer >= 1, got {args.epochs}")
    out = pretrain(
        args.kind,
        data=args.data,
        output_dir=args.output_dir,
        epochs=args.epochs,
        seed=args.seed,
        overwrite=args.overwrite,
        lr=args.lr,
        init=args.init,
        classes=args.classes,
    )
    print(f"aigc-rl pretrain: wrote {out}")
    return 0


def _cmd_rewards(args: argparse.Namespace) -> int:
    from .rewards import describe
    from .run import json_safe

    for d in describe():  # from the registry's metadata: no reward is built, no model loaded
        print(json.dumps(json_safe(d), allow_nan=False))  # strict JSON: an open range end is null
    return 0


def _cmd_envs(args: argparse.Namespace) -> int:
    from .envs import ENV_IDS

    print("\n".join(ENV_IDS))
    return 0


def _cmd_export(args: argparse.Namespace) -> int:
    from .lineage import export_run

    out = export_run(args.run, args.out)
    print(f"aigc-rl export: wrote {out} (load it with AutoModelForCausalLM.from_pretrained({str(out)!r}))")
    return 0


_QUIET_HELP = "hide progress bars and status lines (warnings, errors and results are still printed)"


def _add_generate(sub: argparse._SubParsersAction) -> None:
    from .generate import DEFAULT_IMAGES, DEFAULT_JUDGES, DEFAULT_TEXT_PROMPTS, POLICY_CHOICES

    g = sub.add_parser(
        "generate",
        help="sample a finished run's policies side by side with their reward and judge scores (reads only)",
        description="Text run: completions of base/init/tuned side by side with each reward component and "
        "held-out judge, as a table or JSONL. Image run: a grid PNG of base (random latents) vs tuned policy "
        "for one target class, with the judge's predicted class. Reads the run only (no lock).",
    )
    g.add_argument("--run", required=True, help="finished run directory written by `aigc-rl train`")
    src = g.add_mutually_exclusive_group()
    src.add_argument(
        "--prompt",
        action="append",
        default=None,
        metavar="TEXT",
        help="a request to complete (repeat for several; default: the first "
        f"{DEFAULT_TEXT_PROMPTS} held-out prompts of the run)",
    )
    src.add_argument("--prompts", metavar="FILE", help="prompt file (.jsonl, .csv, .txt); all its rows")
    g.add_argument(
        "-n",
        type=_integer,
        default=None,
        help=f"completions per prompt and policy (text, default 1) or "
        f"images per policy (image, default {DEFAULT_IMAGES})",
    )
    g.add_argument("--policy", choices=POLICY_CHOICES, default="all", help="which policies (default: all)")
    g.add_argument("--jsonl", metavar="FILE", help="write one JSON row per completion instead of the table")
    g.add_argument("--seed", type=_integer, default=None, help="sampling seed (default: the run's seed)")
    g.add_argument("--max-new-tokens", type=_integer, default=None, help="text: default the run's")
    g.add_argument("--temperature", type=float, default=None, help="text: default the run's")
    g.add_argument(
        "--judges",
        default=None,
        help=f"text: held-out judges (default: {DEFAULT_JUDGES}, the model-free ones); none | default (every "
        "installed judge) | all | comma-separated names",
    )
    g.add_argument(
        "--target-class",
        type=_integer,
        default=None,
        help="image: the digit drawn (default: the run's target, else 0)",
    )
    g.add_argument(
        "--out",
        metavar="FILE.png",
        default=None,
        help="image: grid path (default: generate-RUN-classC.png here)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="aigc-rl", description="Reinforcement learning on generative models.")
    parser.add_argument("--version", action="version", version=f"aigc-rl {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", default=False, help=_QUIET_HELP)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(sub)
    _add_train(sub, "sft")
    e = sub.add_parser(
        "eval", help="compare base and tuned policy of a run on held-out prompts; writes eval.json + report"
    )
    e.add_argument("--run", required=True, help="run directory written by `aigc-rl train`")
    e.add_argument(
        "--n-prompts", type=_integer, default=None, help="held-out prompts (default: the run's eval_prompts)"
    )
    e.add_argument("--samples", type=_integer, default=None, help="completions per prompt and policy")
    e.add_argument(
        "--judges",
        default="default",
        help="held-out judges of text runs (never trained on): none | default (every judge whose dependencies "
        "are installed, except the opt-in gemma-judge) | all | comma-separated names (copy-rate, completion, ead, gemma-fluency, gemma-judge, "
        "gemma-relevance, mpnet-relevance, semantic-diversity)",
    )
    _add_generate(sub)
    r = sub.add_parser("report", help="render report.html/.md/.json over one or more runs")
    r.add_argument("runs", nargs="+", help="run directories")
    r.add_argument("--out", required=True, help="output directory")
    pt = sub.add_parser(
        "pretrain", help="train a digits GAN, VAE or classifier (writes safetensors + config.json)"
    )
    pt.add_argument(
        "kind",
        choices=["gan", "vae", "classifier", "judge"],
        help="judge = the held-out evaluation classifier",
    )
    pt.add_argument(
        "--data",
        default="digits",
        help="'digits' (scikit-learn), a directory with MNIST IDX files, or FILE.npz (array 'images' of "
        "(N, H, W) or (N, H*W), floats in [0, 1] or uint8; optional 'labels' 0..9)",
    )
    pt.add_argument(
        "--init",
        default=None,
        metavar="DIR",
        help="gan/vae only: fine-tune from this model directory, or 'shipped' (the shipped model of that "
        "kind); fewer epochs and a lower learning rate by default; never writes into DIR",
    )
    pt.add_argument(
        "--classes",
        default=None,
        help="train only on images of these digit classes, e.g. 3,5,8 (labelled data)",
    )
    pt.add_argument("--output-dir", required=True)
    pt.add_argument("--epochs", type=int, default=None)
    pt.add_argument("--lr", type=float, default=None, help="Adam learning rate (default per kind)")
    pt.add_argument("--seed", type=int, default=0)
    pt.add_argument("--overwrite", action="store_true", help="replace weights already in --output-dir")
    x = sub.add_parser(
        "export",
        help="merge a text run's adapter (and its --init) into the base; save a standalone transformers model",
    )
    x.add_argument("run", help="finished run directory written by `aigc-rl train`")
    x.add_argument("--out", required=True, help="new (or empty) directory for the model and tokenizer")
    sub.add_parser("rewards", help="list the registered rewards and presets (JSON lines)")
    sub.add_parser("envs", help="list the registered environment ids")
    for p in sub.choices.values():  # also after the command: aigc-rl train --quiet ...
        p.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help=_QUIET_HELP)
    return parser


_COMMANDS = {
    "train": _cmd_train,
    "sft": _cmd_train,
    "eval": _cmd_eval,
    "generate": _cmd_generate,
    "report": _cmd_report,
    "pretrain": _cmd_pretrain,
    "export": _cmd_export,
    "rewards": _cmd_rewards,
    "envs": _cmd_envs,
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``aigc-rl`` console script. Bad input exits with status 2 and a one-line error."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # --help, --version, or a one-line usage error (status 2)
        return e.code if isinstance(e.code, int) else 0 if e.code is None else 2
    from .errors import UserInputError
    from .progress import configure

    configure(quiet=args.quiet)
    try:
        status = _COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, where it is caught, not at interpreter exit
        return status
    except (UserInputError, FileNotFoundError, FileExistsError) as e:
        msg = " ".join(str(e).split())  # one line
        print(f"aigc-rl {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outside training (which stops at a checkpoint and says how to resume)
        logger.warning(
            "aigc-rl %s: interrupted; checkpoints and metrics.jsonl written so far are kept", args.command
        )
        return 130
    except BrokenPipeError:  # `aigc-rl rewards | head`: the reader has gone; stop quietly like other tools
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at interpreter exit
        return 141 if os.name == "posix" else 1


if __name__ == "__main__":
    sys.exit(main())
