"""Headless Chromium for the browser tests: Debian's chromium + chromedriver (installed with apt-get when missing
and the tests run as root), driven by selenium. Nothing is downloaded by the driver: it is pointed at them."""
import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def install_reason() -> Optional[str]:
    """None when Chromium and its driver are usable here (installing them if needed), else why not."""
    if Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists():
        return None
    if os.geteuid() != 0:
        return "Chromium is not installed and installing it needs root (apt-get install chromium chromium-driver)"
    if not shutil.which("apt-get"):
        return "Chromium is not installed and there is no apt-get to install it"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = "apt-get install -y -q chromium chromium-driver"
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        r = subprocess.run(f"apt-get update -q && {cmd}", shell=True, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        return f"{cmd} failed: {(r.stderr or r.stdout).strip().splitlines()[-1:]}"
    return None


def headless_chromium(width: int = 1280, height: int = 1100):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
