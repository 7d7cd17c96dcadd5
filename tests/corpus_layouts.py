"""The tiny mini corpus's speech, laid out as the flat corpora people bring: LJSpeech's (metadata.csv + wavs/),
VCTK's (txt/<spk>/*.txt + wav48/<spk>/*.wav) and one invented here (clips/<spk>/*.flac + a JSON-lines index).
Each returns {utterance id: (speaker, transcript as spoken)}; the audio is the mini corpus's, so stage 3 has
real (synthetic) speech to align."""
import json
from pathlib import Path
from typing import Dict, Iterator, Tuple

import soundfile as sf
from scipy.signal import resample_poly

LS_PARTS = ("train-clean-100", "dev-clean", "test-clean")


def tiny_utterances(tiny_corpus: Path) -> Iterator[Tuple[str, str, Path, str]]:
    """(utterance id, speaker, flac, transcript) of the tiny corpus's labeled parts, in id order."""
    rows = []
    for part in LS_PARTS:
        for trans in sorted((tiny_corpus / "LibriSpeech" / part).rglob("*.trans.txt")):
            for line in trans.read_text().splitlines():
                utt, text = line.split(" ", 1)
                rows.append((utt, utt.split("-")[0], trans.parent / f"{utt}.flac", text))
    return iter(sorted(rows))


def _write_at(path: Path, flac: Path, rate: int) -> None:
    """The flac's audio written at the corpus's own sample rate (LJSpeech 22.05 kHz, VCTK 48 kHz), so that
    stage 3's and stage 4's resampling is exercised as on the real corpora."""
    audio, sr = sf.read(flac)
    sf.write(path, resample_poly(audio, rate // 50, sr // 50).astype("float32"), rate)


def make_ljspeech_style(tiny_corpus: Path, root: Path) -> Dict[str, Tuple[str, str]]:
    """LJSpeech 1.1's layout: metadata.csv "id|raw text|normalized text", wavs/<id>.wav at 22.05 kHz; no speakers. The raw
    column writes numbers as digits, as LJSpeech's does: the normalized column is what was said."""
    (root / "wavs").mkdir(parents=True)
    lines, rows = [], {}
    for k, (utt, _, flac, text) in enumerate(tiny_utterances(tiny_corpus)):
        lj_id = f"LJ001-{k + 1:04d}"
        _write_at(root / "wavs" / f"{lj_id}.wav", flac, 22050)
        spoken = text.capitalize() + " two hundred."
        raw = text.capitalize() + " 200."
        lines.append(f"{lj_id}|{raw}|{spoken}")
        rows[lj_id] = (None, spoken)
    (root / "metadata.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "README").write_text("LJ Speech Dataset (layout only)\n")
    return rows


def make_vctk_style(tiny_corpus: Path, root: Path) -> Dict[str, Tuple[str, str]]:
    """VCTK 0.80's layout: txt/<spk>/<spk>_<n>.txt (one utterance per file), wav48/<spk>/<spk>_<n>.wav (48 kHz),
    speaker-info.txt. As in the real corpus, one transcript has no audio (it must be listed and left out, not
    stop the corpus) and one speaker has audio without transcripts."""
    rows, info = {}, ["ID  AGE  GENDER  ACCENTS  REGION"]
    speakers: Dict[str, str] = {}
    counts: Dict[str, int] = {}
    for utt, spk, flac, text in tiny_utterances(tiny_corpus):
        vspk = speakers.setdefault(spk, f"p{225 + len(speakers)}")
        counts[vspk] = counts.get(vspk, 0) + 1
        vid = f"{vspk}_{counts[vspk]:03d}"
        (root / "txt" / vspk).mkdir(parents=True, exist_ok=True)
        (root / "wav48" / vspk).mkdir(parents=True, exist_ok=True)
        (root / "txt" / vspk / f"{vid}.txt").write_text(text.capitalize() + ".\n", encoding="utf-8")
        _write_at(root / "wav48" / vspk / f"{vid}.wav", flac, 48000)
        rows[vid] = (vspk, text.capitalize() + ".")
    for vspk in speakers.values():
        info.append(f"{vspk[1:]}  23  F    English    Southern England")
    (root / "speaker-info.txt").write_text("\n".join(info) + "\n")
    # A transcript without its audio (VCTK has such: p280 on mic2, some of p362).
    first = sorted(speakers.values())[0]
    (root / "txt" / first / f"{first}_999.txt").write_text("Please call Stella.\n")
    # A speaker with audio but no transcripts (VCTK's p315).
    (root / "wav48" / "p315").mkdir()
    _write_at(root / "wav48" / "p315" / "p315_001.wav", next(tiny_utterances(tiny_corpus))[2], 48000)
    return rows


def make_jsonl_style(tiny_corpus: Path, root: Path) -> Dict[str, Tuple[str, str]]:
    """A layout invented for this test: clips/<speaker>/<id>.flac and one index.jsonl, a JSON object per
    utterance {"audio": relative path, "speaker", "text"}; ids are the audio file stems."""
    rows, index = {}, []
    for utt, spk, flac, text in tiny_utterances(tiny_corpus):
        rel = Path("clips") / f"spk{spk}" / f"{utt}.flac"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(flac.read_bytes())
        index.append(json.dumps({"audio": str(rel), "speaker": f"spk{spk}", "text": text.lower()}))
        rows[utt] = (f"spk{spk}", text.lower())
    (root / "index.jsonl").write_text("\n".join(index) + "\n")
    return rows


# LJSpeech's layout with lhotse's own parser: all a user writes (the README counts its lines).
LJSPEECH_LHOTSE_CONF = """\
corpus_source=manual
corpora="ljspeech"
ljspeech_dir=$dl_dir/LJSpeech-1.1
ljspeech_parts="train dev test"
ljspeech_split="test_every=10 dev_every=8"
ljspeech_prepare=lhotse:prepare_ljspeech
labeled_train_parts="train"
dev_parts="dev"
test_parts="test"
"""

# The invented layout's recipe: what a user writes under egs/<name>/ (the tests count its lines).
JSONL_CONF = """\
corpus_source=manual
corpora="clips"
clips_dir=$dl_dir/clips
clips_parts="train dev test"
clips_split="test_speakers=2 dev_every=8"
clips_prepare=$recipe_dir/prepare.py:prepare_clips
labeled_train_parts="train"
dev_parts="dev"
test_parts="test"
"""

JSONL_PREPARE = '''\
import json
from pathlib import Path

from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet


def prepare_clips(corpus_dir, output_dir=None):
    corpus_dir = Path(corpus_dir)
    recordings, supervisions = [], []
    for line in (corpus_dir / "index.jsonl").read_text().splitlines():
        row = json.loads(line)
        audio = corpus_dir / row["audio"]
        if not audio.is_file():
            continue
        rec = Recording.from_file(audio, recording_id=audio.stem)
        recordings.append(rec)
        supervisions.append(SupervisionSegment(id=rec.id, recording_id=rec.id, start=0.0, duration=rec.duration,
                                               channel=0, text=row["text"], speaker=row["speaker"]))
    return {"recordings": RecordingSet.from_recordings(recordings),
            "supervisions": SupervisionSet.from_segments(supervisions)}
'''
