"""Stage 3: hybrid DNN-HMM phone alignment, step by step (each step's artifacts under ``exp_dir``).

  feats/    MFCC+deltas (GMM) and fbank (DNN) per supervision, per-speaker CMVN          (step a)
  gmm/      monophone GMM-HMM: flat start, EM, splitting, re-alignment; alignments         (step b)
  dnn/      TDNN on the GMM state alignments, 30 ms output, priors                        (step c)
  ali/      DNN-HMM forced alignments of the labeled parts; failed_<part>.tsv             (step d)
  decode/   phone bigram (ARPA) + HCLG; best paths of the unlabeled parts                  (step e)
  inspect/  TextGrids and PNG plots of a few utterances                                   (step g)
and the cuts with alignments (step f) under ``aligned_dir/cuts_<part>.jsonl.gz``.
"""
import collections
import json
import logging
import time
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from valle.align import features as F
from valle.align.config import AlignConfig
from valle.align.dnn import save_dnn, train_dnn
from valle.align.engine import AlignEngine, get_engine
from valle.align.gmm import gmm_loglikes_all, train_gmm
from valle.align.hmm import HmmSystem
from valle.align.hybrid import DecodeResult, HybridAsr, Utterance, make_hmm
from valle.align.phone_lm import estimate_bigram, write_arpa
from valle.text.lang_dir import LangDir
from valle.text.lexicon import SIL
from valle.utils.audio import load_mono
from valle.utils.io import atomic_path, write_text_atomic


def boundary_time(frame: int, subsampling: int) -> float:
    """Time of the boundary before output frame ``frame``: halfway between its centre and the previous one's."""
    if frame <= 0:
        return 0.0
    return F.FRAME_CENTRE_OFFSET + F.FRAME_SHIFT * (subsampling * frame - subsampling / 2)


# ----------------------------------------------------------------------------------------------- data
def load_utterances(manifest_dir: Path, part: str, texts: Optional[Dict[str, str]]) -> Tuple[list, dict]:
    """Supervisions of ``cuts_<part>`` as utterances; with ``texts`` (lang/text/<part>.txt) words attach."""
    from lhotse import CutSet

    cuts = CutSet.from_file(Path(manifest_dir) / f"cuts_{part}.jsonl.gz")
    utts, cut_map = [], {}
    for cut in cuts:
        cut_map[cut.id] = cut
        for sup in cut.supervisions:
            words = None
            if texts is not None:
                words = texts.get(sup.id, "").split()
            utts.append(Utterance(sup.id, part, sup.speaker or cut.id, cut.id, sup.start, sup.duration, words))
    return utts, cut_map


def utterance_samples(audio: np.ndarray, u: Utterance, cut) -> np.ndarray:
    """The samples of ``u`` in its cut's 16 kHz audio."""
    a = int(round((u.start - cut.start) * F.SAMPLE_RATE))
    return audio[max(0, a): a + int(round(u.duration * F.SAMPLE_RATE))]


def compute_features(utts: List[Utterance], cut_map: dict, out_path: Path) -> None:
    """Raw MFCC+deltas and fbank per utterance into one HDF5 file (datasets mfcc/<id>, fbank/<id>)."""
    import h5py
    from tqdm import tqdm

    by_cut = collections.defaultdict(list)
    for u in utts:
        by_cut[u.cut_id].append(u)
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as h5:
        for cut_id, us in tqdm(by_cut.items(), desc=f"features {out_path.stem}", mininterval=5):
            audio = load_mono(cut_map[cut_id], F.SAMPLE_RATE)
            for u in us:
                seg = utterance_samples(audio, u, cut_map[cut_id])
                h5.create_dataset(f"mfcc/{u.id}", data=F.mfcc(seg))
                h5.create_dataset(f"fbank/{u.id}", data=F.fbank(seg))


def read_features(path: Path, kind: str, utts: List[Utterance]) -> Dict[str, np.ndarray]:
    import h5py

    with h5py.File(path, "r") as h5:
        return {u.id: h5[f"{kind}/{u.id}"][()] for u in utts}


