"""Experiment trackers of a run (``--report-to``): TensorBoard, Weights & Biases, or any integration that
transformers' ``Trainer`` accepts.

Text runs hand the list to TRL's ``GRPOConfig`` / ``RLOOConfig`` (``report_to``); TensorBoard event files go
to ``RUN/tb``. Image runs (stable-baselines3) log to TensorBoard through SB3's ``tensorboard_log=RUN/tb`` and
to W&B through a small SB3 callback (:mod:`aigc_rl.agents.sb3.tracking`); they take ``tensorboard`` and
``wandb`` only.

Sources: transformers ``TrainingArguments.report_to`` and ``integrations.INTEGRATION_TO_CALLBACK``;
stable-baselines3 ``BaseAlgorithm(tensorboard_log=...)``.
"""

from __future__ import annotations

import importlib.util

from .errors import ConfigError

__all__ = ["TB_DIR", "IMAGE_TRACKERS", "INSTALL", "parse_report_to", "require_trackers"]

#: Where a run's TensorBoard event files go, relative to the run directory.
TB_DIR = "tb"
#: The trackers of image runs (SB3).
IMAGE_TRACKERS = ("tensorboard", "wandb")
#: How to install the package a tracker needs.
INSTALL = {
    "tensorboard": "pip install -e '.[tensorboard]' in a clone, or pip install 'aigc-rl[tensorboard]' (the tensorboard extra)",
    "wandb": "pip install wandb",
}


def _text_trackers() -> list[str]:
    """The integration names transformers' ``Trainer`` accepts (``report_to``)."""
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    return sorted(INTEGRATION_TO_CALLBACK)


def parse_report_to(value: object, kind: str = "text") -> list[str]:
    """The trackers of a ``--report-to`` value.

    Args:
        value: ``"none"``, one name, or a comma list (``"tensorboard,wandb"``); a YAML list is taken too.
            ``"all"`` (text runs) means every integration transformers finds installed.
        kind: ``"text"`` (any integration transformers accepts) or ``"image"`` (``tensorboard``, ``wandb``).

    Returns:
        The tracker names, in the order given, without duplicates; ``[]`` for ``none``; ``["all"]`` for ``all``.

    Raises:
        ConfigError: an empty item, an unknown name (the message lists the accepted ones), ``none`` or ``all``
            combined with another name, or ``all`` for an image run.
    """
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    names: list[str] = []
    for item in items:
        name = str(item).strip().lower()
        if not name:
            raise ConfigError(
                f"report_to {value!r} holds an empty item; use none, tensorboard, wandb or a comma list "
                "(--report-to)"
            )
        if name not in names:
            names.append(name)
    if ("none" in names or "all" in names) and len(names) > 1:
        raise ConfigError(f"report_to {value!r}: none and all stand alone, not in a list (--report-to)")
    if names == ["none"]:
        return []
    accepted = list(IMAGE_TRACKERS) if kind == "image" else [*_text_trackers(), "all"]
    unknown = [n for n in names if n not in accepted]
    if unknown:
        what = "image runs (stable-baselines3) take" if kind == "image" else "transformers accepts"
        raise ConfigError(
            f"report_to: unknown tracker {', '.join(map(repr, unknown))}; {what} none, {', '.join(accepted)} "
            "(--report-to)"
        )
    return names


def require_trackers(names: list[str]) -> None:
    """Check that the package of each tracker is installed (before a run directory is touched).

    Args:
        names: :func:`parse_report_to` output.

    Raises:
        ConfigError: a tracker whose package is missing, naming the ``pip install`` that adds it.
    """
    for name in names:
        if name == "all":
            continue
        if name == "tensorboard":
            ok = importlib.util.find_spec("tensorboard") is not None
        elif name == "wandb":
            ok = importlib.util.find_spec("wandb") is not None
        else:
            from transformers.integrations.integration_utils import get_available_reporting_integrations

            ok = name in get_available_reporting_integrations()
        if not ok:
            how = INSTALL.get(name, f"install the {name} package")
            raise ConfigError(f"--report-to {name}: the {name} package is not installed; {how}")
