"""Streaming synthesis (issue 19, part 2): ``Synthesizer.stream``, ``StreamingDecoder`` over EnCodec, the NAR over
chunks, and ``valle.bin.synthesize --stream``.

What streaming may change, and by how much (README, 'Streaming synthesis'):
- codebook 1: nothing. The AR model samples the very same codes, step for step.
- codebooks 2-8: the NAR decides a chunk's codes having seen ``nar_lookahead`` frames after it, not the whole
  utterance. On a model that has learnt its task the codes must agree with one pass on >= 95 % of frames.
- the codec: EnCodec is causal, so a chunk decoded after ``context`` frames of left context is the one-pass audio up
  to the LSTM's state: >= 60 dB SNR against one pass is required (random weights give ~130 dB, float rounding).
  mel_rvq's Griffin-Lim is tested in test_codec.py (the spectrogram, not the samples).
"""
import logging

import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import make_random_recipe
from trained_small import trained_small_models
from valle.bin.synthesize import main
from valle.codec.encodec import Codec, CodecInfo, new_model
from valle.codec.stream import StreamingDecoder
from valle.infer.config import DecodeConfig, SamplingConfig, StreamConfig
from valle.infer.decode import generate_nar
from valle.infer.synthesize import Request, Synthesizer


def snr_db(reference: np.ndarray, other: np.ndarray) -> float:
    return float(10 * np.log10((reference ** 2).sum() / max(((reference - other) ** 2).sum(), 1e-30)))


@pytest.fixture(scope="module")
def recipe(tmp_path_factory):
    return make_random_recipe(tmp_path_factory.mktemp("stream"))


@pytest.fixture(scope="module")
def synth(recipe):
    decode = DecodeConfig(sampling=SamplingConfig(top_k=20), max_frames_per_phone=6)
    return Synthesizer(recipe / "exp" / "ar" / "model.pt", recipe / "exp" / "nar" / "model.pt",
                       recipe / "data" / "tokens" / "codec.pt", recipe / "data" / "lang", decode=decode)


def pushed(decoder: StreamingDecoder, codes: np.ndarray, sizes) -> list:
    """The audio of each push of ``codes`` in chunks of ``sizes`` (then the rest, final)."""
    out, i = [], 0
    for n in sizes:
        out.append(decoder.push(codes[i:i + n]))
        i += n
    out.append(decoder.push(codes[i:], final=True))
    return out


def test_encodec_streamed_decoding_is_the_one_pass_audio():
    torch.manual_seed(0)
    codec = Codec(new_model(), CodecInfo(False, "random init (test)", 6.0, 8))
    codes = np.random.default_rng(0).integers(0, 1024, (120, 8))
    one_pass = codec.decode(codes)
    for sizes in ([15, 30, 60], [1] * 20 + [7], [0, 119]):
        parts = pushed(StreamingDecoder(codec), codes, sizes)
        assert [len(p) for p in parts[:len(sizes)]] == [320 * n for n in sizes]   # causal: no lookahead
        streamed = np.concatenate(parts)
        assert len(streamed) == len(one_pass)
        assert snr_db(one_pass, streamed) >= 60
    # Without left context the LSTM and the convolutions start from nothing at every chunk: the joins show.
    assert snr_db(one_pass, np.concatenate(pushed(StreamingDecoder(codec, context=0), codes, [15, 30, 60]))) < 60
    decoder = StreamingDecoder(codec)
    decoder.push(codes[:10], final=True)
    with pytest.raises(RuntimeError, match="after the final push"):
        decoder.push(codes[10:])


