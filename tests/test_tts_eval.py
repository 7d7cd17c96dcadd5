"""Stage-7 pieces on their own: the test list (the paper's protocol), repetition detection, per-system
metrics, and the phone recognizer built from the stage-3 models (on the shared tiny recipe)."""
import gzip
import json

import numpy as np
import pytest
from lhotse import MonoCut, Recording, SupervisionSegment
from lhotse.supervision import AlignmentItem

from valle.eval.config import TestListConfig
from valle.eval.test_list import build_test_list, word_prompt
from valle.eval.tts_metrics import has_repetition, summarize_system, tandem_repeats, utterance_metrics


def cut(uid, spk, duration, words):
    """A cut whose supervision has word alignments: words = [(word, start, end)]."""
    rec = Recording(id=uid, sources=[], sampling_rate=16000, num_samples=int(duration * 16000), duration=duration)
    ali = {"word": [AlignmentItem(w, s, round(e - s, 4)) for w, s, e in words]}
    sup = SupervisionSegment(id=uid, recording_id=uid, start=0.0, duration=duration, speaker=spk,
                             text=" ".join(w for w, _, _ in words), alignment=ali)
    return MonoCut(id=uid, start=0.0, duration=duration, channel=0, recording=rec, supervisions=[sup])


def words_every(n, step=0.5, start=0.2):
    return [(f"W{i}", round(start + i * step, 3), round(start + (i + 1) * step - 0.05, 3)) for i in range(n)]


def test_word_prompt_takes_whole_words_within_the_prompt_length():
    words = [("A", 0.3, 0.9), ("B", 1.0, 1.9), ("C", 2.0, 3.2), ("D", 3.4, 4.0)]
    assert word_prompt(words, 3.0) == (0.3, 3.2, "A B C")       # C ends 2.9 s after A starts
    assert word_prompt(words, 2.0) == (0.3, 1.9, "A B")
    assert word_prompt(words[:1], 3.0) is None                  # 0.6 s: less than half of 3 s
    assert word_prompt([], 3.0) is None


def test_test_list_follows_the_protocol():
    cuts = [cut("s1-a", "s1", 6.0, words_every(11)), cut("s1-b", "s1", 8.0, words_every(15)),
            cut("s1-c", "s1", 3.0, words_every(5)),           # too short to be a target, fine as a prompt
            cut("s2-a", "s2", 5.0, words_every(9)), cut("s2-b", "s2", 12.0, words_every(23)),
            cut("s3-a", "s3", 5.0, words_every(9))]           # s3 has no other utterance: no prompt
    items, skipped = build_test_list(cuts, TestListConfig(min_duration=4.0, max_duration=10.0, prompt_seconds=3.0))
    assert [it.id for it in items] == ["s1-a", "s1-b", "s2-a"]
    assert set(skipped) == {"s3-a"} and "no other utterance" in skipped["s3-a"]
    by_id = {it.id: it for it in items}
    # Another utterance of the same speaker: the next in id order, cyclic.
    assert by_id["s1-a"].prompt.utterance == "s1-b" and by_id["s1-b"].prompt.utterance == "s1-c"
    assert by_id["s2-a"].prompt.utterance == "s2-b"
    for it in items:
        p = it.prompt
        assert p.utterance != it.id and p.utterance.split("-")[0] == it.speaker
        assert 1.5 <= p.end - p.start <= 3.0 and p.text.split()[0] == "W0"
    # Words of 0.45 s every 0.5 s: 6 fit in 3 s; s1-c has only 5 (2.45 s, still over half of 3 s).
    assert [len(by_id[k].prompt.text.split()) for k in ("s1-a", "s1-b", "s2-a")] == [6, 5, 6]
    # Continuation: the target's own first words (cut the same way) and the words after them.
    c = by_id["s1-a"].continuation
    assert (c.utterance, c.start, c.end, c.text) == ("s1-a", 0.2, 3.15, "W0 W1 W2 W3 W4 W5")
    assert by_id["s1-a"].continuation_text == "W6 W7 W8 W9 W10"
    assert by_id["s1-a"].continuation_seconds == pytest.approx(6.0 - 3.15)
    short = build_test_list([cut("s4-a", "s4", 4.0, words_every(6)), cut("s4-b", "s4", 4.0, words_every(7))],
                            TestListConfig(4.0, 10.0, prompt_seconds=3.0))[0]
    # s4-a's six words all end within 3 s: nothing is left to continue
    assert short[0].continuation is None and short[1].continuation_text == "W6"
    # Deterministic and order-independent; max_utts keeps the first in id order.
    again, _ = build_test_list(cuts[::-1], TestListConfig(min_duration=4.0, max_duration=10.0))
    assert [(i.id, i.prompt) for i in again] == [(i.id, i.prompt) for i in items]
    assert [i.id for i in build_test_list(cuts, TestListConfig(4.0, 10.0, max_utts=2))[0]] == ["s1-a", "s1-b"]
    assert [i.id for i in build_test_list(cuts, TestListConfig(4.0, 10.0, max_per_speaker=1))[0]] == ["s1-a", "s2-a"]