def normalized(feats: Dict[str, np.ndarray], utts: List[Utterance]) -> Dict[str, torch.Tensor]:
    spk = {u.id: u.speaker for u in utts}
    cmvn = F.Cmvn.estimate((spk[k], v) for k, v in feats.items())
    return {k: torch.from_numpy(cmvn.apply(spk[k], v)) for k, v in feats.items()}


# ------------------------------------------------------------------------------------- alignment output
def words_from_phones(words: Sequence[str], phones: List[Tuple[str, float, float]],
                      lexicon: Dict[str, List[Tuple[str, ...]]]) -> Optional[List[Tuple[str, float, float]]]:
    """Word timings from the aligned phones (silence removed): match each word's pronunciations in order."""
    seq = [p for p in phones if p[0] != SIL]
    labels = [p[0] for p in seq]

    def match(wi: int, pi: int):
        if wi == len(words):
            return [] if pi == len(labels) else None
        for pron in sorted(lexicon.get(words[wi], []), key=len, reverse=True):
            if tuple(labels[pi:pi + len(pron)]) == pron:
                rest = match(wi + 1, pi + len(pron))
                if rest is not None:
                    return [(words[wi], seq[pi][1], seq[pi + len(pron) - 1][2])] + rest
        return None

    import sys
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 4 * len(words) + 100))
    return match(0, 0)


def phone_items(hmm: HmmSystem, tids: Sequence[int], subsampling: int, duration: float) -> List[Tuple[str, float, float]]:
    items = []
    for seg in hmm.segments_from_alignment(tids):
        s = boundary_time(seg.start, subsampling)
        e = min(duration, boundary_time(seg.start + seg.num_frames, subsampling))
        if seg.start + seg.num_frames == len(tids):
            e = duration
        items.append((hmm.id2phone[seg.phone], s, max(e, s)))
    return items


def collapse_repeats(items: List[Tuple[str, float, float]]) -> List[Tuple[str, float, float]]:
    """The TTS phone sequence: consecutive identical phones merged into one, durations summed (the paper's
    'consecutive repetitions removed')."""
    out: List[Tuple[str, float, float]] = []
    for label, s, e in items:
        if out and out[-1][0] == label:
            out[-1] = (label, out[-1][1], e)
        else:
            out.append((label, s, e))
    return out


# ------------------------------------------------------------------------------------------- the steps
class AlignResult(NamedTuple):
    hmm: HmmSystem
    subsampling: int
    alignments: Dict[str, List[int]]   # utterance id -> transition ids
    failures: Dict[str, str]           # utterance id -> reason
    retried: int                       # utterances that needed a wider beam


