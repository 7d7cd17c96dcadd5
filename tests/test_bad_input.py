"""Bad input through stages 1-4 (issue 16): a corpus holding the kinds of bad files and lines real corpora have,
each one's outcome asserted; the good files of the same parts all reach stage 4. And faults: stages 3 and 4
killed (SIGKILL) part-way and rerun give exactly what the uninterrupted run gave."""
import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from lhotse import load_manifest

from conftest import REPO, SMALL_ALIGN, TINY_CONFIG, recipe_dirs, run_recipe

pytestmark = pytest.mark.e2e  # runs run.sh on the tiny corpus

ACCENTED_TEXT = "THE CAFÉ HAD A NAÏVE FAÇADE — AND A LONG RÉSUMÉ"
ACCENTED_SPOKEN = "the cafe had a naive facade and a long resume"


def _speak(text: str, voice_name: str, path: Path) -> None:
    """espeak-ng speech of ``text`` as a 16 kHz flac, in a child process (libespeak-ng is a process singleton)."""
    code = ("import sys, numpy as np, soundfile as sf\n"
            "from valle.corpus.mini.espeak import Espeak, Voice\n"
            "from valle.corpus.mini.build import _to_16k\n"
            "syn = Espeak.get().synthesize(sys.argv[1], Voice(sys.argv[2]))\n"
            "audio = np.concatenate([np.zeros(3200, np.float32), _to_16k(syn.audio, syn.sample_rate), "
            "np.zeros(3200, np.float32)])\n"
            "audio = audio * 0.8 + np.random.default_rng(0).normal(0, 3e-4, audio.shape)\n"
            "sf.write(sys.argv[3], audio.astype(np.float32), 16000, subtype='PCM_16', format='FLAC')\n")
    subprocess.run([sys.executable, "-c", code, text, voice_name, str(path)], check=True, cwd=REPO,
                   env={**os.environ, "PYTHONPATH": str(REPO)})


