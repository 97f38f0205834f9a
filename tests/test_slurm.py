"""The SLURM profile against a real one-node SLURM cluster (munged + slurmctld + slurmd).

`snakemake --profile slurm` is run exactly as a user types it, from a working copy of the
repository (the profile is the repository's own profiles/slurm, found through the `slurm` link
in the root). A second, test-only profile adds what a laptop cluster needs and nothing else:
no conda (the rules' environments are checked statically in test_envs.py), `squeue` as the
status command (no accounting database), short status-check intervals, no retries.

Skips only where the cluster cannot be started (not root, no apt-get to install slurm-wlm and
munge, or a real /etc/slurm/slurm.conf present); the reason is printed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from slurm_cluster import ClusterUnavailable, SlurmCluster, local_slurm

pytestmark = [pytest.mark.slurm]

REPO = Path(__file__).resolve().parents[1]
PROFILE = REPO / "profiles" / "slurm" / "profile.yaml"

# Test-only settings layered over the repository's profile (`--profile slurm --profile THIS`).
TEST_PROFILE = {
    # no conda on the test machine: env-modules is a no-op for rules without `envmodules:`
    "software-deployment-method": "env-modules",
    "slurm-status-command": "squeue",  # no accounting database, so no sacct
    "slurm-init-seconds-before-status-checks": 1,
    "slurm-keep-successful-logs": True,
    "latency-wait": 10,
    "retries": 0,
    "jobs": 4,
}


@pytest.fixture(scope="module")
def cluster():
    try:
        # The node claims 16 CPUs, 128 GB and 2 (fake) GPUs, whatever the machine has, so the
        # profile's real requests (8 CPUs per GPU, 64 GB for pre-training) can be scheduled.
        with local_slurm(cpus=16, memory_mb=128000, gpus=2) as c:
            yield c
    except ClusterUnavailable as exc:
        pytest.skip(f"no local SLURM cluster: {exc}")


def run_snakemake(workdir: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    override = workdir / ".test-profile"
    override.mkdir(exist_ok=True)
    (override / "profile.yaml").write_text(yaml.safe_dump(TEST_PROFILE))
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
    cmd = [sys.executable, "-m", "snakemake", "--profile", "slurm", "--profile", str(override)]
    return subprocess.run(
        [*cmd, *args],
        check=False,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def jobs_of_run(cluster: SlurmCluster, output: str) -> list[dict[str, str]]:
    """The SLURM jobs one snakemake run submitted (they share its run uuid as job name)."""
    ids = set(re.findall(r"submitted with SLURM jobid (\d+)", output))
    return [j for j in cluster.jobs() if j["JobId"] in ids]


def rules_run(output: str) -> tuple[set[str], set[str]]:
    """(remote rules, local rules) as snakemake printed them."""
    remote = set(re.findall(r"^rule (\w+):", output, re.MULTILINE))
    local = set(re.findall(r"^localrule (\w+):", output, re.MULTILINE)) - {"all"}
    return remote, local


def test_profile_is_found_as_typed():
    """`snakemake --profile slurm` resolves ./slurm (a link to profiles/slurm) from the root."""
    link = REPO / "slurm"
    assert link.is_symlink() and link.resolve() == PROFILE.parent.resolve()
    profile = yaml.safe_load(PROFILE.read_text())
    assert profile["executor"] == "slurm"
    # GPU requests for the GPU rules only, never in the defaults; no `tasks` (task splitting)
    # pre-training; fine-tuning/supervised/Saluki (evaluate_network_head: the same job, keeping its head)
    gpu_rules = {"pretrain", "evaluate_network", "evaluate_network_head"}
    assert "gpu" not in profile["default-resources"]
    assert set(profile["set-resources"]) == gpu_rules
    defined = set()
    for smk in (REPO / "rules").glob("*.smk"):
        defined |= set(re.findall(r"^rule (\w+):", smk.read_text(), re.MULTILINE))
    assert gpu_rules <= defined, f"profile names rules the workflow lacks: {gpu_rules - defined}"
    for rule, res in profile["set-resources"].items():
        assert res["cpus_per_gpu"] >= 1, rule
        assert "tasks" not in res and "tasks_per_gpu" not in res, rule
    # fine-tuning/supervised/Saluki get a GPU on the cluster; pre-training's GPU count is the
    # config's (pretrain.gpus), which also sets torchrun's process count, so it is not overridden
    assert profile["set-resources"]["evaluate_network"]["gpu"] >= 1
    assert profile["set-resources"]["evaluate_network_head"] == profile["set-resources"]["evaluate_network"]
    assert "gpu" not in profile["set-resources"]["pretrain"]


TINY_SNAKEFILE = """
localrules:
    fetch,


rule all:
    input:
        "cpu.txt",
        "pretrain.txt",
        "evaluate_network.txt",
        "multi_gpu.txt",


rule fetch:
    output:
        "fetched.txt",
    shell:
        "hostname > {output}"


rule cpu:
    input:
        "fetched.txt",
    output:
        "cpu.txt",
    threads: 2
    shell:
        "echo job=$SLURM_JOB_ID gpus=${{SLURM_GPUS_ON_NODE:-0}} >> {output}"


rule pretrain:
    output:
        "pretrain.txt",
    resources:
        gpu=1,
    shell:
        "echo job=$SLURM_JOB_ID gpus=${{SLURM_GPUS_ON_NODE:-0}} >> {output}"


