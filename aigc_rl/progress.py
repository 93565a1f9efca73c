"""Progress bars and status messages: one switch, ``--quiet``, for both.

Status lines ("resuming ... from checkpoint ...", "converting the embedded model ...") go through
:mod:`logging`, one logger per module (``logging.getLogger(__name__)``, all under ``aigc_rl``);
:func:`configure` (called by ``aigc_rl.cli.main``) prints them to stderr as plain lines, INFO and above by
default, WARNING and above with ``--quiet``. Command results (eval tables, ``rewards``/``envs`` listings, the
final "run written to" line) are printed to stdout and never silenced.

Progress bars (tqdm: evaluation, judging, image training, pretraining; TRL's and transformers' own bars for
text training) are shown unless :func:`configure` was called with ``quiet=True``; :func:`progress_enabled`
is what each bar asks. As a library (no :func:`configure` call) progress bars are on and INFO lines are not
printed (Python's default: only warnings reach stderr).
"""

from __future__ import annotations

import logging
import sys

__all__ = ["configure", "progress_enabled", "tqdm_disabled"]

_state = {"quiet": False, "hf_quiet": False}
_ROOT = "aigc_rl"


class _StderrHandler(logging.Handler):
    """Writes each record as one plain line to the ``sys.stderr`` of the moment (pytest's capture included)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # a closed stream must not break training
            self.handleError(record)


def configure(quiet: bool = False) -> None:
    """Set up aigc-rl's status messages and progress bars for one command.

    Args:
        quiet: Hide progress bars (aigc-rl's tqdm bars, TRL/transformers/datasets bars) and INFO messages;
            warnings and errors are still printed.
    """
    _state["quiet"] = bool(quiet)
    log = logging.getLogger(_ROOT)
    for h in list(log.handlers):
        if isinstance(h, _StderrHandler):
            log.removeHandler(h)
    handler = _StderrHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.WARNING if quiet else logging.INFO)
    if quiet or _state["hf_quiet"]:  # only touch transformers/datasets when --quiet is or was given
        _quiet_hf(quiet)


def _quiet_hf(quiet: bool) -> None:
    """Hide (or show again) the progress bars and INFO logs of transformers and datasets."""
    import datasets
    from transformers.utils import logging as hf_logging

    _state["hf_quiet"] = quiet
    if quiet:
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
        datasets.disable_progress_bars()
        datasets.logging.set_verbosity_error()
    else:
        hf_logging.set_verbosity_warning()
        hf_logging.enable_progress_bar()
        datasets.enable_progress_bars()
        datasets.logging.set_verbosity_warning()


def progress_enabled() -> bool:
    """True unless ``--quiet`` was given (:func:`configure`)."""
    return not _state["quiet"]


def tqdm_disabled(progress: bool = True) -> bool:
    """The ``disable=`` argument of a tqdm bar that the caller wants shown when ``progress`` is True."""
    return not (progress and progress_enabled())
