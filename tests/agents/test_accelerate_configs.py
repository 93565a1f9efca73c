"""Every shipped ``configs/accelerate/*.yaml`` parses with accelerate's own config loader and names the
distributed setup its file name promises (accelerate ``launch --config_file`` reads them the same way)."""

from __future__ import annotations

from pathlib import Path

import pytest
from accelerate.commands.config.config_args import ClusterConfig, load_config_from_file
from accelerate.utils import DistributedType

CONFIG_DIR = Path(__file__).resolve().parents[2] / "configs" / "accelerate"

#: file -> (distributed_type, num_processes, num_machines, mixed_precision)
EXPECTED = {
    "single-gpu.yaml": (DistributedType.NO, 1, 1, "bf16"),
    "ddp.yaml": (DistributedType.MULTI_GPU, 8, 1, "bf16"),
    "ddp-multinode.yaml": (DistributedType.MULTI_GPU, 16, 2, "bf16"),
    # MULTI_GPU selects the torchrun launcher; the processes run on the CPU under --device cpu (see the file).
    "ddp-cpu-2proc.yaml": (DistributedType.MULTI_GPU, 2, 1, "no"),
    "zero2.yaml": (DistributedType.DEEPSPEED, 8, 1, "bf16"),
    "zero3.yaml": (DistributedType.DEEPSPEED, 8, 1, "bf16"),
    "fsdp.yaml": (DistributedType.FSDP, 8, 1, "bf16"),
}


def test_every_shipped_config_is_listed():
    assert sorted(p.name for p in CONFIG_DIR.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_config_parses_with_accelerate(name):
    cfg = load_config_from_file(str(CONFIG_DIR / name))
    assert isinstance(cfg, ClusterConfig)
    # ClusterConfig.from_yaml_file is what load_config_from_file calls; read directly too
    assert ClusterConfig.from_yaml_file(str(CONFIG_DIR / name)).to_dict() == cfg.to_dict()
    dist, nproc, nmach, mp = EXPECTED[name]
    assert cfg.distributed_type == dist
    assert (cfg.num_processes, cfg.num_machines, str(cfg.mixed_precision)) == (nproc, nmach, mp)
    assert cfg.use_cpu is False  # use_cpu would make accelerate pick its single-process launcher


def test_deepspeed_stages():
    assert load_config_from_file(str(CONFIG_DIR / "zero2.yaml")).deepspeed_config["zero_stage"] == 2
    z3 = load_config_from_file(str(CONFIG_DIR / "zero3.yaml")).deepspeed_config
    assert z3["zero_stage"] == 3 and z3["zero3_init_flag"] is True


def test_fsdp_is_full_shard_v2():
    fsdp = load_config_from_file(str(CONFIG_DIR / "fsdp.yaml")).fsdp_config
    assert fsdp["fsdp_version"] == 2 and fsdp["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"


def test_multinode_names_the_fields_to_fill():
    text = (CONFIG_DIR / "ddp-multinode.yaml").read_text(encoding="utf-8")
    cfg = load_config_from_file(str(CONFIG_DIR / "ddp-multinode.yaml"))
    assert cfg.main_process_ip and cfg.main_process_port
    for field in ("machine_rank", "main_process_ip", "main_process_port", "num_machines", "num_processes"):
        line = next(ln for ln in text.splitlines() if ln.startswith(field + ":"))
        assert "FILL IN" in line, field
