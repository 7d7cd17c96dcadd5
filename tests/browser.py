"""Headless Chromium for the browser tests: Debian's chromium + chromedriver (installed with apt-get when missing
and the tests run as root), driven by selenium. Nothing is downloaded by the driver: it is pointed at them."""
from pathlib import Path
from typing import Optional

from system_packages import apt_install_reason

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def install_reason() -> Optional[str]:
    """None when Chromium and its driver are usable here (installing them if needed), else why not."""
    return apt_install_reason("Chromium", ["chromium", "chromium-driver"],
                              lambda: Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists())


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
