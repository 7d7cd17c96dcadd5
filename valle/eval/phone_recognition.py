"""Phone recognition with the recipe's own stage-3 hybrid ASR, to score synthesized speech.

The DNN-HMM trained in stage 3 (``exp/<recipe>/align``) decodes audio through a phone-bigram HCLG whose
bigram is estimated from the training parts' stage-3 phone alignments (the same recipe stage 3 uses for
the unlabeled parts). Features are normalized per speaker over the utterances given together, as Kaldi's
per-speaker CMVN does, so pass one system's utterances of one speaker (or more) in one call.
Hypotheses drop silence and merge consecutive repeats, like the TTS phone sequences the models learn.
"""
import gzip
import json
import logging
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from valle.align import features as F
from valle.align.pipeline import AlignOptions, Aligner, Utterance, normalized, phone_items
from valle.text.lexicon import SIL, SPN

NON_SPEECH = (SIL, SPN)


def tts_phones(phones: Sequence[str]) -> List[str]:
    """Silence and spoken noise dropped, consecutive repeats merged."""
    out: List[str] = []
    for p in phones:
        if p not in NON_SPEECH and (not out or out[-1] != p):
            out.append(p)
    return out


def alignment_phone_sequences(cuts_paths: Sequence[Path]) -> List[List[str]]:
    """The (uncollapsed) stage-3 phone alignment of every supervision in aligned cut manifests."""
    seqs = []
    for path in cuts_paths:
        with gzip.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                for sup in json.loads(line).get("supervisions", []):
                    ali = (sup.get("alignment") or {}).get("phone")
                    if ali:
                        seqs.append([item[0] if isinstance(item, list) else item["symbol"] for item in ali])
    return seqs


class PhoneRecognizer:
    def __init__(self, lang_dir: Path, align_dir: Path, bigram_cuts: Sequence[Path], frame_shift_ms: int = 10,
                 engine: str = "auto", acoustic_scale: float = 1.0):
        """lang_dir: stage 2; align_dir: stage 3's exp dir (gmm/, dnn/); bigram_cuts: aligned cut manifests
        of the training parts (stage 3's data/<recipe>/aligned/cuts_<part>.jsonl.gz). acoustic_scale: on top
        of the 10 ms DNN's own 0.3; 1.0 measured best on mini (held-out PER 14.1 % vs 15.6 % at stage 3's
        0.5), and a weakly trained DNN collapses to one phone per utterance at 0.5 (tiny test corpus)."""
        align_dir = Path(align_dir)
        for f in (align_dir / "gmm" / ".done", align_dir / "dnn" / ".done"):
            if not f.is_file():
                raise FileNotFoundError(f"expected {f} to exist (stage 3 trains the phone recognizer)")
        for path in bigram_cuts:
            if not Path(path).is_file():
                raise FileNotFoundError(f"expected {path} to exist (stage 3 writes the aligned cuts)")
        self.aligner = Aligner(lang_dir, align_dir, align_dir, AlignOptions(
            dnn_frame_shift_ms=frame_shift_ms, engine=engine, decode_acoustic_scale=acoustic_scale))
        phone2id = self.aligner.lang.phone2id
        seqs = alignment_phone_sequences(bigram_cuts)
        if not seqs:
            raise ValueError(f"no phone alignments in {[str(p) for p in bigram_cuts]}")
        costs, order = self.aligner.phone_bigram_from_sequences([[phone2id[p] for p in s if p in phone2id]
                                                                 for s in seqs])
        self.hclg = self.aligner.phone_bigram_hclg(costs, order)
        logging.info("phone recognizer: DNN-HMM at %d ms, phone bigram from %d utterances", frame_shift_ms,
                     len(seqs))

    def recognize(self, utts: Sequence[Tuple[str, str, np.ndarray]]) -> Tuple[Dict[str, List[str]], Dict[str, str]]:
        """utts: (id, speaker, 16 kHz float audio) -> ({id: phones}, {id: failure reason})."""
        items = [Utterance(uid, "", spk, "", 0.0, len(audio) / F.SAMPLE_RATE, None) for uid, spk, audio in utts]
        fbank = normalized({uid: F.fbank(audio) for uid, _, audio in utts}, items)
        hmm, s, results, failures = self.aligner.decode(self.hclg, items, fbank)
        hyps = {u.id: tts_phones([p for p, _, _ in phone_items(hmm, results[u.id], s, u.duration)])
                for u in items if u.id in results}
        return hyps, failures
