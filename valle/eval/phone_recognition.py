"""Phone recognition with the recipe's own stage-3 hybrid ASR, to score synthesized speech.

The DNN-HMM trained in stage 3 (``exp/<recipe>/align``) decodes audio through a phone-bigram HCLG whose
bigram is estimated from the training parts' stage-3 phone alignments (the same recipe stage 3 uses for
the unlabeled parts). Features are normalized per speaker over the utterances given together, as Kaldi's
per-speaker CMVN does, so pass one system's utterances of one speaker (or more) in one call.
Hypotheses drop silence and merge consecutive repeats, like the TTS phone sequences the models learn.
"""
import json
import logging
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np

from valle.align import features as F
from valle.align.config import AlignConfig
from valle.align.engine import get_engine
from valle.align.hybrid import HybridAsr, Utterance
from valle.align.phone_lm import aligned_phone_sequences, estimate_bigram
from valle.align.pipeline import normalized, phone_items
from valle.text.lang_dir import LangDir
from valle.text.lexicon import SIL, SPN

NON_SPEECH = (SIL, SPN)


def tts_phones(phones: Sequence[str]) -> List[str]:
    """Silence and spoken noise dropped, consecutive repeats merged."""
    out: List[str] = []
    for p in phones:
        if p not in NON_SPEECH and (not out or out[-1] != p):
            out.append(p)
    return out


class PhoneRecognizer:
    def __init__(self, lang_dir: Path, align_dir: Path, bigram_cuts: Sequence[Path], acoustic_scale: float = 1.0):
        """lang_dir: stage 2; align_dir: stage 3's exp dir (gmm/, dnn/); bigram_cuts: aligned cut manifests
        of the training parts (stage 3's data/<recipe>/aligned/cuts_<part>.jsonl.gz). The frame shift is
        and the FSA engine are those stage 3 aligned with (its summary.json). acoustic_scale: on top of the 10 ms DNN's own 0.3;
        1.0 measured best on mini (held-out PER 14.1 % vs 15.6 % at stage 3's 0.5), and a weakly trained DNN
        collapses to one phone per utterance at 0.5 (tiny test corpus)."""
        align_dir = Path(align_dir)
        for f in (align_dir / "gmm" / ".done", align_dir / "dnn" / ".done"):
            if not f.is_file():
                raise FileNotFoundError(f"expected {f} to exist (stage 3 trains the phone recognizer)")
        for path in bigram_cuts:
            if not Path(path).is_file():
                raise FileNotFoundError(f"expected {path} to exist (stage 3 writes the aligned cuts)")
        self.frame_shift_ms, engine = stage3_settings(align_dir)
        lang = LangDir(lang_dir)
        cfg = AlignConfig(dnn_frame_shift_ms=self.frame_shift_ms, engine=engine, decode_acoustic_scale=acoustic_scale)
        self.asr = HybridAsr(lang, align_dir, cfg, get_engine(engine))
        seqs = aligned_phone_sequences(bigram_cuts)
        if not seqs:
            raise ValueError(f"no phone alignments in {[str(p) for p in bigram_cuts]}")
        bigram = estimate_bigram(([lang.phones[p] for p in s if p in lang.phones] for s in seqs), lang.phones,
                                 cfg.bigram_add_k)
        self.hclg = self.asr.phone_bigram_hclg(bigram)
        logging.info("phone recognizer: DNN-HMM at %d ms, phone bigram from %d utterances", self.frame_shift_ms,
                     len(seqs))

    def recognize(self, utts: Sequence[Tuple[str, str, np.ndarray]]) -> Tuple[Dict[str, List[str]], Dict[str, str]]:
        """utts: (id, speaker, 16 kHz float audio) -> ({id: phones}, {id: failure reason})."""
        items = [Utterance(uid, "", spk, "", 0.0, len(audio) / F.SAMPLE_RATE, None) for uid, spk, audio in utts]
        fbank = normalized({uid: F.fbank(audio) for uid, _, audio in utts}, items)
        hmm, s, results, failures = self.asr.decode(self.hclg, items, fbank)
        hyps = {u.id: tts_phones([p for p, _, _ in phone_items(hmm, results[u.id], s, u.duration)])
                for u in items if u.id in results}
        return hyps, failures


def stage3_settings(align_dir: Path) -> Tuple[int, str]:
    """(DNN frame shift in ms, FSA engine) stage 3 ran with, from its summary.json (10 ms and auto for a
    summary that predates the field), so the recognizer decodes as the aligner did."""
    path = Path(align_dir) / "summary.json"
    summary = json.loads(path.read_text()) if path.is_file() else {}
    return int(summary.get("dnn_frame_shift_ms", 10)), summary.get("engine", "auto")