def test_tandem_repeats_and_repetition():
    assert tandem_repeats("a b c a b c d".split()) == [("a", "b", "c")]
    assert tandem_repeats("a b a b".split()) == []              # 2 phones: below min_n
    assert tandem_repeats("a b a b".split(), min_n=2) == [("a", "b")]
    ref = "dh ax k ae t s ae t".split()
    assert not has_repetition(ref, ref)
    assert has_repetition(ref, "dh ax k ae t k ae t s ae t".split())
    # A repeat the text itself has ("that that") is not a loop.
    ref2 = "dh ae t dh ae t ih z".split()
    assert not has_repetition(ref2, ref2) and has_repetition(ref2, "dh ae t dh ae t dh ae t ih z ih z ih z".split())


def test_utterance_metrics_and_summary():
    ref = "a b c d e".split()
    r1 = utterance_metrics(ref, "a b x d e".split(), 4.0, 5.0, hit_eos=True)      # 1 substitution
    r2 = utterance_metrics(ref, "a b c d e c d e".split(), 8.0, 4.0, hit_eos=False)  # 3 insertions, a loop
    r3 = utterance_metrics(ref, None, 2.0, 2.0, hit_eos=True)                     # recognition failed
    assert (r1["phone_errors"], r2["phone_errors"], r3["phone_errors"]) == (1, 3, 5)
    assert (r1["repetition"], r2["repetition"], r3["repetition"]) == (False, True, False)
    s = summarize_system([r1, r2, r3])
    assert s["per"] == pytest.approx(100 * 9 / 15, abs=0.01)
    assert s["eos_failure_rate"] == pytest.approx(100 / 3, abs=0.01)
    assert s["repetition_rate"] == pytest.approx(100 / 3, abs=0.01)
    assert s["duration_ratio_median"] == 1.0 and s["duration_ratio_mean"] == pytest.approx((0.8 + 2 + 1) / 3, abs=1e-3)
    assert s["recognition_failures"] == 1 and "wer" not in s
    # Ground-truth rows have no EOS; WER/similarity appear only when every row has them.
    g = summarize_system([{**r1, "hit_eos": None, "word_errors": 1, "ref_words": 4, "similarity": 0.5},
                          {**r2, "hit_eos": None, "word_errors": 0, "ref_words": 4, "similarity": 0.7}])
    assert g["eos_failure_rate"] is None and g["wer"] == 12.5 and g["similarity"] == pytest.approx(0.6)


@pytest.mark.e2e
def test_phone_recognizer_hears_the_test_speakers(aligned_recipe):
    """The stage-3 DNN-HMM with a phone bigram recognizes held-out speech better than chance, and noise of
    the same length far worse."""
    from lhotse import load_manifest

    from valle.eval.phone_recognition import PhoneRecognizer, tts_phones
    from valle.utils.audio import load_mono

    tmp = aligned_recipe[0]
    data = tmp / "data"
    rec = PhoneRecognizer(data / "lang", tmp / "exp" / "align", [data / "aligned" / "cuts_train-clean-100.jsonl.gz"])
    cuts = list(load_manifest(data / "aligned" / "cuts_test-clean.jsonl.gz"))
    utts, refs = [], {}
    for c in cuts:
        sup = c.supervisions[0]
        refs[sup.id] = tts_phones([a.symbol for a in sup.alignment["tts_phone"]])
        utts.append((sup.id, sup.speaker, load_mono(c, 16000)))
    hyps, failures = rec.recognize(utts)
    assert not failures and set(hyps) == set(refs)
    from valle.eval.alignment import phone_error_rate

    per = phone_error_rate((refs[k], hyps[k]) for k in refs)["per"]
    rng = np.random.default_rng(0)
    noise = [(u + "-noise", spk, rng.normal(0, 0.05, len(a)).astype(np.float32)) for u, spk, a in utts]
    noise_hyps, _ = rec.recognize(noise)
    noise_per = phone_error_rate((refs[u], noise_hyps.get(u + "-noise", [])) for u, _, _ in utts)["per"]
    # Tiny corpus (32 training utterances, unseen test speakers): ~71 % here; mini's own DNN: ~14 %.
    assert per < 80 and noise_per >= per + 20, (per, noise_per)
    assert all("SIL" not in h and all(a != b for a, b in zip(h, h[1:])) for h in hyps.values())