def make_bad_input(dl: Path) -> dict:
    """Adds every kind of bad input to the tiny corpus under ``dl``; returns what each must end as."""
    from valle.corpus.mini.build import make_speakers

    train = dl / "LibriSpeech" / "train-clean-100"
    trans_files = sorted(train.rglob("*.trans.txt"))
    originals = {line.split(" ", 1)[0] for t in trans_files for line in t.read_text().splitlines()}
    trans = trans_files[0]
    ch, stem = trans.parent, trans.name.split(".")[0]
    good = trans.read_text().splitlines()
    first_id, first_text = good[0].split(" ", 1)
    real = ch / f"{first_id}.flac"
    audio, sr = sf.read(str(real), dtype="float32")

    def utt(n):
        return f"{stem}-{n:04d}"

    def flac(n):
        return ch / f"{utt(n)}.flac"

    skipped, lines = {}, []
    # Audio that is not audio: listed by stage 1 (and its transcript line dropped with it).
    flac(70).write_bytes(b"this is not a flac file" * 100)
    flac(71).write_bytes(b"")
    flac(72).write_bytes(real.read_bytes()[: real.stat().st_size // 2])
    for n, reason in ((70, "unreadable"), (71, "empty file"), (72, "truncated")):
        lines.append(f"{utt(n)} {first_text}".encode())
        skipped[str(flac(n))] = reason
    shutil.copy(real, flac(73))  # audio with no transcript line
    skipped[str(flac(73))] = "not in the corpus's transcripts"
    # Lines that would stop lhotse's parser, or that mean nothing.
    first_bad = len(good) + 1  # the bad lines follow the good ones
    bad_lines = [
        (utt(74).encode(), "no text"),                                   # the crash: an id, no text
        (f"9999-1-0075 {first_text}".encode(), "bad utterance id"),
        (f"{utt(76)} HELLO\x07 THERE".encode(), "stray character U+0007"),
        (f"{first_id} A SECOND TEXT FOR THE FIRST ID".encode(), "duplicate utterance id"),
        (f"{utt(77)} CAF".encode() + "É AU LAIT".encode("latin-1"), "not utf-8"),
        (f"{utt(78)} THIS LINE HAS NO AUDIO".encode(), "no audio file"),
    ]
    shutil.copy(real, flac(74))  # the line with no text has audio: listed with the line's reason
    skipped[str(flac(74))] = f"its transcript line {trans}:{first_bad}"
    for i, (line, reason) in enumerate(bad_lines):
        skipped[f"{trans}:{first_bad + i}"] = reason
    # Good files that need care: stereo 44.1 kHz, and a transcript with accents and a dash.
    t44 = np.arange(int(len(audio) * 44100 / sr))
    stereo = np.interp(t44 * sr / 44100, np.arange(len(audio)), audio)
    sf.write(str(flac(79)), np.stack([stereo, stereo], axis=1).astype(np.float32), 44100, format="FLAC")
    voice = next(s.voice.name for s in make_speakers(TINY_CONFIG) if s.id == stem.split("-")[0])
    _speak(ACCENTED_SPOKEN, voice, flac(80))
    # Stage 3's cases: a 100-sample file (cannot be aligned) and pure silence (would be aligned: flagged).
    sf.write(str(flac(81)), audio[:100], sr, format="FLAC")
    sf.write(str(flac(82)), (np.random.default_rng(1).normal(0, 1e-4, len(audio))).astype(np.float32), sr,
             format="FLAC")
    good_lines = [f"{utt(79)} {first_text}", f"{utt(80)} {ACCENTED_TEXT}", f"{utt(81)} {first_text}",
                  f"{utt(82)} {first_text}"]
    body = [g.encode() for g in good] + [b for b, _ in bad_lines] + lines + [g.encode() for g in good_lines]
    trans.write_bytes(b"\n".join(body) + b"\n")
    # Two utterances of another speaker with each other's transcripts (aligned, but flagged as mismatched).
    other = trans_files[2]
    a, b = other.read_text().splitlines()[:2], trans_files[3].read_text().splitlines()[:1]
    (id_a, text_a), (id_b, text_b) = a[0].split(" ", 1), b[0].split(" ", 1)
    other.write_text("\n".join([f"{id_a} {text_b}"] + other.read_text().splitlines()[1:]) + "\n")
    rest_b = trans_files[3].read_text().splitlines()[1:]
    trans_files[3].write_text("\n".join([f"{id_b} {text_a}"] + rest_b) + "\n")

    # LibriLight: audio without its .json, and a .json that is not metadata.
    ll_flac = sorted((dl / "librilight" / "medium").rglob("*.flac"))[0]
    no_meta, bad_meta = ll_flac.with_name("98_no_meta.flac"), ll_flac.with_name("99_bad_meta.flac")
    shutil.copy(ll_flac, no_meta)
    shutil.copy(ll_flac, bad_meta)
    bad_meta.with_suffix(".json").write_text('{"speaker": "1013"')
    return {
        "skipped_librispeech": skipped,
        "skipped_librilight": {str(no_meta): "no metadata file", str(bad_meta): "bad metadata"},
        "stage1_kept": originals | {utt(n) for n in (79, 80, 81, 82)},
        "stereo": utt(79), "accented": utt(80),
        "failed": {utt(81): "no frames"},
        "flagged": {utt(82): "too little speech", id_a: "alignment score an outlier",
                    id_b: "alignment score an outlier"},
    }


@pytest.fixture(scope="module")
def bad_recipe(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bad_input")
    conf = tmp / "conf.sh"
    conf.write_text(SMALL_ALIGN)
    common = ["--conf", conf, *recipe_dirs(tmp)]
    run_recipe("--stage", 0, "--stop-stage", 0, *common)
    expected = make_bad_input(tmp / "data" / "download")
    out = run_recipe("--stage", 1, "--stop-stage", 4, *common).stdout
    return tmp, conf, expected, out


def _listing(path: Path) -> dict:
    return dict(line.split("\t", 1)[:2] for line in path.read_text().splitlines() if line)


def test_stage1_skips_and_lists_every_bad_file_and_line_and_keeps_the_part(bad_recipe):
    tmp, _, expected, out = bad_recipe
    manifests = tmp / "data" / "manifests"
    for corpus in ("librispeech", "librilight"):
        listed = _listing(manifests / f"skipped_{corpus}.tsv")
        want = expected[f"skipped_{corpus}"]
        assert set(listed) == set(want), (corpus, sorted(set(listed) ^ set(want)))
        for where, reason in want.items():
            assert listed[where].startswith(reason), (where, listed[where])
    cuts = {c.id: c for c in load_manifest(manifests / "cuts_train-clean-100.jsonl.gz")}
    assert set(cuts) == expected["stage1_kept"]
    stereo = cuts[expected["stereo"]].recording
    assert (stereo.sampling_rate, stereo.num_channels) == (44100, 2)
    assert "skipped audio files of librispeech: 5, transcript lines: 6" in out
    assert "skipped audio files of librilight: 2, transcript lines: 0" in out


def test_accents_are_transliterated_in_the_lang_text(bad_recipe):
    tmp, _, expected, _ = bad_recipe
    texts = dict(line.split(" ", 1) for line in
                 (tmp / "data" / "lang" / "text" / "train-clean-100.txt").read_text().splitlines())
    assert texts[expected["accented"]] == "THE CAFE HAD A NAIVE FACADE AND A LONG RESUME"


def test_stage3_lists_the_unalignable_and_flags_the_speechless_and_mismatched(bad_recipe):
    tmp, _, expected, _ = bad_recipe
    ali = tmp / "exp" / "align" / "ali"
    failed = _listing(ali / "failed_train-clean-100.tsv")
    flagged = {k: v.rsplit("\t", 1)[-1] for k, v in _listing(ali / "flagged_train-clean-100.tsv").items()}
    del failed["utterance"], flagged["utterance"]
    assert set(failed) == set(expected["failed"]) and set(flagged) == set(expected["flagged"]), (failed, flagged)
    for utt, reason in expected["failed"].items():
        assert failed[utt].startswith(reason)
    for utt, reason in expected["flagged"].items():
        assert flagged[utt].startswith(reason), flagged[utt]
    aligned = {c.id for c in load_manifest(tmp / "data" / "aligned" / "cuts_train-clean-100.jsonl.gz")}
    assert aligned == expected["stage1_kept"] - set(failed) - set(flagged)
    summary = json.loads((tmp / "exp" / "align" / "summary.json").read_text())["parts"]["train-clean-100"]
    assert (summary["failed"], summary["flagged"]) == (1, 3)


def test_the_good_files_reach_stage_4(bad_recipe):
    tmp, _, expected, _ = bad_recipe
    assert json.loads((tmp / "data" / "tokens" / "codec.json").read_text())["kind"] == "mel_rvq"  # mini's codec
    tokens = {c.id: c for c in load_manifest(tmp / "data" / "tokens" / "cuts_train-clean-100.jsonl.gz")}
    good = expected["stage1_kept"] - set(expected["failed"]) - set(expected["flagged"])
    assert good <= set(tokens)
    for utt in (expected["stereo"], expected["accented"]):
        codes = tokens[utt].codes.load()
        assert codes.shape[1] == 8 and codes.shape[0] == pytest.approx(tokens[utt].duration * 75, abs=2)


def _kill_when(args, ready, what: str) -> None:
    """Starts run.sh with ``args`` and SIGKILLs its whole process group as soon as ``ready()`` holds."""
    proc = subprocess.Popen([str(REPO / "run.sh"), *map(str, args)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 300
    while not ready() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.01)
    assert proc.poll() is None, f"the stage ended before {what}"
    assert ready(), f"no {what} within 300 s"
    os.killpg(proc.pid, signal.SIGKILL)  # no clean-up handler runs
    proc.wait()


def _gz_text(path: Path) -> str:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return f.read()


def _fresh_recipe(bad_recipe, tmp_path: Path, *dirs: str):
    """A new data/exp dir holding copies of the fixture's finished ``dirs`` (stage outputs under data/)."""
    src, conf, _, _ = bad_recipe
    for d in dirs:
        shutil.copytree(src / "data" / d, tmp_path / "data" / d, symlinks=True)
    return ["--conf", conf, *recipe_dirs(tmp_path)]


def test_stage3_killed_during_training_and_rerun_equals_the_uninterrupted_run(bad_recipe, tmp_path):
    src = bad_recipe[0]
    common = _fresh_recipe(bad_recipe, tmp_path, "manifests", "lang")
    stage3 = ["--stage", 3, "--stop-stage", 3, *common]
    # Killed once the GMM is trained, while the DNN trains: the split, the features and the GMM are kept.
    _kill_when(stage3, lambda: (tmp_path / "exp" / "align" / "gmm" / ".done").is_file(), "a trained GMM")
    assert not (tmp_path / "data" / "aligned" / ".done").exists()
    out = run_recipe(*stage3).stdout
    assert "Stage 3 already done" not in out
    for part in ("train-clean-100", "dev-clean", "test-clean", "small", "medium", "large"):
        assert _gz_text(tmp_path / "data" / "aligned" / f"cuts_{part}.jsonl.gz") == \
            _gz_text(src / "data" / "aligned" / f"cuts_{part}.jsonl.gz"), part
        for kind in ("failed", "flagged"):
            name = f"{kind}_{part}.tsv"
            assert (tmp_path / "exp" / "align" / "ali" / name).read_text() == \
                (src / "exp" / "align" / "ali" / name).read_text()


def test_stage4_killed_between_shards_and_rerun_equals_the_uninterrupted_run(bad_recipe, tmp_path):
    src = bad_recipe[0]
    common = _fresh_recipe(bad_recipe, tmp_path, "manifests")
    stage4 = ["--stage", 4, "--stop-stage", 4, *common]
    tokens = tmp_path / "data" / "tokens"
    tokens.mkdir()
    for f in ("codec.pt", "codec.json"):  # the codec is made before the first shard (and reused): not redone here
        shutil.copy(src / "data" / "tokens" / f, tokens / f)
    _kill_when(stage4, lambda: any(tokens.glob("*/shard_*.json")), "a finished shard")
    assert not (tokens / ".done").exists()
    run_recipe(*stage4)
    for part in ("train-clean-100", "dev-clean", "small"):
        want = {c.id: c.codes.load() for c in load_manifest(src / "data" / "tokens" / f"cuts_{part}.jsonl.gz")}
        got = {c.id: c.codes.load() for c in load_manifest(tokens / f"cuts_{part}.jsonl.gz")}
        assert set(got) == set(want), part
        assert all(np.array_equal(got[k], want[k]) for k in want), part
