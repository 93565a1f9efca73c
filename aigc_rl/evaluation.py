"""``aigc-rl eval``: sample the base and the tuned policy on held-out prompts and compare them.

Writes ``eval.json`` (``{"n_prompts", "policies": {"base": {METRIC: {"mean", "ci95"}}, "tuned": {...}}, ...}``),
``samples.jsonl`` and the report (``report.md``, ``report.html``, ``report.json``). Text runs add the held-out
judges (never trained on; :mod:`aigc_rl.judges.evaluate`): ``"judges": {"base": {JUDGE: {"mean", "ci95"}},
"tuned": {...}}``, ``"judges_skipped": {JUDGE: reason}`` and a ``"judges"`` sub-dict in each samples row.

:func:`evaluate_run` holds the run's lock, reads the run's kind from its record and hands the evaluation to
the backend of that kind (text: :func:`aigc_rl.agents.trl.run.evaluate_text`; image:
:func:`aigc_rl.agents.sb3.latent_eval.evaluate_latent`), then writes the report.

Text statistics: every metric is first averaged over the samples of one prompt, then summarised over prompts by
its mean and a 95% percentile-bootstrap interval (Efron & Tibshirani 1993; 5,000 resamples of prompts, seeded).
"""

from __future__ import annotations

from pathlib import Path

from .agents.trl.run import evaluate_text, generate_completions, repetition_rate, summarize
from .stats import bootstrap_ci

__all__ = [
    "bootstrap_ci",
    "summarize",
    "repetition_rate",
    "evaluate_run",
    "evaluate_text",
    "generate_completions",
    "run_kind",
]


def evaluate_run(
    run_dir: str | Path,
    n_prompts: int | None = None,
    samples: int | None = None,
    report: bool = True,
    judges: str | None = "default",
) -> dict:
    """Evaluate a run: base policy vs tuned policy on held-out prompts.

    Args:
        run_dir: A run directory written by ``aigc-rl train``.
        n_prompts: Held-out prompts to use (default: the run's ``eval_prompts``, capped by the eval split).
        samples: Completions per prompt and policy (default: the run's ``eval_samples``).
        report: Also write the report files.
        judges: Text runs: the held-out judges to compute, ``"none"``, ``"default"`` (every judge whose
            dependencies are installed), ``"all"`` or comma-separated names (``aigc_rl.judges``); ignored for
            image runs, whose held-out judge is the digit classifier.

    Returns:
        The ``eval.json`` content.

    The run's lock is held while evaluating (a training or another eval of the same run: exit 2), and its
    kind comes from its record (``run.json``; ``config.yaml`` for 0.1.0 runs), not from which files exist.

    Raises:
        FileNotFoundError: the run directory, its record or its adapter is missing (the message says which
            and how to produce it).
        RunLockedError: another process holds the run.
        UserFileError: the adapter cannot be loaded (the message names it).
        ConfigError: ``judges`` names an unknown judge or one whose dependencies are missing.
    """
    from .run import RunDir

    rd = RunDir(run_dir)
    run_dir = rd.path
    if not (rd.record_path.is_file() or (run_dir / "config.yaml").is_file()):
        raise FileNotFoundError(
            f"{run_dir} holds no run record (run.json) or config.yaml: is it a run directory written by "
            "`aigc-rl train`?"
        )
    from .backends import backend_for

    with rd.locked():  # a training, an overwrite or another eval of this run waits for nobody: exit 2
        result = backend_for(run_kind(run_dir)).evaluate(run_dir, n_prompts, samples, judges=judges)
        _write_report(run_dir, report)
        return result


def run_kind(run_dir: str | Path) -> str:
    """A run's kind (``"text"`` | ``"image"``) from its record: ``run.json``, else ``config.yaml`` (0.1.0).

    Raises:
        ConfigError: the record cannot be read.
    """
    from .config import ConfigError, recorded_config
    from .run import RunDir

    rd = RunDir(run_dir)
    if rd.record_path.is_file():
        try:
            kind = rd.read_record().get("kind")
        except Exception as e:  # RunDirError: unreadable record
            raise ConfigError(str(e)) from None
    else:
        kind = (recorded_config(run_dir) or {}).get("kind")
    return "image" if kind == "image" else "text"


def _write_report(run_dir: Path, report: bool) -> None:
    if not report:
        return
    try:
        from .report import render_report
    except ImportError:  # report package not built yet
        return
    render_report([run_dir], run_dir)
