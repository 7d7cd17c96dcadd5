"""Prompt audio for synthesis: any rate and channel count in, 24 kHz mono out, bad prompts named."""
import numpy as np
import pytest
import soundfile as sf

from valle.infer.prompt import PromptError, load_prompt_audio


def tone(seconds, rate, channels=1, amplitude=0.3):
    t = np.arange(int(seconds * rate)) / rate
    x = amplitude * np.sin(2 * np.pi * 220 * t)
    return np.stack([x, -0.5 * x], axis=1) if channels == 2 else x


@pytest.mark.parametrize("rate,channels,fmt", [(44100, 2, "wav"), (16000, 1, "flac"), (24000, 1, "wav")])
def test_any_rate_and_channels_become_24k_mono(tmp_path, rate, channels, fmt):
    path = tmp_path / f"p.{fmt}"
    sf.write(path, tone(3.0, rate, channels), rate)
    audio = load_prompt_audio(path)
    assert audio.ndim == 1 and audio.dtype == np.float32
    assert abs(len(audio) - 3.0 * 24000) <= 2
    expected_peak = 0.3 * (0.25 if channels == 2 else 1.0)   # stereo: (x - 0.5x) / 2 averaged
    assert abs(np.abs(audio).max() - expected_peak) < 0.02


@pytest.mark.parametrize("make,message", [
    (lambda p: sf.write(p, tone(0.4, 24000), 24000), r"too short: 0\.40 s"),
    (lambda p: sf.write(p, tone(25.0, 16000), 16000), r"too long: 25\.0 s"),
    (lambda p: sf.write(p, np.zeros(48000), 24000), "silent"),
    (lambda p: p.write_bytes(b"RIFF not really a wav file"), "cannot be read"),
])
def test_bad_prompts_are_named(tmp_path, make, message):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(PromptError, match=message):
        load_prompt_audio(path)


def test_missing_prompt(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_prompt_audio(tmp_path / "nope.wav")
