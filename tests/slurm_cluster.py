"""A real one-node SLURM cluster on localhost, started and stopped by the test suite.

Used by tests/test_slurm.py. Needs root: it starts ``munged`` (with its own key and socket in a
temporary folder), ``slurmctld`` and ``slurmd`` (in the foreground, so the test owns their
processes), writes ``/etc/slurm/slurm.conf`` (the only place the ``srun`` that
snakemake-executor-plugin-slurm runs inside each job looks: the plugin strips every ``SLURM_*``
variable, ``SLURM_CONF`` included, before calling ``srun``), and removes all of it again.

The node advertises two fake GPUs (GRES ``gpu`` without device files), so GPU requests are
scheduled and visible to the job, which lets a test prove how many processes a multi-GPU job
starts. No accounting database: status queries go through ``squeue``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SLURM_ETC = Path("/etc/slurm")
MARKER = "# written by isoclr tests/slurm_cluster.py; removed when the test cluster stops"
LOCK = Path(tempfile.gettempdir()) / "isoclr-slurm-test.lock"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "srun")


class ClusterUnavailable(RuntimeError):
    """The cluster cannot be started here; the message says why (used as the skip reason)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ensure_installed() -> None:
    """Install Debian's slurm-wlm and munge when missing (root with apt-get only)."""
    missing = [d for d in DAEMONS if shutil.which(d) is None and not Path("/usr/sbin", d).exists()]
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ClusterUnavailable(
            f"SLURM/munge programs missing ({', '.join(missing)}) and cannot install them "
            "(needs root and apt-get: apt-get install slurm-wlm munge)"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "slurm-wlm", "munge"]
    if subprocess.run(cmd, check=False, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], check=False, env=env, capture_output=True)
        done = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            raise ClusterUnavailable(
                f"apt-get install slurm-wlm munge failed: {done.stderr[-500:]}"
            )


def _which(name: str) -> str:
    path = shutil.which(name) or str(Path("/usr/sbin", name))
    if not Path(path).exists():
        raise ClusterUnavailable(f"{name} not found")
    return path


@dataclass
class SlurmCluster:
    """Handles of a running test cluster."""

    root: Path
    cpus: int
    memory_mb: int
    gpus: int
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def slurmctld_log(self) -> Path:
        return self.root / "log" / "slurmctld.log"

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld still knows (finished ones too: MinJobAge is an hour), as the
        key=value fields of `scontrol show job --oneliner` (JobId, JobName, JobState, Comment,
        NumCPUs, TRES (allocated, with gres/gpu=N for GPU jobs), TresPerJob, ...)."""
        out = subprocess.run(
            ["scontrol", "show", "job", "--oneliner"], check=False, capture_output=True, text=True
        ).stdout
        jobs = []
        for line in out.splitlines():
            fields = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if "JobId" in fields:
                jobs.append(fields)
        return jobs


def _write_config(root: Path, cpus: int, memory_mb: int, gpus: int) -> None:
    socket_path = root / "munge" / "munge.socket"
    gres_types = "GresTypes=gpu\n" if gpus else ""
    node_gres = f" Gres=gpu:{gpus}" if gpus else ""
    conf = f"""{MARKER}
ClusterName=isoclrtest
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={socket_path}
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups: plain process tracking, no task confinement
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# no accounting database: sacct cannot answer, jobs are followed with squeue
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
# trust the node sizes written below, not what the machine has (jobs may oversubscribe it)
SlurmdParameters=config_overrides
# finished jobs stay visible to squeue for an hour (status checks and the test's asserts)
MinJobAge=3600
{gres_types}NodeName=localhost NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={memory_mb}{node_gres} State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
    (SLURM_ETC / "slurm.conf").write_text(conf)
    # Slurm reads cgroup.conf next to slurm.conf; nothing is constrained.
    (SLURM_ETC / "cgroup.conf").write_text(
        f"{MARKER}\nConstrainCores=no\nConstrainRAMSpace=no\nConstrainDevices=no\n"
    )
    if gpus:
        # Fake GPUs: empty files stand in for /dev/nvidiaN; scheduled, counted and handed to
        # the job as CUDA_VISIBLE_DEVICES, with nothing to compute on.
        lines = []
        for i in range(gpus):
            (root / "run" / f"fakegpu{i}").touch()
            lines.append(f"NodeName=localhost Name=gpu File={root / 'run' / f'fakegpu{i}'}")
        (SLURM_ETC / "gres.conf").write_text("\n".join([MARKER, *lines]) + "\n")


def _ours_or_absent(path: Path) -> bool:
    return not path.exists() or path.read_text(errors="replace").startswith(MARKER)


def _remove_config() -> None:
    for name in ("slurm.conf", "cgroup.conf", "gres.conf"):
        path = SLURM_ETC / name
        if path.exists() and _ours_or_absent(path):
            path.unlink()


