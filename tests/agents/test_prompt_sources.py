"""``--prompts`` from Hugging Face ``datasets`` (issue 13, item 2): a ``save_to_disk`` directory (a
DatasetDict with its split), a Parquet file and an Arrow file each load and feed a 1-step run, with
``--prompt-column`` and ``--reference-columns`` for their schema; bad sources exit 2 with one line and write
nothing; a Hub id is read only when the hub is reachable."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from aigc_rl.cli import main
from aigc_rl.prompts import PromptFileError, load_prompts, local_source_path, source_name

pytestmark = pytest.mark.usefixtures("one_thread")

QUESTIONS = [f"write a short line about item {i}" for i in range(10)]
ANSWERS = [f"item {i} is fine" for i in range(10)]


def _dataset():
    import datasets

    return datasets.Dataset.from_dict(
        {
            "question": QUESTIONS,
            "answer": ANSWERS,
            "more": [None] * 9 + [["second", "third"]],
            "n": list(range(10)),
        }
    )


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    """The three local sources: a DatasetDict directory, a Parquet file, an Arrow file (the stream format
    ``datasets`` writes) and an Arrow IPC file (``pyarrow.feather``)."""
    import datasets
    import pyarrow.feather as feather

    root = tmp_path_factory.mktemp("sources")
    ds = _dataset()
    datasets.DatasetDict({"train": ds, "test": ds.select(range(3))}).save_to_disk(root / "dsd")
    ds.save_to_disk(root / "ds")
    ds.to_parquet(root / "p.parquet")
    [shard] = sorted((root / "ds").glob("*.arrow"))
    shutil.copy(shard, root / "stream.arrow")
    feather.write_feather(ds.data.table, root / "file.arrow")
    ds.select([]).to_parquet(root / "empty.parquet")
    (root / "bad.parquet").write_bytes(b"PAR1 not a parquet file")
    (root / "p.txt").write_text("\n".join(QUESTIONS) + "\n", encoding="utf-8")
    (root / "plain").mkdir()
    return root


@pytest.mark.parametrize("name", ["dsd:train", "ds", "p.parquet", "stream.arrow", "file.arrow"])
def test_each_local_source_loads_with_its_columns(sources, name):
    rows = load_prompts(
        f"{sources}/{name}", "all", prompt_column="question", reference_columns=["answer", "more"]
    )
    assert [r["prompt"] for r in rows] == QUESTIONS
    assert [r["references"] for r in rows] == [[a] for a in ANSWERS[:9]] + [[ANSWERS[9], "second", "third"]]
    assert [r["split"] for r in rows] == ["train"] * 4 + ["eval"] + ["train"] * 4 + ["eval"]  # every 5th
    assert rows[3]["n"] == 3 and "question" not in rows[3]  # other columns kept, the prompt column renamed
    stem = name.split(":")[0].split(".")[0]
    assert rows[0]["id"] == f"{stem}-00000"
    assert [r["prompt"] for r in load_prompts(f"{sources}/{name}", "eval", prompt_column="question")] == [
        QUESTIONS[4],
        QUESTIONS[9],
    ]


def test_a_datasetdict_split_and_names(sources):
    assert [
        r["prompt"] for r in load_prompts(f"{sources}/dsd:test", "all", prompt_column="question")
    ] == QUESTIONS[:3]
    assert local_source_path(f"{sources}/dsd:test") == sources / "dsd"
    assert local_source_path("content") is None and local_source_path("org/name:train") is None
    assert source_name(f"{sources}/dsd:test") == "dsd-test"
    assert source_name(f"{sources}/p.parquet") == "p"
    assert source_name("HuggingFaceH4/no_robots:train[:100]") == "no_robots-train-100"


def _train(src, out, tiny_model_dir, *extra):
    return [
        str(a)
        for a in (
            "train",
            "--model",
            tiny_model_dir,
            "--prompts",
            src,
            "--output-dir",
            out,
            "--max-steps",
            "1",
            "--num-generations",
            "2",
            "--prompts-per-step",
            "2",
            "--max-new-tokens",
            "6",
            "--device",
            "cpu",
            *extra,
        )
    ]


@pytest.mark.parametrize("name", ["dsd:train", "p.parquet", "stream.arrow"])
def test_each_local_source_feeds_a_one_step_run(tmp_path, capsys, sources, tiny_model_dir, name):
    """chrF needs the ``references`` keyword: the run finishing with a chrF value shows that the references
    gathered from --reference-columns reached the reward through TRL."""
    out = tmp_path / "run"
    argv = _train(f"{sources}/{name}", out, tiny_model_dir, "--prompt-column", "question")
    rc = main([*argv, "--reference-columns", "answer,more", "--reward", "chrf:1,distinct-2:1"])
    assert rc == 0, capsys.readouterr().err
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "finished"
    assert record["config"]["prompt_column"] == "question"
    assert record["config"]["reference_columns"] == "answer,more"
    [line] = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert line["step"] == 1 and 0.0 <= line["rewards/chrf/mean"] <= 1.0


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "src, extra, needles",
    [
        ("dsd", ["--prompt-column", "question"], ["DatasetDict with splits train, test", "dsd:train"]),
        ("dsd:validation", ["--prompt-column", "question"], ["no dataset split 'validation'", "train, test"]),
        ("ds:train", ["--prompt-column", "question"], ["holds one Dataset, not a DatasetDict"]),
        ("p.parquet", [], ["no column 'prompt'", "columns: question, answer, more, n", "--prompt-column"]),
        ("p.parquet", ["--prompt-column", "n"], ["p.parquet row 1: 'n' must be a string, got int"]),
        ("p.parquet", ["--prompt-column", "more"], ["row 1: 'more' must be a string, got NoneType"]),
        (
            "stream.arrow",
            ["--prompt-column", "question", "--reference-columns", "answer,gold"],
            ["no reference column 'gold'", "columns: answer, more, n, prompt", "--reference-columns"],
        ),
        (
            "p.parquet",
            ["--prompt-column", "question", "--reference-columns", "n"],
            ["row 1: reference column 'n' must hold a string or a list of strings, got int"],
        ),
        ("empty.parquet", ["--prompt-column", "question"], ["empty.parquet: holds no prompt"]),
        ("bad.parquet", [], ["bad.parquet: not a readable Parquet file"]),
        ("plain", [], ["is a directory but not a saved `datasets` dataset"]),
        ("p.parquet:train", ["--prompt-column", "question"], ["is one table, it has no split 'train'"]),
        ("p.txt", ["--prompt-column", "question"], ["a text file holds one prompt per line"]),
        ("p.parquet", ["--prompt-column", "id"], ["prompt_column 'id' is a column aigc-rl sets itself"]),
        ("p.parquet", ["--prompt-column", "question", "--reference-columns", ","], ["--reference-columns"]),
        (
            "p.parquet",
            ["--prompt-column", "question", "--reference-columns", "question"],
            ["--reference-columns"],
        ),
    ],
)
def test_bad_sources_exit_2_with_one_line_and_write_nothing(
    tmp_path, capsys, sources, tiny_model_dir, src, extra, needles
):
    before, before_src = _snapshot(tmp_path), _snapshot(sources)
    rc = main([*_train(f"{sources}/{src}", tmp_path / "run", tiny_model_dir), *extra])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and "Traceback" not in err, err
    for n in needles:
        assert n in err, err
    assert _snapshot(tmp_path) == before and _snapshot(sources) == before_src


def test_hub_id_offline_says_how_to_supply_it_locally(tmp_path, capsys, monkeypatch, tiny_model_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    def never(*a, **k):  # offline, the hub is never asked
        raise AssertionError("load_dataset called while offline")

    monkeypatch.setattr(datasets, "load_dataset", never)
    rc = main(_train("someone/prompts:train", tmp_path / "run", tiny_model_dir))
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1, err
    for n in (
        "someone/prompts:train",
        "offline",
        "load_dataset('someone/prompts', split='train')",
        "save_to_disk",
    ):
        assert n in err, err
    assert list(tmp_path.iterdir()) == []


def test_hub_id_is_loaded_with_its_split_when_the_hub_is_reachable(monkeypatch):
    """With the hub reachable, ``owner/name:split`` goes to ``datasets.load_dataset(name, split=split)``;
    without a split, a DatasetDict of one split is taken whole, of several is refused naming them."""
    import datasets
    import huggingface_hub

    import aigc_rl.prompts as prompts

    calls = []

    def fake(name, split=None):
        calls.append((name, split))
        ds = _dataset()
        return ds if split else datasets.DatasetDict({"train": ds, "test": ds})

    monkeypatch.setattr(prompts, "_hub_offline", lambda: False)
    monkeypatch.setattr(huggingface_hub, "dataset_info", lambda name, timeout: {"id": name})
    monkeypatch.setattr(datasets, "load_dataset", fake)
    rows = load_prompts("someone/prompts:train[:10]", "all", prompt_column="question")
    assert calls == [("someone/prompts", "train[:10]")] and [r["prompt"] for r in rows] == QUESTIONS
    with pytest.raises(PromptFileError, match="DatasetDict with splits train, test; pick one"):
        load_prompts("someone/prompts", "all", prompt_column="question")

    def unreachable(name, split=None):
        raise ConnectionError("Couldn't reach 'someone/prompts' on the Hub")

    monkeypatch.setattr(datasets, "load_dataset", unreachable)
    with pytest.raises(
        PromptFileError, match=r"cannot load the Hub dataset 'someone/prompts' \(ConnectionError"
    ):
        load_prompts("someone/prompts:train", "all")


def test_overwrite_refuses_a_dataset_directory_inside_the_run(tmp_path, capsys, sources, tiny_model_dir):
    from aigc_rl.run import RunDir, run_record

    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    rd.write_record(run_record(kind="text", config={}))
    shutil.copytree(sources / "dsd", rd.path / "dsd")
    before = _snapshot(tmp_path)
    argv = _train(f"{rd.path / 'dsd'}:train", rd.path, tiny_model_dir, "--prompt-column", "question")
    rc = main([*argv, "--overwrite"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "lies inside" in err and len(err.splitlines()) == 1, err
    assert _snapshot(tmp_path) == before


def test_hub_id_with_an_unreachable_or_unknown_hub_exits_2_at_once(
    tmp_path, capsys, monkeypatch, tiny_model_dir
):
    """Not offline by the environment, but the hub does not answer (or has no such dataset): one line at once,
    without ``load_dataset``'s retries."""
    import datasets
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    import aigc_rl.prompts as prompts

    def unreachable(name, timeout):
        raise ConnectionError("[Errno -2] Name or service not known")

    def unknown(name, timeout):
        e = RepositoryNotFoundError.__new__(RepositoryNotFoundError)  # its __init__ wants an HTTP response
        Exception.__init__(e, "404 Client Error: Repository Not Found")
        raise e

    def never(*a, **k):
        raise AssertionError("load_dataset called")

    monkeypatch.setattr(prompts, "_hub_offline", lambda: False)
    monkeypatch.setattr(datasets, "load_dataset", never)
    for probe, needles in (
        (unreachable, ["Hub is unreachable (ConnectionError", "save_to_disk"]),
        (unknown, ["has no dataset 'someone/prompts'", "hf auth login"]),
    ):
        monkeypatch.setattr(huggingface_hub, "dataset_info", probe)
        rc = main(_train("someone/prompts:train", tmp_path / "run", tiny_model_dir))
        err = capsys.readouterr().err.strip()
        assert rc == 2 and len(err.splitlines()) == 1, err
        for n in needles:
            assert n in err, err
    assert list(tmp_path.iterdir()) == []
