"""Throughput of the batched latent image env relative to the bare generator + classifier forward pass.

Goal: ``LatentImageVectorEnv`` steps/s ÷ (batched generator forward + reward-classifier forward) on the same
batch ≥ 0.8, i.e. the env (action mapping, observations, reward bookkeeping, autoreset) costs at most 25% on
top of the two network calls it cannot avoid. Measured for the ``target-class`` reward (exactly those two
networks) and, for information, the default composite reward (adds the VAE realism pass and pairwise
distances for diversity). Prints one JSON object.

Method: the bare forward and each env's ``step`` are called in turn, one call each, ``--pairs`` times, and the
ratio of median call times is reported, so that load from other processes on a shared machine affects both
sides alike. Usage: ``python benchmarks/bench_latent.py [--batch 256 1024] [--pairs 400]``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from aigc_rl.envs.image.latent_image import DEFAULT_REWARD, LatentImageVectorEnv
from aigc_rl.generators import load_model


def _paired(fns: dict[str, object], pairs: int) -> dict[str, float]:
    """Median seconds per call of each function, calls interleaved one by one (load drift hits all alike)."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for f in fns.values():
        f()  # warm-up
    for _ in range(pairs):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--pairs", type=int, default=400, help="interleaved calls of each; medians are reported")
    p.add_argument("--generator", default="gan")
    a = p.parse_args()
    torch.manual_seed(0)
    gen, clf = load_model(a.generator), load_model("classifier")
    out: dict[str, object] = {
        "generator": a.generator,
        "torch_threads": torch.get_num_threads(),
        "results": [],
    }
    for n in a.batch:
        rng = np.random.default_rng(0)
        actions = rng.uniform(-1, 1, size=(n, gen.latent_dim)).astype(np.float32)
        z = torch.from_numpy(rng.standard_normal((n, gen.latent_dim)).astype(np.float32))
        targets = torch.from_numpy(rng.integers(10, size=n))

        def bare(z: torch.Tensor = z, targets: torch.Tensor = targets) -> None:
            with torch.no_grad():
                p = torch.softmax(clf(gen.generate(z)), -1)
                p.gather(1, targets[:, None])

        fns: dict[str, object] = {"bare": bare}
        for label, reward in (("target-class", "target-class"), ("default", DEFAULT_REWARD)):
            venv = LatentImageVectorEnv(n, generator=a.generator, reward=reward)
            venv.reset(seed=0)
            fns[label] = lambda venv=venv, actions=actions: venv.step(actions)
        med = _paired(fns, a.pairs)
        row: dict[str, object] = {"batch": n, "bare_forward_steps_per_s": round(n / med["bare"], 1)}
        for label in ("target-class", "default"):
            row[f"env_steps_per_s[{label}]"] = round(n / med[label], 1)
            row[f"ratio[{label}]"] = round(med["bare"] / med[label], 3)
        out["results"].append(row)
    out["goal"] = "ratio[target-class] >= 0.8"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
