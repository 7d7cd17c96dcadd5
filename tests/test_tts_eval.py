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
