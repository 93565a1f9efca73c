"""Throughput of the batched latent image env relative to the bare generator + classifier forward pass.

Goal: ``LatentImageVectorEnv`` steps/s ÷ (batched generator forward + reward-classifier forward) on the same
batch ≥ 0.8, i.e. the env (action mapping, observations, reward bookkeeping, autoreset) costs at most 25% on
top of the two network calls it cannot avoid. Measured for the ``target-class`` reward (exactly those two
networks) and, for information, the default composite reward (adds the VAE realism pass and pairwise
distances for diversity). Prints one JSON object.

Usage: ``python benchmarks/bench_latent.py [--batch 1024] [--seconds 3]``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from aigc_rl.envs.image.latent_image import DEFAULT_REWARD, LatentImageVectorEnv
from aigc_rl.generators import load_model


def _rate(fn, n_items: int, seconds: float) -> float:
    fn()  # warm-up
    reps, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        reps += 1
    return reps * n_items / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, nargs="+", default=[256, 1024])
    p.add_argument("--seconds", type=float, default=1.0, help="seconds per measurement")
    p.add_argument("--rounds", type=int, default=5, help="alternating measurements; medians are reported")
    p.add_argument("--generator", default="gan")
    a = p.parse_args()
    torch.manual_seed(0)
    gen, clf = load_model(a.generator), load_model("classifier")
    out: dict[str, object] = {"generator": a.generator, "torch_threads": torch.get_num_threads(), "results": []}
    for n in a.batch:
        rng = np.random.default_rng(0)
        actions = rng.uniform(-1, 1, size=(n, gen.latent_dim)).astype(np.float32)
        z = torch.from_numpy(rng.standard_normal((n, gen.latent_dim)).astype(np.float32))
        targets = torch.from_numpy(rng.integers(10, size=n))

        def bare(z: torch.Tensor = z, targets: torch.Tensor = targets) -> None:
            with torch.no_grad():
                p = torch.softmax(clf(gen.generate(z)), -1)
                p.gather(1, targets[:, None])

        envs = {}
        for label, reward in (("target-class", "target-class"), ("default", DEFAULT_REWARD)):
            envs[label] = LatentImageVectorEnv(n, generator=a.generator, reward=reward)
            envs[label].reset(seed=0)
        rates: dict[str, list[float]] = {"bare": [], **{k: [] for k in envs}}
        ratios: dict[str, list[float]] = {k: [] for k in envs}
        for _ in range(a.rounds):  # alternate, so that load from other processes hits both sides alike
            b = _rate(bare, n, a.seconds)
            rates["bare"].append(b)
            for label, venv in envs.items():
                r = _rate(lambda venv=venv, actions=actions: venv.step(actions), n, a.seconds)
                rates[label].append(r)
                ratios[label].append(r / b)
        row: dict[str, object] = {"batch": n, "bare_forward_steps_per_s": round(float(np.median(rates["bare"])), 1)}
        for label in envs:
            row[f"env_steps_per_s[{label}]"] = round(float(np.median(rates[label])), 1)
            row[f"ratio[{label}]"] = round(float(np.median(ratios[label])), 3)
        out["results"].append(row)
    out["goal"] = "ratio[target-class] >= 0.8"
    print(json.dumps(out))


if __name__ == "__main__":
    main()
