"""The standalone aligner (python -m valle.bin.align): reading a folder in either layout, extending a trained
model's lexicon, and whole runs with the tiny recipe's stage-3 model and with --train."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO  # aligned_recipe (the tiny recipe's stage-3 model) and tiny_corpus are its fixtures
from valle.align.folder_align import AlignToolError, model_lang_dir
from valle.align.textgrid import read_textgrid
from valle.corpus.base import CorpusError
from valle.corpus.folder import detect_layout, scan_folder
from valle.data.split import iter_cuts
from valle.eval.alignment import load_ground_truth, word_boundary_errors
from valle.text.lang import extend_lang, prepare_lang
from valle.text.lang_dir import LangDir
from valle.text.normalize import to_transcript


def tone(path: Path, seconds: float = 0.5, sr: int = 16000, channels: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    x = 0.2 * np.sin(2 * np.pi * 220 * t).astype(np.float32)
    sf.write(path, np.stack([x] * channels, axis=1) if channels > 1 else x, sr)
    return path


def problems_by_file(scan, root: Path) -> dict:
    return {str(Path(p.where.split(":")[0]).relative_to(root)): p.reason for p in scan.problems}


def test_mfa_layout_reads_pairs_and_lists_every_unusable_file(tmp_path):
    root = tmp_path / "corpus"
    tone(root / "alice" / "a1.wav")
    (root / "alice" / "a1.lab").write_text("Hello there,\nworld.\n")          # lines joined
    tone(root / "alice" / "a2.flac", sr=44100, channels=2)
    (root / "alice" / "a2.txt").write_text("Second one")                       # .txt and stereo 44.1 kHz
    tone(root / "bob" / "a1.wav")                                              # the same name, another speaker
    (root / "bob" / "a1.lab").write_text("Bob speaks")
    tone(root / "top.wav")
    (root / "top.lab").write_text("At the top")                               # speaker: the corpus folder
    tone(root / "bob" / "no_text.wav")                                         # audio without transcript
    (root / "bob" / "no_audio.lab").write_text("nothing to hear")             # transcript without audio
    tone(root / "bob" / "empty.wav")
    (root / "bob" / "empty.lab").write_text(" \n")                              # no text
    tone(root / "bob" / "latin1.wav")
    (root / "bob" / "latin1.lab").write_bytes("caf\xe9".encode("latin-1"))      # not UTF-8
    (root / "bob" / "broken.wav").write_bytes(b"RIFF....WAVEfmt garbage")       # not audio
    (root / "bob" / "broken.lab").write_text("it is broken")

    assert detect_layout(root) == "mfa"
    scan, texts = scan_folder(root, tmp_path / "cuts.jsonl.gz")
    assert texts == {"alice/a1": "Hello there, world.", "alice/a2": "Second one", "bob/a1": "Bob speaks",
                     "top": "At the top"}
    assert (scan.utterances, scan.speakers) == (4, 3)
    cuts = {c.id: c for c in iter_cuts(tmp_path / "cuts.jsonl.gz")}
    assert {c.supervisions[0].speaker for c in cuts.values()} == {"alice", "bob", "corpus"}
    assert cuts["alice/a2"].sampling_rate == 44100 and cuts["alice/a2"].num_channels == 2
    assert cuts["alice/a1"].supervisions[0].custom["path"] == "alice/a1"
    problems = problems_by_file(scan, root)
    assert problems["bob/no_text.wav"].startswith("no transcript")
    assert problems["bob/no_audio.lab"].startswith("no audio file")
    assert problems["bob/empty.lab"].startswith("no text")
    assert problems["bob/latin1.lab"].startswith("not UTF-8")
    assert "unreadable" in problems["bob/broken.wav"]
    assert len(problems) == 5


def test_librispeech_layout_reads_lines_and_lists_bad_ones(tmp_path):
    root = tmp_path / "corpus"
    chapter = root / "19" / "198"
    for i in range(3):
        tone(chapter / f"19-198-000{i}.flac")
    tone(chapter / "19-198-0009.flac")                                          # in no transcript
    (chapter / "19-198.trans.txt").write_text(
        "19-198-0000 NORTHANGER ABBEY\n"
        "19-198-0001\n"                                                        # no text
        "19-198-0000 AGAIN\n"                                                  # duplicate id
        "19-198-0002 THIS LITTLE WORK\n"
        "19-198-0005 NO SUCH AUDIO\n")
    assert detect_layout(root) == "librispeech"
    scan, texts = scan_folder(root, tmp_path / "cuts.jsonl.gz")
    assert texts == {"19-198-0000": "NORTHANGER ABBEY", "19-198-0002": "THIS LITTLE WORK"}
    cut = next(iter_cuts(tmp_path / "cuts.jsonl.gz"))
    assert cut.supervisions[0].speaker == "19" and cut.supervisions[0].custom["path"] == "19/198/19-198-0000"
    reasons = sorted(p.reason.split(" ")[0] for p in scan.problems)
    assert reasons == ["duplicate", "no", "no", "not"], scan.problems  # 0001.flac: its line is listed
    assert any(p.where.endswith("19-198.trans.txt:5") and "19-198-0005" in p.reason for p in scan.problems)


def test_a_folder_without_usable_audio_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        scan_folder(tmp_path / "nowhere", tmp_path / "c.jsonl.gz")
    (tmp_path / "only_text").mkdir()
    (tmp_path / "only_text" / "a.lab").write_text("hello")
    with pytest.raises(CorpusError, match="no audio files"):
        scan_folder(tmp_path / "only_text", tmp_path / "c.jsonl.gz")
    tone(tmp_path / "untranscribed" / "a.wav")
    with pytest.raises(CorpusError, match="no usable utterance.*no transcript"):
        scan_folder(tmp_path / "untranscribed", tmp_path / "c.jsonl.gz")
    assert not (tmp_path / "c.jsonl.gz").exists()


def test_extending_a_models_lexicon_keeps_its_phones_and_ids(tmp_path):
    prepare_lang({"train": {"u1": "the cat sat on the mat", "u2": "a dog ran"}}, tmp_path / "base")
    base = LangDir(tmp_path / "base")
    report = extend_lang(tmp_path / "base", {"corpus": {"x": "The zorblax sat, 12 times.", "y": "日本 cat"}},
                         tmp_path / "ext")
    ext = LangDir(tmp_path / "ext")
    assert (tmp_path / "ext" / "phones.txt").read_text() == (tmp_path / "base" / "phones.txt").read_text()
    assert all(ext.words[w] == i for w, i in base.words.items())               # the model's ids unchanged
    assert sorted(report["new_words"]) == ["TIMES", "TWELVE", "ZORBLAX", "日本"]
    assert report["new_words"]["ZORBLAX"].startswith("g2p") and report["new_words"]["日本"] == "unk"
    assert all(p in base.phones for pron in ext.lexicon["ZORBLAX"] for p in pron)
    assert ext.lexicon["日本"] == [("SPN",)]
    assert ext.text("corpus") == {"x": "THE ZORBLAX SAT TWELVE TIMES", "y": "日本 CAT"}
    assert ext.info["phone_set"] == base.info["phone_set"]


def test_a_model_without_its_lang_needs_lang_dir(tmp_path):
    with pytest.raises(AlignToolError, match="--lang-dir"):
        model_lang_dir(tmp_path)
    assert model_lang_dir(tmp_path, tmp_path / "lang") == tmp_path / "lang"


def run_align(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "valle.bin.align", *map(str, args)], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(f"valle.bin.align failed ({proc.returncode}):\n{proc.stdout[-4000:]}")
    return proc


def mfa_copy(librispeech: Path, parts, gt: dict, out: Path) -> list:
    """Held-out parts of the tiny corpus as an MFA folder: <speaker>/<id>.flac + .lab with the raw text."""
    ids = []
    for part in parts:
        for audio in sorted((librispeech / part).rglob("*.flac")):
            spk = out / audio.stem.split("-")[0]
            spk.mkdir(parents=True, exist_ok=True)
            (spk / audio.name).write_bytes(audio.read_bytes())
            (spk / f"{audio.stem}.lab").write_text(gt[audio.stem]["text"])
            ids.append(audio.stem)
    return ids


@pytest.mark.e2e
def test_aligning_a_folder_with_the_recipes_model(aligned_recipe, tiny_corpus, tmp_path):
    """The tiny recipe's stage-3 model on its held-out speakers, given as an MFA folder with raw text, plus
    files that cannot be aligned: every good utterance gets a TextGrid and a JSON whose words are its normalized
    transcript, at boundaries near espeak-ng's own; every bad file is in failures.tsv with its reason."""
    recipe_tmp = aligned_recipe[0]
    model = recipe_tmp / "exp" / "align"
    assert (model / "lang" / "phones.txt").is_file()                           # stage 3 keeps its lang
    gt = load_ground_truth(tiny_corpus / "ground_truth" / "librispeech.jsonl.gz")
    corpus = tmp_path / "corpus"
    ids = mfa_copy(tiny_corpus / "LibriSpeech", ["dev-clean", "test-clean"], gt, corpus)
    spk = corpus / ids[0].split("-")[0]
    (spk / "zz-new-word.flac").write_bytes((spk / f"{ids[0]}.flac").read_bytes())
    (spk / "zz-new-word.lab").write_text(gt[ids[0]]["text"] + " Quixotry")     # a word the model's lexicon lacks
    (spk / "zz-silence.wav").parent.mkdir(exist_ok=True)
    sf.write(spk / "zz-silence.wav", np.zeros(16000 * 3, np.float32), 16000)
    (spk / "zz-silence.lab").write_text(gt[ids[0]]["text"])                    # nothing said: not aligned
    (spk / "zz-broken.flac").write_bytes(b"fLaC not really")
    (spk / "zz-broken.lab").write_text("hello")
    out = tmp_path / "out"

    run_align(corpus, out, "--model", model, "--nj", 2)

    failures = dict(line.split("\t") for line in (out / "failures.tsv").read_text().splitlines()[1:])
    assert set(failures) == {f"{spk.name}/zz-broken.flac", f"{spk.name}/zz-silence"}, failures
    assert "unreadable" in failures[f"{spk.name}/zz-broken.flac"] or "corrupt" in failures[f"{spk.name}/zz-broken.flac"]
    assert "speech" in failures[f"{spk.name}/zz-silence"]                       # flagged or failed: no speech
    assert (out / "new_words.tsv").read_text().splitlines()[1].startswith("QUIXOTRY\t")
    errors = []
    for uid in ids + ["zz-new-word"]:
        rel = f"{spk.name if uid.startswith('zz') else uid.split('-')[0]}/{uid}"
        tiers, xmax = read_textgrid(out / f"{rel}.TextGrid")
        doc = json.loads((out / f"{rel}.json").read_text())
        words = [w for w, _, _ in tiers["words"]]
        expected = to_transcript(gt[ids[0] if uid.startswith("zz") else uid]["text"]).split()
        assert words == expected + (["QUIXOTRY"] if uid == "zz-new-word" else []), uid
        assert [e[2] for e in doc["tiers"]["words"]["entries"]] == words
        assert doc["end"] == pytest.approx(xmax, abs=1e-3) and doc["utterance"] == rel
        assert all(p != "SIL" for p, _, _ in tiers["phones"])                  # silence is the gaps
        if uid in gt:
            errors += word_boundary_errors([tuple(w) for w in gt[uid]["words"]], tiers["words"]) or [1.0]
    assert np.median(errors) < 0.03, np.median(errors)                         # the recipe's stage 3: ~10 ms
    summary = json.loads((out / "summary.json").read_text())
    assert summary["aligned"] == len(ids) + 1 and summary["layout"] == "mfa" and summary["num_jobs"] == 2
    assert not (out / ".work").exists()


@pytest.mark.e2e
def test_train_on_a_librispeech_folder_then_reuse_the_model(tiny_corpus, tmp_path):
    train_dir = tiny_corpus / "LibriSpeech" / "train-clean-100"
    out, model = tmp_path / "out", tmp_path / "model"
    run_align(train_dir, out, "--train", "--model", model, "--gmm-num-iters", 10, "--gmm-total-gauss", 120,
              "--dnn-epochs", 6)
    n = len(list(train_dir.rglob("*.flac")))
    assert len(list(out.rglob("*.TextGrid"))) == json.loads((out / "summary.json").read_text())["aligned"] >= n - 1
    for sub in ("gmm/.done", "dnn/.done", "lang/phones.txt", "lang/lexicon.txt"):
        assert (model / sub).is_file(), sub
    again = run_align(train_dir, tmp_path / "out2", "--train", "--model", model, check=False)
    assert again.returncode == 1 and "already holds a trained model" in again.stdout
    dev = tiny_corpus / "LibriSpeech" / "dev-clean"
    run_align(dev, tmp_path / "out3", "--model", model)
    assert len(list((tmp_path / "out3").rglob("*.TextGrid"))) == len(list(dev.rglob("*.flac")))
