"""Type-check the ``aigc_rl`` namespace as it is installed.

The four top-level folders (``aigc_rl/``, ``envs/``, ``agents/``, ``rewards/``) form one import namespace
through setuptools' ``package-dir`` mapping, which a type checker cannot read. This script mirrors that
mapping as a tree of symbolic links in ``build/typecheck/`` (rebuilt each run, so new files are seen) and runs
mypy on the package there with the settings of ``pyproject.toml``. Error paths are printed as the link paths
(``aigc_rl/envs/...`` = ``envs/...``).

Usage: ``python tools/typecheck.py [extra mypy args]``; exit status is mypy's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "typecheck"


def build_tree() -> Path:
    """Create ``build/typecheck/aigc_rl`` with one link per ``.py`` file of every mapped package folder."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    mapping: dict[str, str] = cfg["tool"]["setuptools"]["package-dir"]
    if TREE.exists():
        shutil.rmtree(TREE)  # build/typecheck is ours: made by this script alone
    # Longest package names last, so "aigc_rl.envs" -> envs/ is laid over "aigc_rl" -> aigc_rl/.
    for pkg, folder in sorted(mapping.items(), key=lambda kv: kv[0].count(".")):
        src = ROOT / folder
        dst = TREE.joinpath(*pkg.split("."))
        for path in src.rglob("*.py*"):
            if path.suffix not in (".py", ".pyi") and path.name != "py.typed":
                continue
            rel = path.relative_to(src)
            if any(part in ("__pycache__", "evaluate_modules") for part in rel.parts):
                continue
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.exists():
                os.symlink(path, target)
    return TREE


def main(argv: list[str]) -> int:
    tree = build_tree()
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "-p",
        "aigc_rl",
        *argv,
    ]
    if not any(a == "--cache-dir" or a.startswith("--cache-dir=") for a in argv):
        # The tree is rebuilt each run; mypy's cache lives in the repository's .mypy_cache/ so that later runs
        # are incremental.
        cmd[3:3] = ["--cache-dir", str(ROOT / ".mypy_cache")]
    # Run from the tree so that the repository's own aigc_rl/ folder (without envs/ ...) cannot shadow it.
    return subprocess.call(cmd, cwd=tree)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
