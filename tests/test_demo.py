"""The web demo (python -m valle.bin.demo): its request checks without a browser, and the page itself in headless
Chromium against a server started on a free loopback port."""
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, make_random_recipe


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return make_random_recipe(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def session(recipe, tmp_path_factory):
    from valle.bin.demo import DemoSession
    from valle.infer.synthesize import Synthesizer

    synth = Synthesizer(recipe / "exp" / "ar" / "model.pt", recipe / "exp" / "nar" / "model.pt",
                        recipe / "data" / "tokens" / "codec.pt", recipe / "data" / "lang")
    return DemoSession(synth, tmp_path_factory.mktemp("demo_out"))


def test_a_request_returns_audio_phones_and_codes(session, recipe):
    out = session.run("hello cat, world", str(recipe / "prompt.wav"), "hello world", "cross", top_k=20)
    audio, rate = sf.read(out.wav)
    assert rate == 24000 and len(audio) == 320 * len(out.codes) and out.codes.shape[1] == 8
    assert out.wav.parent == session.out_dir
    assert out.phones == "prompt: SIL h ə l oʊ w ɜː l d SIL\ntext:   SIL h ə l oʊ k æ t SIL w ɜː l d SIL"
    assert re.match(rf"{len(audio) / 24000:.2f} s of audio in [\d.]+ s \(real-time factor [\d.]+\); "
                    rf"{len(out.codes)} frames for 12 phones", out.info)
    again = session.run("hello cat, world", str(recipe / "prompt.wav"), "hello world", "cross", top_k=20)
    assert np.array_equal(sf.read(again.wav)[0], audio)  # seed 0 by default: the same audio


@pytest.mark.parametrize("text,prompt,prompt_text,message", [
    ("", "prompt.wav", "hello", "the text is empty"),
    ("hello", None, "hello", "no prompt audio"),
    ("hello", "prompt.wav", "  ", "the prompt's transcript is empty"),
    ("hello 世界", "prompt.wav", "hello", "characters the text front end cannot read: '世', '界'"),
    ("hello", "silent.wav", "hello", "is silent"),
    ("hello", "long.wav", "hello", "is too long"),
    ("hello", "notaudio.wav", "hello", "notaudio.wav"),
])
def test_bad_input_is_one_clear_message(session, recipe, tmp_path, text, prompt, prompt_text, message):
    from valle.bin.demo import DemoError

    sf.write(tmp_path / "silent.wav", np.zeros(48000, np.float32), 16000)
    sf.write(tmp_path / "long.wav", 0.1 * np.random.default_rng(0).normal(size=16000 * 25), 16000)
    (tmp_path / "notaudio.wav").write_text("not audio")
    path = None if prompt is None else str(recipe / prompt if prompt == "prompt.wav" else tmp_path / prompt)
    before = session.synth.decode
    with pytest.raises(DemoError, match=re.escape(message)):
        session.run(text, path, prompt_text, "cross", temperature=0.5)
    assert session.synth.decode is before  # the page's sampling options never outlive their request


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.e2e
def test_the_page_in_a_real_browser(recipe, tmp_path):
    """Start the demo on a free loopback port, submit text + a prompt file in headless Chromium, wait for the
    output audio, download it and check it; then one bad input, shown as a message without a traceback; then
    stop the server by its pid and check it removed its temporary folder (uploads and outputs)."""
    from browser import headless_chromium, install_reason
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    reason = install_reason()
    if reason:
        pytest.skip(reason)
    port = _free_port()
    log = open(tmp_path / "demo.log", "w")
    server = subprocess.Popen([sys.executable, "-m", "valle.bin.demo", "--exp-dir", str(recipe / "exp"),
                               "--data-dir", str(recipe / "data"), "--port", str(port), "--top-k", "20"],
                              cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    url = f"http://127.0.0.1:{port}/"
    driver = None
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                assert server.poll() is None, (tmp_path / "demo.log").read_text()
                time.sleep(0.5)
        driver = headless_chromium()
        wait = WebDriverWait(driver, 120)
        driver.get(url)
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#prompt_audio input[type=file]"))
        driver.find_element(By.CSS_SELECTOR, "#text textarea").send_keys("hello cat, world")
        driver.find_element(By.CSS_SELECTOR, "#prompt_text textarea").send_keys("hello world")
        driver.find_element(By.CSS_SELECTOR, "#prompt_audio input[type=file]").send_keys(str(recipe / "prompt.wav"))
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#prompt_audio [data-testid=download-link]"))
        driver.find_element(By.CSS_SELECTOR, "#generate").click()
        link = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#output_audio [data-testid=download-link]"))
        href = link[0].get_attribute("href")
        assert href.startswith(f"http://127.0.0.1:{port}/")
        audio, rate = sf.read(io.BytesIO(urllib.request.urlopen(href, timeout=30).read()))
        info = driver.find_element(By.CSS_SELECTOR, "#info textarea").get_attribute("value")
        frames = len(audio) / 320
        # A wav of the length the page reports, within the AR's length guards (12 phones to speak, the pause SIL
        # included; at most 30 frames each).
        assert rate == 24000 and frames == int(frames) and 12 <= frames <= 30 * 12
        assert info.startswith(f"{len(audio) / 24000:.2f} s of audio in ")
        assert "k æ t" in driver.find_element(By.CSS_SELECTOR, "#phones textarea").get_attribute("value")
        temp_root = Path(re.search(r"file=(/.*?/valle_demo_[^/]+)/", href).group(1))
        assert temp_root.is_dir()  # uploads and outputs live under the demo's own temporary folder

        # Bad input: a character the front end cannot read. The page says so; no traceback anywhere.
        text = driver.find_element(By.CSS_SELECTOR, "#text textarea")
        text.clear()
        text.send_keys("hello 世界")
        driver.find_element(By.CSS_SELECTOR, "#generate").click()
        toast = wait.until(lambda d: [t for t in d.find_elements(By.CSS_SELECTOR, "[data-testid=toast-body]")
                                      if "cannot read" in t.text])
        assert "characters the text front end cannot read: '世', '界'" in toast[0].text
        assert "Traceback" not in driver.find_element(By.TAG_NAME, "body").text

        # Uploads are size-limited (--max-upload, 10 MB): a 12 MB prompt is refused by the page.
        big = tmp_path / "big.wav"
        sf.write(big, np.zeros((48000 * 65, 2), np.int16), 48000, subtype="PCM_16")
        assert big.stat().st_size > 12e6
        driver.find_element(By.CSS_SELECTOR, "#prompt_audio button[aria-label*=Clear], "
                                             "#prompt_audio button[title*=Clear]").click()
        driver.find_element(By.CSS_SELECTOR, "#prompt_audio input[type=file]").send_keys(str(big))
        toast = wait.until(lambda d: [t for t in d.find_elements(By.CSS_SELECTOR, "[data-testid=toast-body]")
                                      if "size" in t.text.lower()])
        assert 'exceed the maximum allowed size of 10.0 Mb: "big.wav"' in toast[0].text
        assert not list(temp_root.rglob("big.wav"))
        driver.save_screenshot(str(tmp_path / "page.png"))
    finally:
        if driver is not None:
            driver.quit()
        server.send_signal(signal.SIGTERM)  # the demo closes Gradio, then removes its folder
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    assert "Traceback" not in (tmp_path / "demo.log").read_text()
    assert not temp_root.exists()