def test_aligned_phone_sequences_reads_the_aligned_cuts(tmp_path):
    from valle.align.phone_lm import aligned_phone_sequences

    path = tmp_path / "cuts.jsonl.gz"
    rows = [{"id": "a", "supervisions": [{"alignment": {"phone": [["SIL", 0, 0.1], ["b", 0.1, 0.1]]}},
                                         {"alignment": None}]},
            {"id": "b", "supervisions": [{"alignment": {"phone": [{"symbol": "c", "start": 0, "duration": 1}]}}]}]
    with gzip.open(path, "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    assert aligned_phone_sequences([path]) == [["SIL", "b"], ["c"]]


def test_external_command_hook(tmp_path):
    import sys

    from valle.eval.external import ExternalCommandError, run_list_command

    script = tmp_path / "upper.py"
    script.write_text("import sys\nrows = [l.rstrip('\\n').split('\\t') for l in open(sys.argv[1])]\n"
                      "open(sys.argv[2], 'w').write(''.join(f'{r[0]}\\t{r[1].upper()}\\n' for r in rows))\n")
    assert run_list_command(f"{sys.executable} {script}", ["a\tx.wav", "b\ty.wav"], "ASR") == {"a": "X.WAV",
                                                                                            "b": "Y.WAV"}
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nsys.exit('no model at /models/asr.pt')\n")
    with pytest.raises(ExternalCommandError, match="ASR command .* failed \\(exit 1\\): no model at /models/asr.pt"):
        run_list_command(f"{sys.executable} {bad}", ["a\tx.wav"], "ASR")
    with pytest.raises(ExternalCommandError, match="could not start"):
        run_list_command("/nonexistent/asr", ["a\tx.wav"], "ASR")


def _espeak(tmp_path, voice, text, name):
    """espeak-ng speech at 16 kHz (float32)."""
    import subprocess

    import soundfile as sf
    from scipy.signal import resample_poly

    wav = tmp_path / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "130", "-w", str(wav), text], check=True)
    audio, rate = sf.read(wav, dtype="float32")
    return resample_poly(audio, 16000, rate).astype(np.float32)


@pytest.fixture
def resemblyzer_reference(monkeypatch):
    """Resemblyzer's own VoiceEncoder and audio module, imported with librosa (not installed: its mel spectrogram
    is the one thing ours replaces, checked once against librosa 0.11 to 2e-7) stubbed by our wav_to_mel."""
    import sys
    import types

    from valle.eval.speaker import wav_to_mel

    librosa = types.ModuleType("librosa")
    librosa.feature = types.SimpleNamespace(melspectrogram=lambda y, sr, n_fft, hop_length, n_mels: wav_to_mel(y).T)
    monkeypatch.setitem(sys.modules, "librosa", librosa)
    for name in [m for m in sys.modules if m.startswith("resemblyzer")]:
        monkeypatch.delitem(sys.modules, name)
    from resemblyzer import VoiceEncoder, audio

    return VoiceEncoder("cpu", verbose=False), audio


def test_speaker_encoder_matches_resemblyzer(resemblyzer_reference, tmp_path):
    """Same weights, same preprocessing (volume, webrtcvad trimming), same partials, same embedding."""
    from valle.eval.speaker import SpeakerEncoder, normalize_volume, preprocess_wav, trim_long_silences

    theirs, their_audio = resemblyzer_reference
    ours = SpeakerEncoder.from_file()
    speech = _espeak(tmp_path, "en-us+f3", "open the door, and then turn on the light in the hall please", "a")
    padded = np.concatenate([np.zeros(16000, np.float32), 0.1 * speech, np.zeros(8000, np.float32), speech])
    assert np.allclose(normalize_volume(padded), their_audio.normalize_volume(padded, -30, increase_only=True))
    assert np.array_equal(trim_long_silences(padded), their_audio.trim_long_silences(padded))
    assert len(preprocess_wav(padded)) < len(padded) - 16000          # the leading second of silence is cut
    for wav in (preprocess_wav(padded), preprocess_wav(speech[:12000])):  # several partials; less than one
        assert np.allclose(ours.embed_utterance(wav, preprocess=False), theirs.embed_utterance(wav), atol=1e-6)


