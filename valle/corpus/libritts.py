"""LibriTTS (openslr 60): LibriSpeech re-segmented for TTS at 24 kHz, with normalized text. lhotse's recipe
parses it."""
from valle.corpus.base import CorpusInfo
from valle.corpus.transcripts import LineFormat

# <part>/<speaker>/<chapter>/<speaker>_<chapter>.trans.tsv: "id<TAB>original text<TAB>normalized text".
TRANSCRIPTS = (LineFormat("**/*.trans.tsv", ("id", "original_text", "text"), separator="\t",
                          id_pattern=r"{stem}_\d+_\d+", audio="{id}.wav"),)


def prepare_libritts(corpus_dir, dataset_parts, output_dir=None, num_jobs=1):
    from lhotse.recipes import prepare_libritts as lhotse_prepare

    return lhotse_prepare(corpus_dir, dataset_parts=list(dataset_parts), output_dir=None, num_jobs=num_jobs)


INFO = CorpusInfo(prepare_libritts, (
    "dev-clean", "dev-other", "test-clean", "test-other", "train-clean-100", "train-clean-360", "train-other-500"), "https://www.openslr.org/60",
    transcripts=TRANSCRIPTS)
