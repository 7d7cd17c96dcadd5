"""LJSpeech 1.1 (keithito.com): 13,100 clips of one reader, 24 h, 22.05 kHz, flat (``metadata.csv`` + ``wavs/``).

lhotse's parser reads it. The text used is the corpus's **normalized** column: its authors' reading of
numbers, years, ordinals and abbreviations ("1963" -> "nineteen sixty-three", "Mr." -> "Mister"), which is
what the reader said more often than a rule applied afresh; the raw column is kept on each supervision as
``custom["original_text"]``. The corpus names no speaker: every clip is speaker ``LJ``. It has no part
folders: a split rule in the conf divides it (egs/ljspeech/conf.sh).
"""
from pathlib import Path

from valle.corpus.base import CorpusInfo
from valle.corpus.transcripts import LineFormat

# metadata.csv: "LJ001-0001|raw text|normalized text"; the audio is wavs/LJ001-0001.wav. No header line.
TRANSCRIPTS = (LineFormat("metadata.csv", ("id", "original_text", "text"), separator="|", audio="wavs/{id}.wav"),)
SPEAKER = "LJ"
URL = "https://data.keithito.com/data/speech/LJSpeech-1.1.tar.bz2"


def prepare_ljspeech(corpus_dir, output_dir=None):
    from lhotse.recipes import prepare_ljspeech as lhotse_prepare
    from lhotse.utils import fastcopy

    from lhotse import SupervisionSet

    manifests = lhotse_prepare(corpus_dir, output_dir=None)
    supervisions = SupervisionSet.from_segments([
        fastcopy(s, text=(s.custom or {}).get("normalized_text") or s.text, speaker=s.speaker or SPEAKER,
                 custom={**{k: v for k, v in (s.custom or {}).items() if k != "normalized_text"},
                         "original_text": s.text})
        for s in manifests["supervisions"]])
    return {"recordings": manifests["recordings"], "supervisions": supervisions}


def download_ljspeech(corpus_dir: Path) -> None:
    """lhotse's downloader writes <parent>/LJSpeech-1.1 (resumable, then extracted)."""
    from lhotse.recipes import download_ljspeech as lhotse_download

    lhotse_download(target_dir=Path(corpus_dir).parent)


INFO = CorpusInfo(prepare_ljspeech, home=URL, transcripts=TRANSCRIPTS, download=download_ljspeech,
                  download_dir_name="LJSpeech-1.1")