class Aligner:
    """The steps of stage 3 over a corpus's parts (features, GMM, DNN, alignment, decoding), each resuming
    from its artifacts under ``exp_dir``; the trained models are ``self.asr``."""

    def __init__(self, lang_dir: Path, manifest_dir: Path, exp_dir: Path, cfg: AlignConfig = AlignConfig()):
        self.lang = LangDir(lang_dir)
        self.manifest_dir, self.exp_dir, self.cfg = Path(manifest_dir), Path(exp_dir), cfg
        self.engine: AlignEngine = get_engine(cfg.engine)
        logging.info("FSA engine: %s", self.engine.name)
        self.asr = HybridAsr(self.lang, self.exp_dir, cfg, self.engine)
        self.utts: Dict[str, List[Utterance]] = {}
        self.cuts: Dict[str, dict] = {}
        self._hclg = None  # the phone-bigram HCLG, built at the first unlabeled part

    def part_utts(self, part: str, labeled: bool) -> List[Utterance]:
        if part not in self.utts:
            texts = self.lang.text(part) if labeled else None
            self.utts[part], self.cuts[part] = load_utterances(self.manifest_dir, part, texts)
        return self.utts[part]

    # a. features
    def features_path(self, part: str, labeled: bool) -> Path:
        """The part's raw MFCC + fbank file, computed on first use."""
        path = self.exp_dir / "feats" / f"{part}.h5"
        if not path.is_file():
            t0 = time.time()
            utts = self.part_utts(part, labeled)
            compute_features(utts, self.cuts[part], path)
            secs = sum(u.duration for u in utts)
            logging.info("features %s: %d utterances, %.1f min of audio in %.1f s", part, len(utts), secs / 60,
                         time.time() - t0)
        return path

    def normalized_features(self, part: str, labeled: bool, kind: str) -> Dict[str, torch.Tensor]:
        utts = self.part_utts(part, labeled)
        return normalized(read_features(self.features_path(part, labeled), kind, utts), utts)

    def graphs(self, hmm: HmmSystem, utts: List[Utterance]) -> Tuple[dict, dict]:
        graphs, failures = {}, {}
        for u in utts:
            if not u.words:
                failures[u.id] = "empty transcript"
                continue
            try:
                graphs[u.id] = hmm.training_graph(u.words)
            except KeyError as e:
                failures[u.id] = f"transcript mismatch: {e.args[0]}"
        return graphs, failures

    # b. GMM
    def train_gmm(self, train_parts: Sequence[str]) -> None:
        out = self.exp_dir / "gmm"
        if (out / ".done").is_file():
            return
        t0 = time.time()
        hmm = make_hmm(self.lang, "3state")
        feats, graphs, failures = {}, {}, {}
        for part in train_parts:
            feats.update(self.normalized_features(part, True, "mfcc"))
            g, f = self.graphs(hmm, self.part_utts(part, True))
            graphs.update(g)
            failures.update(f)
        gmm, alignments, fail2, rows = train_gmm(hmm, feats, graphs, self.engine, self.cfg.gmm, self.cfg.beams)
        failures.update(fail2)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "final.pt") as tmp:
            torch.save({"gmm": gmm.state_dict(), "alignments": alignments, "failures": failures, "log": rows}, tmp)
        write_failures(out / "failed_train.tsv", failures)
        secs = sum(len(v) for v in feats.values()) * F.FRAME_SHIFT
        logging.info("GMM trained on %d utterances (%.1f min) in %.1f s; %d failed", len(alignments), secs / 60,
                     time.time() - t0, len(failures))
        (out / ".done").write_text(json.dumps({"seconds": time.time() - t0, "audio_seconds": secs}) + "\n")

    def gmm_align(self, part: str) -> Dict[str, List[Tuple[str, float, float]]]:
        """GMM forced alignment of a labeled part (phones with times), for comparison with the DNN."""
        hmm, gmm, _ = self.asr.gmm_system()
        utts = self.part_utts(part, True)
        feats = self.normalized_features(part, True, "mfcc")
        graphs, _ = self.graphs(hmm, utts)
        lls = gmm_loglikes_all(gmm, hmm, feats, [u.id for u in utts if u.id in graphs], self.cfg.gmm.acoustic_scale)
        out = {}
        for u in utts:
            if u.id not in graphs:
                continue
            g = hmm.with_transition_probs(graphs[u.id], 1.0, self.cfg.gmm.self_loop_scale)
            res = self.engine.align(g, lls[u.id], self.cfg.beams, u.id)
            if res.tids is not None:
                out[u.id] = phone_items(hmm, res.tids, 1, u.duration)
        return out

    # c. DNN
    def train_dnn(self, train_parts: Sequence[str]) -> None:
        """The DNN learns the GMM's HMM-state (pdf) alignments: one label per 30 ms output frame."""
        out = self.exp_dir / "dnn"
        if (out / ".done").is_file():
            return
        t0 = time.time()
        gmm_hmm, _, ckpt = self.asr.gmm_system()
        items = {}
        for part in train_parts:
            fb = self.normalized_features(part, True, "fbank")
            for uid, tids in ckpt["alignments"].items():
                if uid in fb:
                    pdfs = gmm_hmm.pdfs_from_alignment(tids)
                    n = min(len(pdfs), len(fb[uid]))
                    items[uid] = (fb[uid][:n], pdfs[:n])
        valid = sorted(items)[::20]  # 5 % held out for the frame accuracy printed per epoch
        model, log_priors, history = train_dnn(items, gmm_hmm.num_pdfs, self.cfg.dnn, valid)
        out.mkdir(parents=True, exist_ok=True)
        save_dnn(out / "final.pt", model, log_priors, {"history": history})
        (out / ".done").write_text(json.dumps({"seconds": time.time() - t0, "history": history[-1]}) + "\n")
        logging.info("DNN trained in %.1f s", time.time() - t0)

    # d. DNN-HMM forced alignment
    def dnn_align(self, part: str, frame_shift_ms: Optional[int] = None) -> AlignResult:
        """Forced alignment of a labeled part at ``frame_shift_ms`` (default: the configured one)."""
        hmm, s, loglikes = self.asr.dnn_system(frame_shift_ms or self.cfg.dnn_frame_shift_ms)
        utts = self.part_utts(part, True)
        fb = self.normalized_features(part, True, "fbank")
        graphs, failures = self.graphs(hmm, utts)
        scale = self.cfg.dnn_acoustic_scale if s > 1 else self.cfg.dnn_acoustic_scale_10ms
        self_loop = self.asr.self_loop_scale(s)
        # Kaldi's beam and retry beam, then a last resort wide enough for a weak model (small corpora).
        beams = (*self.cfg.beams, self.cfg.retry_beam * self.cfg.last_retry_factor)
        alignments, retried = {}, 0
        for u in utts:
            if u.id not in graphs:
                continue
            ll = loglikes(fb[u.id], scale)
            g = hmm.with_transition_probs(graphs[u.id], 1.0, self_loop)
            res = self.engine.align(g, ll, beams, u.id)
            retried += res.retried
            if res.tids is None:
                min_frames = sum(min(len(p) for p in self.lang.lexicon.get(w, [()])) for w in u.words) * hmm.min_frames
                failures[u.id] = (f"too short: {len(ll)} frames for at least {min_frames}" if len(ll) < min_frames
                                  else res.reason)
            else:
                alignments[u.id] = res.tids
        return AlignResult(hmm, s, alignments, failures, retried)

    # e. unlabeled decoding
    def decode_unlabeled(self, part: str, train_alignments: List[List[int]]) -> DecodeResult:
        """Best paths of an unlabeled part; the phone bigram and HCLG are built from ``train_alignments``
        at the first call and reused for the other parts."""
        if self._hclg is None:
            hmm = self.asr.dnn_system(self.cfg.dnn_frame_shift_ms).hmm
            bigram = estimate_bigram(([s.phone for s in hmm.segments_from_alignment(tids)] for tids in train_alignments),
                                     self.lang.phones, self.cfg.bigram_add_k)
            out = self.exp_dir / "decode"
            out.mkdir(parents=True, exist_ok=True)
            write_arpa(out / "phone_bigram.arpa", bigram, self.lang.phones)
            self._hclg = self.asr.phone_bigram_hclg(bigram)
            self._hclg.write(str(out / "HCLG.fst"))
        return self.asr.decode(self._hclg, self.part_utts(part, False),
                               self.normalized_features(part, False, "fbank"))


