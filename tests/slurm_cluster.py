"""A one-node Slurm cluster on this machine for the tests: munged + slurmctld + slurmd, their state, logs and
config in a temporary directory, stopped by pid. Needs root and Debian's ``slurm-wlm munge`` (installed
with apt-get when missing and allowed).

    python tests/slurm_cluster.py DIR      # start one by hand; prints SLURM_CONF, Ctrl-C stops it
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import List, Optional

from system_packages import apt_install_reason

DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def install_reason() -> Optional[str]:
    """None when Slurm and munge are usable here (installing them with apt-get if needed), else why not."""
    return apt_install_reason("Slurm", ["slurm-wlm", "munge"], lambda: all(
        shutil.which(d) or Path(f"/usr/sbin/{d}").exists() for d in DAEMONS))


class SlurmCluster:
    """Start with ``start()``; ``env`` is what a client (sbatch, utils/slurm.pl) needs; ``stop()`` kills the
    daemons this object started, by pid."""

    def __init__(self, work_dir: Path):
        self.dir = Path(work_dir)
        self.conf = self.dir / "slurm.conf"
        self.procs: List[subprocess.Popen] = []
        # munged runs as user munge, which may not enter the (private) test directory: its files go elsewhere.
        self.munge_dir = Path(tempfile.mkdtemp(prefix="valle-munge-"))
        self.munge_socket = self.munge_dir / "munge.socket"
        self.env = {**os.environ, "SLURM_CONF": str(self.conf)}

    def _write_conf(self) -> None:
        host = socket.gethostname().split(".")[0]
        mem_mb = 1024
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    mem_mb = int(line.split()[1]) // 1024 // 2
        for d in ("state", "spool", "log"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        self.conf.write_text("\n".join([
            "ClusterName=vallecitest",
            f"SlurmctldHost={host}",
            f"SlurmctldPort={_free_port()}",
            f"SlurmdPort={_free_port()}",
            "SlurmUser=root",
            "SlurmdUser=root",
            "AuthType=auth/munge",
            f"AuthInfo=socket={self.munge_socket}",
            "ProctrackType=proctrack/linuxproc",
            "TaskPlugin=task/none",
            "MpiDefault=none",
            "ReturnToService=2",
            "SchedulerType=sched/backfill",
            "SelectType=select/cons_tres",
            "SelectTypeParameters=CR_Core",
            "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            f"StateSaveLocation={self.dir / 'state'}",
            f"SlurmdSpoolDir={self.dir / 'spool'}",
            f"SlurmctldPidFile={self.dir / 'slurmctld.pid'}",
            f"SlurmdPidFile={self.dir / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.dir / 'log' / 'slurmctld.log'}",
            f"SlurmdLogFile={self.dir / 'log' / 'slurmd.log'}",
            "SlurmctldTimeout=30",
            "SlurmdTimeout=30",
            "InactiveLimit=0",
            "MinJobAge=30",
            f"NodeName={host} CPUs={os.cpu_count() or 1} RealMemory={mem_mb} State=UNKNOWN",
            "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
        ]) + "\n")

    def start(self, timeout: float = 60.0) -> "SlurmCluster":
        import pwd

        self._write_conf()
        munge_dir = self.munge_dir
        munge = pwd.getpwnam("munge")
        os.chown(munge_dir, munge.pw_uid, munge.pw_gid)
        os.chmod(munge_dir, 0o755)
        key = Path("/etc/munge/munge.key")
        if not key.exists():
            key.write_bytes(os.urandom(1024))
        os.chown(key, munge.pw_uid, munge.pw_gid)
        os.chmod(key, 0o400)
        log = self.dir / "log"
        self.procs.append(subprocess.Popen(  # as user munge, which it insists on; its pid is munged's own
            ["/usr/sbin/munged", "--foreground", f"--socket={self.munge_socket}",
             f"--pid-file={munge_dir / 'munged.pid'}", f"--log-file={munge_dir / 'munged.log'}",
             f"--seed-file={munge_dir / 'munged.seed'}"], user=munge.pw_uid, group=munge.pw_gid,
            stdout=subprocess.DEVNULL, stderr=open(log / "munged.err", "w")))
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged did not create its socket")
        for daemon in ("slurmctld", "slurmd"):
            self.procs.append(subprocess.Popen([f"/usr/sbin/{daemon}", "-D", "-f", str(self.conf)], env=self.env,
                                               stdout=subprocess.DEVNULL, stderr=open(log / f"{daemon}.err", "w")))
        self._wait(self._node_idle, timeout, "the node did not become idle")
        return self

    def _node_idle(self) -> bool:
        for p in self.procs:
            if p.poll() is not None:
                raise RuntimeError(f"{p.args[0]} exited with {p.returncode}; logs under {self.dir / 'log'}:\n"
                                   + self.logs())
        r = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, env=self.env)
        return r.returncode == 0 and r.stdout.strip() == "idle"

    def _wait(self, ready, timeout: float, what: str) -> None:
        end = time.time() + timeout
        while time.time() < end:
            if ready():
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"{what} within {timeout:.0f} s; logs under {self.dir / 'log'}:\n{self.logs()}")

    def logs(self) -> str:
        out = []
        for f in sorted((self.dir / "log").glob("*")):
            text = f.read_text(errors="replace").strip().splitlines()[-15:]
            if text:
                out.append(f"--- {f.name}\n" + "\n".join(text))
        return "\n".join(out)

    def stop(self) -> None:
        """Terminate the daemons this object started, by pid, newest first."""
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in reversed(self.procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs.clear()
        shutil.rmtree(self.munge_dir, ignore_errors=True)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    reason = install_reason()
    if reason:
        sys.exit(reason)
    cluster = SlurmCluster(Path(sys.argv[1]).resolve()).start()
    print(f"export SLURM_CONF={cluster.conf}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        cluster.stop()
