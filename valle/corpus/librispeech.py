"""LibriSpeech (openslr 12): 960 h of read English with transcripts, 16 kHz flac. Labeled: trains the stage-3
ASR and is force-aligned. lhotse's own recipe parses it."""
from valle.corpus.base import CorpusInfo
from valle.corpus.transcripts import LineFormat

# <part>/<speaker>/<chapter>/<speaker>-<chapter>.trans.txt: "<speaker>-<chapter>-<utt> TEXT", audio beside it.
TRANSCRIPTS = (LineFormat("**/*.trans.txt", ("id", "text"), id_pattern=r"{stem}-\d+", audio="{id}.flac"),)


def prepare_librispeech(corpus_dir, dataset_parts, output_dir=None, num_jobs=1):
    from lhotse.recipes import prepare_librispeech as lhotse_prepare

    return lhotse_prepare(corpus_dir, dataset_parts=list(dataset_parts), output_dir=None, num_jobs=num_jobs)


INFO = CorpusInfo(prepare_librispeech, (
    "dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360", "train-other-500"), "https://www.openslr.org/12",
    transcripts=TRANSCRIPTS)