def test_speaker_similarity_tells_voices_apart(tmp_path):
    """The pretrained encoder: two sentences of one voice are closer than the same sentence in another voice."""
    from valle.eval.speaker import SpeakerEncoder, cosine

    enc = SpeakerEncoder.from_file()
    texts = ["the quick brown fox jumps over the lazy dog near the river bank",
             "she sells sea shells by the sea shore every summer morning"]
    emb = {(v, k): enc.embed_utterance(_espeak(tmp_path, v, t, f"{v}{k}"))
           for v in ("en-us", "en-us+f3") for k, t in enumerate(texts)}
    same = [cosine(emb[v, 0], emb[v, 1]) for v in ("en-us", "en-us+f3")]
    other = [cosine(emb["en-us", k], emb["en-us+f3", k]) for k in range(2)]
    assert min(same) > max(other) + 0.1, (same, other)
    # audio with nothing webrtcvad calls speech is embedded untrimmed, not refused
    quiet = enc.embed_utterance(np.random.default_rng(0).normal(0, 1e-4, 16000).astype(np.float32))
    assert quiet.shape == (256,) and np.isfinite(quiet).all()


def test_speaker_encoder_refuses_a_file_that_is_not_one(tmp_path):
    import torch

    from valle.eval.speaker import SpeakerEncoder, SpeakerModelError

    torch.save({"model_state": {"linear.weight": torch.zeros(256, 256)}}, tmp_path / "x.pt")
    with pytest.raises(SpeakerModelError, match="not a Resemblyzer encoder"):
        SpeakerEncoder.from_file(tmp_path / "x.pt")


def test_pocketsphinx_recognizes_words_and_not_noise(tmp_path):
    from valle.eval.asr import PocketSphinx
    from valle.eval.tts_metrics import word_errors
    from valle.text.normalize import to_transcript

    asr = PocketSphinx()
    text = "open the door and turn on the light please"
    speech = _espeak(tmp_path, "en-us+f3", text, "s")
    hyp = to_transcript(asr.transcribe(speech)).split()
    ref = to_transcript(text).split()
    other = to_transcript("the quick brown fox jumps over the lazy dog").split()
    # espeak-ng is hard for PocketSphinx's en-us model (here 7 errors in 9 words); it still hears what was said
    assert word_errors(ref, hyp) <= len(ref) - 2 and word_errors(ref, hyp) + 2 <= word_errors(other, hyp), hyp
    noise = np.random.default_rng(0).normal(0, 0.05, len(speech)).astype(np.float32)
    assert len(asr.transcribe(noise).split()) <= 1


def test_stage7_scores_wer_and_sim_with_the_pretrained_models_by_default(tmp_path):
    """Rows of two systems: one says the text in the prompt's voice, the other another sentence in another voice.
    WER and SIM separate them; SIM other (against a different speaker's prompt) is the floor."""
    from valle.eval.config import EvalConfig
    from valle.eval.stage7 import add_similarity, add_word_errors
    from valle.utils.audio import write_wav

    def wav(voice, text, name):
        path = tmp_path / f"{name}.wav"
        write_wav(path, _espeak(tmp_path, voice, text, name + "_raw"), 16000)
        return str(path)

    text = "open the door and turn on the light please"
    prompt = wav("en-us+f3", "she sells sea shells by the sea shore every summer", "prompt")
    other = wav("en-us", "she sells sea shells by the sea shore every summer", "other")
    rows = {"good": [{"id": "u1", "wav": wav("en-us+f3", text, "good"), "text": text.upper(), "prompt": prompt,
                      "other_prompt": other}],
            "bad": [{"id": "u1", "wav": wav("en-us", "the quick brown fox jumps over the lazy dog", "bad"),
                     "text": text.upper(), "prompt": prompt, "other_prompt": other}]}
    assert "PocketSphinx" in add_word_errors(rows, EvalConfig())
    assert "Resemblyzer" in add_similarity(rows, EvalConfig())
    good, bad = rows["good"][0], rows["bad"][0]
    assert good["ref_words"] == 9 and good["word_errors"] < bad["word_errors"], (good["hyp_words"], bad["hyp_words"])
    assert good["similarity"] > good["similarity_other"] + 0.1 and bad["similarity"] < bad["similarity_other"]
    skipped = {"x": [dict(good)]}
    assert add_word_errors(skipped, EvalConfig(asr_model="none")).startswith("skipped")
    assert add_similarity(skipped, EvalConfig(sim_model="none")).startswith("skipped")
