"""Fixtures of the agent tests: a tiny randomly initialised Llama on disk and a ten-line prompt file."""

from __future__ import annotations

import pytest

from aigc_rl.testing import save_tiny_lm, write_prompt_file


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    return save_tiny_lm(tmp_path_factory.mktemp("tiny-llama"), seed=0)


@pytest.fixture(scope="module")
def prompt_file(tmp_path_factory):
    return write_prompt_file(tmp_path_factory.mktemp("prompts") / "p.jsonl")