def write_failures(path: Path, failures: Dict[str, str]) -> None:
    write_text_atomic(path, "utterance\treason\n" + "".join(f"{k}\t{v}\n" for k, v in sorted(failures.items())))


def alignment_items(items, offset: float):
    from lhotse.supervision import AlignmentItem

    return [AlignmentItem(symbol=l, start=round(s + offset, 4), duration=round(max(e - s, 0.0), 4)) for l, s, e in items]


def write_aligned_cuts(cut_map: dict, utts: List[Utterance], phones: Dict[str, list], words: Dict[str, list],
                       out_path: Path) -> Tuple[int, int]:
    """Cuts whose supervisions all have alignments, with alignment {"phone", "tts_phone", and "word" when known}.
    Returns (cuts written, cuts left out)."""
    from lhotse import CutSet

    by_id = {u.id: u for u in utts}
    kept, dropped = [], 0
    for cut in cut_map.values():
        sups = []
        for sup in cut.supervisions:
            if sup.id not in phones:
                break
            ali = {"phone": alignment_items(phones[sup.id], sup.start),
                   "tts_phone": alignment_items(collapse_repeats(phones[sup.id]), sup.start)}
            if sup.id in words:
                ali["word"] = alignment_items(words[sup.id], sup.start)
            u = by_id[sup.id]
            sups.append(replace(sup, alignment=ali, text=" ".join(u.words) if u.words else sup.text))
        else:
            kept.append(replace(cut, supervisions=sups))
            continue
        dropped += 1
    with atomic_path(out_path) as tmp:
        CutSet.from_cuts(kept).to_file(tmp)
    return len(kept), dropped