def _stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def _wait_idle(timeout: float, procs: dict[str, subprocess.Popen], root: Path) -> None:
    deadline = time.monotonic() + timeout
    state = ""
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                log = root / "log" / f"{name}.log"
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")
        done = subprocess.run(
            ["sinfo", "--noheader", "--format=%T"], check=False, capture_output=True, text=True
        )
        state = done.stdout.strip()
        if done.returncode == 0 and state == "idle":
            return
        if state in ("inval", "drain", "drained", "down"):
            break  # a configuration the node rejects: no point waiting
        time.sleep(0.2)
    logs = "".join(
        f"\n--- {name}.log:\n" + (root / "log" / f"{name}.log").read_text(errors="replace")[-1500:]
        for name in procs
        if (root / "log" / f"{name}.log").exists()
    )
    raise RuntimeError(
        f"the test node did not become idle in {timeout:.0f} s (sinfo: {state!r}){logs}"
    )


def _pids(name: str) -> list[int]:
    done = subprocess.run(["pgrep", "-x", name], check=False, capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()]


def _cancel_jobs(timeout: float = 20) -> None:
    """Cancel every job still queued or running and wait for them to end."""
    subprocess.run(["scancel", "--full", "--state=PENDING"], check=False, capture_output=True)
    subprocess.run(["scancel", "--full", "--state=RUNNING"], check=False, capture_output=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = subprocess.run(
            ["squeue", "--noheader", "--states=PENDING,RUNNING,COMPLETING"],
            check=False,
            capture_output=True,
            text=True,
        )
        if done.returncode != 0 or not done.stdout.strip():
            return
        time.sleep(0.5)


@contextlib.contextmanager
def local_slurm(cpus: int = 2, memory_mb: int = 4000, gpus: int = 2) -> Iterator[SlurmCluster]:
    """Start munged, slurmctld and slurmd for a one-node cluster; stop them all on exit.

    Raises ClusterUnavailable (a reason to skip) when not root, when programs are missing and
    cannot be installed, or when /etc/slurm/slurm.conf belongs to a real cluster.
    """
    if os.geteuid() != 0:
        raise ClusterUnavailable(
            "starting munged/slurmctld/slurmd and writing /etc/slurm/slurm.conf needs root "
            "(CI runs as root)"
        )
    ensure_installed()
    SLURM_ETC.mkdir(parents=True, exist_ok=True)
    with open(LOCK, "w") as lock:
        # One test cluster per machine at a time (fixed config path); wait for another run.
        deadline = time.monotonic() + 900
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ClusterUnavailable("another test cluster held the lock for 15 min")
                time.sleep(1)
        for name in ("slurm.conf", "cgroup.conf", "gres.conf"):
            if not _ours_or_absent(SLURM_ETC / name):
                raise ClusterUnavailable(
                    f"{SLURM_ETC / name} exists and was not written by this test: refusing to "
                    "replace a real cluster's configuration"
                )
        # munged insists that every folder on the socket's path is world-searchable
        root = Path(tempfile.mkdtemp(prefix="isoclr-slurm-", dir="/tmp"))
        root.chmod(0o755)
        for sub in ("munge", "state", "spool", "log", "run"):
            (root / sub).mkdir(mode=0o755)
        key = root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
        cluster = SlurmCluster(root, cpus, memory_mb, gpus)
        steps_before = set(_pids("slurmstepd"))
        munge_socket = root / "munge" / "munge.socket"
        munged_started = False
        env = {k: v for k, v in os.environ.items() if not k.startswith("SLURM_")}
        try:
            _write_config(root, cpus, memory_mb, gpus)
            subprocess.run(
                [
                    _which("munged"),
                    f"--socket={munge_socket}",
                    f"--key-file={key}",
                    f"--pid-file={root / 'munge' / 'munged.pid'}",
                    f"--log-file={root / 'log' / 'munged.log'}",
                    f"--seed-file={root / 'munge' / 'munged.seed'}",
                ],
                check=True,
                capture_output=True,
            )
            munged_started = True
            for name, args in (
                ("slurmctld", ["-D", "-i"]),  # -i: ignore state files of an earlier run
                ("slurmd", ["-D", "-N", "localhost"]),
            ):
                with open(root / "log" / f"{name}.stdout", "w") as out:
                    cluster.procs[name] = subprocess.Popen(
                        [_which(name), *args], stdout=out, stderr=subprocess.STDOUT, env=env
                    )
            _wait_idle(60, cluster.procs, root)
            yield cluster
        finally:
            if cluster.procs:
                _cancel_jobs()
            for name in ("slurmd", "slurmctld"):
                if name in cluster.procs:
                    _stop(cluster.procs[name])
            if munged_started:
                subprocess.run(
                    [_which("munged"), f"--socket={munge_socket}", "--stop"],
                    check=False,
                    capture_output=True,
                )
            # job steps whose slurmd is gone linger; end those this cluster started
            for pid in set(_pids("slurmstepd")) - steps_before:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 9)
            _remove_config()
            shutil.rmtree(root, ignore_errors=True)
