import sys; from pathlib import Path  # noqa: E702
sys.path.insert(0, str(Path(snakemake.scriptdir).resolve().parents[1] / "src"))  # noqa: F821

import os  # noqa: E402
import subprocess  # noqa: E402

import yaml  # noqa: E402

from isoclr.core.logs import job_log  # noqa: E402
from isoclr.pretrain.loop import pretrain  # noqa: E402
from isoclr.config.settings.pretrain import PretrainSettings  # noqa: E402

sm = snakemake  # noqa: F821
job_log(sm, "pre-train one encoder")  # noqa: F821
os.environ["ISOCLR_PROGRESS_BAR"] = "0"  # progress lines in the log in every launch mode, no bar
# Every setting comes from the rule's params (never the whole config), the data from its inputs.
s = PretrainSettings.from_params(
    sm.params.settings, sets=sm.input.sets, splits=sm.input.splits,
    stores=dict(zip(sm.params.species, sm.input.stores)), threads=sm.threads,
)
out = Path(sm.output.checkpoint).parent
# The number of processes is the job's GPU resource (config pretrain.gpus, or a
# resources/--set-resources override), so SLURM allocates exactly the GPUs torchrun uses.
gpus = int(getattr(sm.resources, "gpu", 0) or 0)
if gpus > 1:
    # One process per GPU (DDP, synced BN); every process reads the same resolved settings.
    out.mkdir(parents=True, exist_ok=True)
    launch = out / "launch.yaml"
    launch.write_text(yaml.safe_dump(s.to_params(), sort_keys=False))
    cmd = ["torchrun", "--standalone", f"--nproc_per_node={gpus}", "-m", "isoclr.cli",
           "pretrain", "--config", str(launch), "--out", str(out), "--resume"]
    env = dict(os.environ, PYTHONPATH=str(Path(sm.scriptdir).resolve().parents[1] / "src"))
    with open(sm.log[0], "a") as log_fh:
        subprocess.run(cmd, check=True, stdout=log_fh, stderr=subprocess.STDOUT, env=env)
else:
    # resume=True: a pre-empted job continues from its last checkpoint (exactly), if it is of
    # the same run (settings and data); otherwise it starts fresh and logs why.
    pretrain(s, out, resume=True)
