"""The one prepare function a new corpus needs (template: copy it next to your conf.sh).

Reads the layout described in egs/template/conf.sh:

    <corpus_dir>/<part>/metadata.csv                 "utterance_id|speaker|transcript" per line
    <corpus_dir>/<part>/wavs/<utterance_id>.wav

and returns lhotse manifests exactly like lhotse's own ``prepare_*`` recipes:
``{part: {"recordings": RecordingSet, "supervisions": SupervisionSet}}``.

Stage 1 (local/prepare_manifests.py) does the rest for every corpus alike: it checks the corpus
directory, skips and counts unreadable audio before this function sees it, validates and fixes the
manifests, writes them atomically, builds cuts and prints the summary. So this function only has to
parse your layout. Declare the layout of your metadata lines in TRANSCRIPTS below: stage 1 then checks
every line before this function reads the file, and lists the ones it cannot use (no text, bad or
duplicated id, stray characters, wrong encoding, missing audio) in manifests/skipped_<corpus>.tsv, so
one bad line never stops a part.
"""
import logging
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

from lhotse import Recording, RecordingSet, SupervisionSegment, SupervisionSet

from valle.corpus.transcripts import LineFormat

# <part>/metadata.csv, "utterance_id|speaker|transcript" per line; the audio is <part>/wavs/<utterance_id>.wav.
TRANSCRIPTS = [LineFormat("metadata.csv", ("id", "speaker", "text"), separator="|", audio="wavs/{id}.wav")]


def prepare_mycorpus(
    corpus_dir: Union[str, Path],
    dataset_parts: Sequence[str],
    output_dir: Optional[Union[str, Path]] = None,
    num_jobs: int = 1,
) -> Dict[str, Dict[str, Union[RecordingSet, SupervisionSet]]]:
    corpus_dir = Path(corpus_dir)
    manifests = {}
    for part in dataset_parts:
        metadata = corpus_dir / part / "metadata.csv"
        recordings, supervisions = [], []
        for lineno, line in enumerate(metadata.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            fields = line.split("|")
            if len(fields) != 3:  # stage 1 has left such lines out already; this is for other callers
                raise ValueError(f"{metadata}:{lineno}: expected 'id|speaker|text', got {line!r}")
            utt_id, speaker, text = (f.strip() for f in fields)
            wav = corpus_dir / part / "wavs" / f"{utt_id}.wav"
            if not wav.is_file():
                # Also the case for audio stage 1 found unreadable: it hides those from this
                # function and lists them with the reason in manifests/skipped_<corpus>.tsv.
                logging.warning(f"{metadata}:{lineno}: no audio file {wav}, utterance skipped")
                continue
            recording = Recording.from_file(wav, recording_id=utt_id)
            recordings.append(recording)
            supervisions.append(
                SupervisionSegment(
                    id=utt_id,
                    recording_id=utt_id,
                    start=0.0,
                    duration=recording.duration,
                    channel=0,
                    text=text,
                    speaker=speaker,
                    language="English",
                )
            )
        manifests[part] = {
            "recordings": RecordingSet.from_recordings(recordings),
            "supervisions": SupervisionSet.from_segments(supervisions),
        }
    return manifests
