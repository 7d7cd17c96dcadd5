"""VCTK (CSTR, Edinburgh): about 44 h of 109-110 English speakers of many accents reading newspaper sentences,
48 kHz, flat: ``txt/<speaker>/<utt>.txt`` (one utterance per file) beside the audio, either
``wav48/<speaker>/<utt>.wav`` (release 0.80, "VCTK-Corpus") or ``wav48_silence_trimmed/<speaker>/<utt>_mic1.flac``
(release 0.92, two microphones; ``MIC`` picks one).

Our own parser, not lhotse's: lhotse's ``prepare_vctk`` stops the whole corpus with an exception at a
transcript without audio, which the real corpus has (p280 on mic2, some of p362), and needs
``speaker-info.txt``. Here stage 1's check lists each transcript without audio and leaves it out
(``TRANSCRIPTS``), and ``speaker-info.txt`` only adds gender, age and accent when it is there. Speaker p315 has
audio but no transcripts: its audio is listed as "not in the transcripts". The text is the transcript as
written (VCTK's sentences are plain prose; numbers are rare and stage 2 spells them).
"""
import logging
from pathlib import Path
from typing import Dict

from valle.corpus.base import CorpusInfo
from valle.corpus.transcripts import LineFormat

MIC = "mic1"
# Where a transcript's audio may be, relative to its folder txt/<speaker>/, first match wins.
AUDIO = ("../../wav48/{parent}/{id}.wav", f"../../wav48_silence_trimmed/{{parent}}/{{id}}_{MIC}.flac")
TRANSCRIPTS = (LineFormat("txt/*/*.txt", ("text",), whole_file=True, audio=AUDIO),)
URL = "https://datashare.ed.ac.uk/handle/10283/3443"


def _speaker_info(corpus_dir: Path) -> Dict[str, dict]:
    """speaker-info.txt: "ID AGE GENDER ACCENTS REGION" (0.80 writes ids without their "p")."""
    path = corpus_dir / "speaker-info.txt"
    if not path.is_file():
        return {}
    info = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 4:
            spk = fields[0] if fields[0][:1].isalpha() else f"p{fields[0]}"
            info[spk] = {"age": fields[1], "gender": fields[2], "accent": fields[3]}
    return info


def prepare_vctk(corpus_dir, output_dir=None):
    from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

    corpus_dir = Path(corpus_dir)
    meta = _speaker_info(corpus_dir)
    recordings, supervisions = [], []
    for txt in sorted((corpus_dir / "txt").glob("*/*.txt")):
        audio = TRANSCRIPTS[0].audio_path(txt, txt.stem)
        if not audio.is_file():  # stage 1 leaves such transcripts out before; this is for other callers
            logging.warning(f"{txt}: no audio, utterance skipped")
            continue
        speaker, utt_id = txt.parent.name, txt.stem
        recording = Recording.from_file(audio, recording_id=utt_id)
        info = meta.get(speaker, {})
        recordings.append(recording)
        supervisions.append(SupervisionSegment(
            id=utt_id, recording_id=utt_id, start=0.0, duration=recording.duration, channel=0,
            text=" ".join(txt.read_text(encoding="utf-8").split()), language="English", speaker=speaker,
            gender=info.get("gender"), custom={k: info[k] for k in ("age", "accent") if k in info} or None))
    return {"recordings": RecordingSet.from_recordings(recordings),
            "supervisions": SupervisionSet.from_segments(supervisions)}


def download_vctk(corpus_dir: Path) -> None:
    """lhotse's downloader: release 0.80 from CSTR into <parent>/VCTK-Corpus (resumable, then extracted)."""
    from lhotse.recipes import download_vctk as lhotse_download

    lhotse_download(target_dir=Path(corpus_dir).parent)


INFO = CorpusInfo(prepare_vctk, home=URL, transcripts=TRANSCRIPTS, download=download_vctk,
                  download_dir_name="VCTK-Corpus")
