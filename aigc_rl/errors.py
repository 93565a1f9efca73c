"""One exception hierarchy for bad user input.

Every error a user can cause with a flag, a config file, a prompt file, a model or weights directory, or an
output directory derives from :class:`UserInputError`. The command line turns each of them into a one-line
message and exit status 2 (``aigc-rl <command>: error: ...``), for every subcommand and run kind; anything
else is a bug and keeps its traceback.

Each class also derives from the builtin exception it replaces (``ValueError``, ``FileExistsError`` ...), so
code that caught those before still catches them.

This module imports nothing from aigc-rl: every layer (rewards, envs, agents, core) may import it.
"""

from __future__ import annotations

__all__ = [
    "UserInputError",
    "ConfigError",
    "RunDirError",
    "RunLockedError",
    "ModelNotFoundError",
    "PromptFileError",
    "UnknownRewardError",
    "UserFileError",
    "PickleRefusedError",
]


class UserInputError(Exception):
    """Base class: bad user input. The message names the thing (flag, field, file) and the fix."""


class ConfigError(UserInputError, ValueError):
    """A configuration value is invalid; the message names the field and the fix."""


class RunDirError(UserInputError, FileExistsError):
    """The output directory cannot be used as asked: it holds a run (and neither ``--resume`` nor
    ``--overwrite`` was given), holds no run to resume or overwrite, or holds files that are not an aigc-rl
    run."""


class RunLockedError(RunDirError):
    """Another process holds the run directory's lock (a training, fine-tuning or evaluation in progress)."""


class ModelNotFoundError(UserInputError, FileNotFoundError):
    """A model (hub id, local directory or embedded name) cannot be found; the message says how to supply it."""


class PromptFileError(UserInputError, ValueError):
    """A prompt file is missing, empty, malformed or too small; the message names the file and line."""


class UnknownRewardError(UserInputError, KeyError):
    """A reward name is not registered; the message lists the available names."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class UserFileError(UserInputError, ValueError):
    """A user-supplied file (weights, adapter, tokenizer, data) cannot be read; the message names the file."""


class PickleRefusedError(UserInputError, ValueError):
    """A file would need unpickling, which runs arbitrary code; refused unless explicitly allowed (case G1, DLR-RM/stable-baselines3#1852)."""