rule evaluate_network:
    output:
        "evaluate_network.txt",
    resources:
        gpu=0,
    shell:
        "echo job=$SLURM_JOB_ID gpus=${{SLURM_GPUS_ON_NODE:-0}} >> {output}"


rule multi_gpu:
    output:
        "multi_gpu.txt",
    resources:
        gpu=2,
        cpus_per_gpu=1,
    shell:
        "echo job=$SLURM_JOB_ID gpus=${{SLURM_GPUS_ON_NODE:-0}} >> {output}"
"""


@pytest.mark.slow
def test_profile_on_local_cluster(cluster: SlurmCluster, tmp_path: Path):
    """The repository's profile submits CPU and GPU jobs correctly through sbatch."""
    (tmp_path / "Snakefile").write_text(TINY_SNAKEFILE)
    (tmp_path / "slurm").symlink_to(PROFILE.parent)
    t0 = time.monotonic()
    done = run_snakemake(tmp_path, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    remote, local = rules_run(out)
    assert remote == {"cpu", "pretrain", "evaluate_network", "multi_gpu"} and local == {"fetch"}
    jobs = {j["Comment"]: j for j in jobs_of_run(cluster, out)}
    assert set(jobs) == {"rule_cpu", "rule_pretrain", "rule_evaluate_network", "rule_multi_gpu"}
    assert all(j["JobState"] == "COMPLETED" for j in jobs.values()), jobs
    # the CPU job asked for no GPU and saw none; the GPU jobs got what the profile asked for
    assert "gpu" not in jobs["rule_cpu"].get("TresPerJob", ""), jobs["rule_cpu"]
    assert (tmp_path / "cpu.txt").read_text().split()[1] == "gpus=0"
    assert (tmp_path / "pretrain.txt").read_text().split()[1] == "gpus=1"
    pretrain = jobs["rule_pretrain"]
    assert pretrain["TresPerJob"] == "gres:gpu:1", pretrain
    assert pretrain["CpusPerTres"] == "gres:gpu:4" and pretrain["NumCPUs"] == "4", pretrain
    network = jobs["rule_evaluate_network"]  # the rule asks for no GPU; the profile gives one
    assert network["TresPerJob"] == "gres:gpu:1" and network["CpusPerTres"] == "gres:gpu:4"
    assert (tmp_path / "evaluate_network.txt").read_text().split()[1] == "gpus=1"
    assert jobs["rule_multi_gpu"]["TresPerJob"] == "gres:gpu:2"
    # a 2-GPU job runs ONCE, seeing both GPUs (no --ntasks-per-gpu task splitting)
    lines = (tmp_path / "multi_gpu.txt").read_text().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].split()[1] == "gpus=2"
    print(f"tiny workflow through SLURM in {time.monotonic() - t0:.1f} s: {sorted(jobs)}")


def _copy_repo(dest: Path) -> None:
    skip = {".git", ".venv", "results", "logs", ".snakemake", "benchmarks", ".pytest_cache"}
    for item in REPO.iterdir():
        if item.name in skip or item.name.startswith(".test"):
            continue
        if item.is_symlink():
            (dest / item.name).symlink_to(os.readlink(item))
        elif item.is_dir():
            shutil.copytree(item, dest / item.name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(item, dest / item.name)


def pipeline_targets(workdir: Path) -> list[str]:
    """The demo's data stage and one evaluation job (the cheapest: a random-encoder probe)."""
    targets = ["results/splits/splits.tsv"]
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    evaluation = config.get("evaluation") or {}
    tasks = list(evaluation.get("tasks") or {})
    task = "halflife_human" if "halflife_human" in tasks or not tasks else tasks[0]
    fraction = float((evaluation.get("fractions") or [1.0])[0])
    targets.append(f"results/eval/{task}/random-linear/frac{fraction}/fold0.tsv")
    return targets


@pytest.mark.slow
@pytest.mark.pipeline
def test_demo_through_slurm(cluster: SlurmCluster, tmp_path: Path):
    """The demo's data stage and one evaluation job, through `snakemake --profile slurm`."""
    _copy_repo(tmp_path)
    targets = pipeline_targets(tmp_path)
    t0 = time.monotonic()
    done = run_snakemake(tmp_path, *targets)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    for target in targets:
        assert (tmp_path / target).stat().st_size > 0, target
    remote, local = rules_run(out)
    jobs = jobs_of_run(cluster, out)
    # every non-local job went through sbatch and finished; local rules did not
    submitted = {j["Comment"].split("_wildcards_")[0].removeprefix("rule_") for j in jobs}
    assert submitted == remote, (submitted, remote)
    assert not submitted & local
    assert all(j["JobState"] == "COMPLETED" for j in jobs), jobs
    assert all("gpu" not in j.get("TresPerJob", "") for j in jobs), "a CPU job asked for a GPU"
    # the plugin kept one SLURM log per job (slurm-keep-successful-logs), each a real batch job
    slurm_logs = sorted((tmp_path / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert {p.stem for p in slurm_logs} == {j["JobId"] for j in jobs}
    print(
        f"demo through SLURM in {time.monotonic() - t0:.1f} s: {len(jobs)} sbatch jobs "
        f"({sorted(submitted)}), local: {sorted(local)}"
    )