def test_stream_speaks_the_synthesized_codes_in_chunks(synth, recipe):
    """The AR codes are synthesize()'s exactly; chunks come as configured (15, 30, then the rest); the codebooks
    2-8 of the random NAR agree on nearly all frames (its attention is diffuse: a few frames flip); the audio has
    the length of one pass."""
    request = Request("hello cat, world, hello cat", recipe / "prompt.wav", "hello world")
    reference = synth.synthesize([request])[0]
    chunks = list(synth.stream(request, StreamConfig(first_frames=15, max_frames=30, nar_lookahead=4)))
    sizes = [len(c.codes) for c in chunks]
    assert len(reference.codes) > 60, "too short to stream in several chunks"
    assert sizes[:-1] == [15] + [30] * (len(sizes) - 2) and 0 < sizes[-1] <= 30 + 4
    assert [c.final for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert chunks[-1].hit_eos == reference.hit_eos and all(c.hit_eos is None for c in chunks[:-1])
    codes = np.concatenate([c.codes for c in chunks])
    assert np.array_equal(codes[:, 0], reference.codes[:, 0])
    assert (codes == reference.codes).all(axis=1).mean() >= 0.9
    audio = np.concatenate([c.audio for c in chunks])
    assert len(audio) == len(reference.audio) == 320 * len(codes)
    # With a lookahead past the end, nothing is handed on before the AR ends: one chunk, one pass's very output.
    whole = list(synth.stream(request, StreamConfig(nar_lookahead=10 ** 6)))
    assert len(whole) == 1 and np.array_equal(whole[0].codes, reference.codes)
    assert snr_db(reference.audio, whole[0].audio) >= 60


def test_stream_continuation_keeps_the_prompt_and_long_text_goes_piece_by_piece(synth, recipe):
    request = Request("world cat", recipe / "prompt.wav", "hello world", mode="continuation", keep_prompt=True)
    reference = synth.synthesize([request])[0]
    chunks = list(synth.stream(request))
    assert len(chunks[0].codes) == 0 and len(chunks[0].audio) > 0          # the prompt's audio comes first
    audio = np.concatenate([c.audio for c in chunks])
    assert len(audio) == len(reference.audio)
    assert np.array_equal(np.concatenate([c.codes for c in chunks])[:, 0], reference.codes[:, 0])
    synth.max_phones, saved = 18, synth.max_phones       # 4 pieces, as in test_synthesize's long-text test
    try:
        long = Request("hello cat. world cat. hello world cat.", recipe / "prompt.wav", "hello world")
        reference = synth.synthesize([long])[0]
        chunks = list(synth.stream(long))
    finally:
        synth.max_phones = saved
    assert reference.num_pieces > 1 and sorted({c.piece for c in chunks}) == list(range(reference.num_pieces))
    assert sum(len(c.audio) for c in chunks) == len(reference.audio)


def test_nar_over_chunks_agrees_with_one_pass_on_a_trained_model():
    """The streaming NAR (each chunk's codebooks decided seeing the frames so far plus the lookahead; earlier chunks'
    codes kept) against one pass over the whole utterance, on the small NAR trained on its task: >= 95 % of the
    frames equal with 2 frames of lookahead, all of them when every frame is seen."""
    _, nar, (text, tl, codes, cl) = trained_small_models()
    prompt, pl, target = codes[:, :6], torch.full((12,), 6), codes[:, 6:]
    T = target.shape[1]
    one_pass = generate_nar(nar, text, tl, prompt, pl, target[..., 0], cl - 6)
    for lookahead, required in ((2, 0.95), (T, 1.0)):
        known = target[:, :0]
        for end in range(3, T + 3, 3):                      # chunks of 3 frames
            seen = min(end + lookahead, T)
            out = generate_nar(nar, text, tl, prompt, pl, target[:, :seen, 0], torch.full((12,), seen),
                               known=known)
            known = out[:, :min(end, T)]
        assert torch.equal(known[..., 0], target[..., 0])   # codebook 1 is the input's
        assert (known == one_pass).all(-1).float().mean() >= required


def test_cli_stream_writes_the_wav_and_raw_pcm_to_stdout(recipe, tmp_path, capsysbinary, caplog):
    caplog.set_level(logging.INFO)
    args = ["--exp-dir", str(recipe / "exp"), "--data-dir", str(recipe / "data"), "--prompt-audio",
            str(recipe / "prompt.wav"), "--prompt-text", "hello world", "--text", "hello cat, world", "--top-k", "20",
            "--max-frames-per-phone", "6"]
    main(args + ["--out", str(tmp_path / "one.wav")])
    main(args + ["--out", str(tmp_path / "streamed.wav"), "--stream", "--stream-first-frames", "10"])
    one, rate = sf.read(tmp_path / "one.wav")
    streamed, _ = sf.read(tmp_path / "streamed.wav")
    assert rate == 24000 and len(streamed) == len(one)
    assert "first audio after" in caplog.text
    capsysbinary.readouterr()
    main(args + ["--out", "-", "--stream"])
    pcm = np.frombuffer(capsysbinary.readouterr().out, dtype="<i2")
    assert len(pcm) == len(streamed) and np.abs(pcm / 32768 - streamed).max() <= 2 / 32768   # 16-bit, both
    with pytest.raises(SystemExit):
        main(args + ["--batch", str(tmp_path / "lines.txt"), "--out-dir", str(tmp_path), "--stream"])
    # Bad input: the one-line error and exit 1 of one-pass synthesis, and no partial wav left behind.
    bad = [a if a != "hello cat, world" else "hello 世界" for a in args]
    with pytest.raises(SystemExit) as exit_:
        main(bad + ["--out", str(tmp_path / "bad.wav"), "--stream"])
    assert exit_.value.code == 1 and "cannot read" in caplog.text and not (tmp_path / "bad.wav").exists()


def test_stream_clock_first_audio_and_stall(monkeypatch):
    """Chunks of 1 s at 0.5 s (the first), 1.0 s and 3.0 s after the call: playback from 0.5 s would wait at 3.0 s
    for 0.5 s (2 s of audio played by 2.5 s), so the stall is 0.5 s; an empty chunk changes nothing."""
    import valle.infer.synthesize as synthesize
    now = [10.0]
    monkeypatch.setattr(synthesize.time, "perf_counter", lambda: now[0])
    clock = synthesize.StreamClock()
    second = np.zeros(24000, np.float32)
    for t, audio in ((0.5, second), (1.0, second), (2.0, second[:0]), (3.0, second)):
        now[0] = 10.0 + t
        clock.add(audio)
    assert clock.first_s == 0.5 and clock.stall_s == 0.5 and clock.samples == 3 * 24000
