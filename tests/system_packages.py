"""System packages the tests need from Debian (Slurm, Chromium): installed with apt-get when missing and the
tests run as root; otherwise the reason, for a skip that says why."""
import os
import shutil
import subprocess
from typing import Callable, Optional, Sequence


def apt_install_reason(what: str, packages: Sequence[str], present: Callable[[], bool]) -> Optional[str]:
    """None when ``present()`` (after installing ``packages`` if needed), else why ``what`` cannot be had."""
    if present():
        return None
    cmd = f"apt-get install -y -q {' '.join(packages)}"
    if os.geteuid() != 0:
        return f"{what} is not installed and installing it needs root ({cmd})"
    if not shutil.which("apt-get"):
        return f"{what} is not installed and there is no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, env=env)
    if r.returncode != 0:  # a stale package index: refresh it once
        r = subprocess.run(f"apt-get update -q && {cmd}", shell=True, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return f"{cmd} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}"
    return None if present() else f"{cmd} ran, but {what} is still missing"
