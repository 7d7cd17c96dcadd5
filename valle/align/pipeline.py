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
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from valle.align import features as F
from valle.align.dnn import DnnConfig, load_dnn, save_dnn, scaled_loglikes, train_dnn
from valle.align.engine import AlignEngine, get_engine
from valle.align.gmm import DiagGmmSet, GmmConfig, gmm_loglikes_all, train_gmm
from valle.align.hmm import HmmSystem
from valle.text.lexicon import SIL, read_lexicon, read_symbol_table
from valle.utils.audio import load_mono
from valle.utils.io import atomic_path, write_text_atomic


@dataclass
class Utterance:
    id: str
    part: str
    speaker: str
    cut_id: str
    start: float                  # supervision start in the recording
    duration: float
    words: Optional[List[str]]    # None for unlabeled parts


@dataclass
class AlignOptions:
    gmm: GmmConfig = field(default_factory=GmmConfig)
    dnn: DnnConfig = field(default_factory=DnnConfig)
    dnn_frame_shift_ms: int = 10     # 10: DNN at every input phase, GMM graphs; 30: the paper's frame shift
    dnn_acoustic_scale: float = 1.0  # at 30 ms
    dnn_acoustic_scale_10ms: float = 0.3
    dnn_self_loop_scale: float = 1.0
    decode_acoustic_scale: float = 0.5
    decode_beam: float = 13.0
    bigram_add_k: float = 0.1
    beam: float = 10.0
    retry_beam: float = 40.0
    last_retry_factor: float = 10.0
    num_inspect: int = 3
    engine: str = "auto"


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


def read_text_file(path: Path) -> Dict[str, str]:
    out = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            k, _, v = line.partition(" ")
            out[k] = v.strip()
    return out


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


# ----------------------------------------------------------------------------------------------- lang
@dataclass
class Lang:
    phone2id: Dict[str, int]
    word2id: Dict[str, int]
    lexicon: Dict[str, List[Tuple[str, ...]]]
    info: dict

    @classmethod
    def load(cls, lang_dir: Path) -> "Lang":
        lang_dir = Path(lang_dir)
        for f in ("phones.txt", "words.txt", "lexicon.txt", "lang_info.json"):
            if not (lang_dir / f).is_file():
                raise FileNotFoundError(f"expected {lang_dir / f} to exist (stage 2 makes it)")
        return cls(read_symbol_table(lang_dir / "phones.txt"), read_symbol_table(lang_dir / "words.txt"),
                   read_lexicon(lang_dir / "lexicon.txt"), json.loads((lang_dir / "lang_info.json").read_text()))

    def hmm(self, topology: str) -> HmmSystem:
        return HmmSystem(self.phone2id, self.word2id, self.lexicon, topology)


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
class Aligner:
    def __init__(self, lang_dir: Path, manifest_dir: Path, exp_dir: Path, opts: AlignOptions = AlignOptions()):
        self.lang = Lang.load(lang_dir)
        self.lang_dir, self.manifest_dir, self.exp_dir, self.opts = Path(lang_dir), Path(manifest_dir), Path(exp_dir), opts
        self.engine: AlignEngine = get_engine(opts.engine)
        logging.info("FSA engine: %s", self.engine.name)
        self.utts: Dict[str, List[Utterance]] = {}
        self.cuts: Dict[str, dict] = {}
        # Trained models are read once per run, not once per part (they do not change after their step).
        self._gmm = None
        self._dnn_systems: Dict[int, tuple] = {}
        self._hclg: Dict[int, object] = {}  # frame shift -> phone-bigram HCLG

    def part_utts(self, part: str, labeled: bool) -> List[Utterance]:
        if part not in self.utts:
            texts = None
            if labeled:
                tf = self.lang_dir / "text" / f"{part}.txt"
                if not tf.is_file():
                    raise FileNotFoundError(f"expected {tf} to exist (stage 2 makes it; is {part} a labeled part?)")
                texts = read_text_file(tf)
            self.utts[part], self.cuts[part] = load_utterances(self.manifest_dir, part, texts)
        return self.utts[part]

    # a. features
    def features(self, part: str, labeled: bool) -> Path:
        path = self.exp_dir / "feats" / f"{part}.h5"
        if not path.is_file():
            t0 = time.time()
            utts = self.part_utts(part, labeled)
            compute_features(utts, self.cuts[part], path)
            secs = sum(u.duration for u in utts)
            logging.info("features %s: %d utterances, %.1f min of audio in %.1f s", part, len(utts), secs / 60,
                         time.time() - t0)
        return path

    def feats(self, part: str, labeled: bool, kind: str) -> Dict[str, torch.Tensor]:
        utts = self.part_utts(part, labeled)
        return normalized(read_features(self.features(part, labeled), kind, utts), utts)

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
        hmm = self.lang.hmm("3state")
        feats, graphs, failures = {}, {}, {}
        for part in train_parts:
            feats.update(self.feats(part, True, "mfcc"))
            g, f = self.graphs(hmm, self.part_utts(part, True))
            graphs.update(g)
            failures.update(f)
        gmm, alignments, fail2, rows = train_gmm(hmm, feats, graphs, self.engine, self.opts.gmm)
        failures.update(fail2)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "final.pt") as tmp:
            torch.save({"gmm": gmm.state_dict(), "alignments": alignments, "failures": failures, "log": rows}, tmp)
        write_failures(out / "failed_train.tsv", failures)
        secs = sum(len(v) for v in feats.values()) * F.FRAME_SHIFT
        logging.info("GMM trained on %d utterances (%.1f min) in %.1f s; %d failed", len(alignments), secs / 60,
                     time.time() - t0, len(failures))
        (out / ".done").write_text(json.dumps({"seconds": time.time() - t0, "audio_seconds": secs}) + "\n")

    def gmm_model(self) -> Tuple[HmmSystem, DiagGmmSet, dict]:
        if self._gmm is None:
            ckpt = torch.load(self.exp_dir / "gmm" / "final.pt", weights_only=False)
            hmm = self.lang.hmm("3state")
            hmm.update_transitions(list(ckpt["alignments"].values()))
            self._gmm = hmm, DiagGmmSet.from_state_dict(ckpt["gmm"]), ckpt
        return self._gmm

    def gmm_align(self, part: str) -> Dict[str, List[Tuple[str, float, float]]]:
        """GMM forced alignment of a labeled part (phones with times), for comparison with the DNN."""
        hmm, gmm, _ = self.gmm_model()
        utts = self.part_utts(part, True)
        feats = self.feats(part, True, "mfcc")
        graphs, _ = self.graphs(hmm, utts)
        lls = gmm_loglikes_all(gmm, hmm, feats, [u.id for u in utts if u.id in graphs], self.opts.gmm.acoustic_scale)
        out = {}
        for u in utts:
            if u.id not in graphs:
                continue
            g = hmm.with_transition_probs(graphs[u.id], 1.0, self.opts.gmm.self_loop_scale)
            res = self.engine.align(g, lls[u.id], (self.opts.beam, self.opts.retry_beam), u.id)
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
        gmm_hmm, _, ckpt = self.gmm_model()
        items = {}
        for part in train_parts:
            fb = self.feats(part, True, "fbank")
            for uid, tids in ckpt["alignments"].items():
                if uid in fb:
                    pdfs = gmm_hmm.pdfs_from_alignment(tids)
                    n = min(len(pdfs), len(fb[uid]))
                    items[uid] = (fb[uid][:n], pdfs[:n])
        valid = sorted(items)[::20]  # 5 % held out for the frame accuracy printed per epoch
        model, log_priors, history = train_dnn(items, gmm_hmm.num_pdfs, self.opts.dnn, valid)
        out.mkdir(parents=True, exist_ok=True)
        save_dnn(out / "final.pt", model, log_priors, {"history": history})
        (out / ".done").write_text(json.dumps({"seconds": time.time() - t0, "history": history[-1]}) + "\n")
        logging.info("DNN trained in %.1f s", time.time() - t0)

    def dnn_system(self, frame_shift_ms: int):
        """(HMM system, model, log priors, subsampling of the alignment frames, loglike function).

        10 ms: the network is run at every input phase (shifted by 0..s-1 frames) and its 30 ms outputs
        interleaved, giving state likelihoods every 10 ms for the GMM's own 3-state graphs.
        30 ms: the paper's frame shift; state posteriors summed per phone, one-state phone HMMs.
        """
        if frame_shift_ms not in self._dnn_systems:
            self._dnn_systems[frame_shift_ms] = self._load_dnn_system(frame_shift_ms)
        return self._dnn_systems[frame_shift_ms]

    def _load_dnn_system(self, frame_shift_ms: int):
        model, log_priors, _ = load_dnn(self.exp_dir / "dnn" / "final.pt")
        gmm_hmm, _, ckpt = self.gmm_model()
        s = model.cfg.subsampling
        if frame_shift_ms == 10:
            def loglikes(fbank, scale):
                return gmm_hmm.pdf_to_tid_matrix(interleaved_loglikes(model, fbank, log_priors) * scale)
            return gmm_hmm, 1, loglikes
        if frame_shift_ms != 10 * s:
            raise ValueError(f"DNN frame shift {frame_shift_ms} ms: expected 10 or {10 * s}")
        hmm = self.lang.hmm("1state")
        pdf_phone = np.zeros(gmm_hmm.num_pdfs, dtype=np.int64)
        for t in range(1, gmm_hmm.num_tids + 1):
            pdf_phone[gmm_hmm.tid2pdf[t]] = gmm_hmm.tid2phone[t]
        phone_pdf = {int(hmm.tid2phone[t]): int(hmm.tid2pdf[t]) for t in range(1, hmm.num_tids + 1)}
        member = torch.zeros(gmm_hmm.num_pdfs, hmm.num_pdfs)
        for pdf, ph in enumerate(pdf_phone):
            member[pdf, phone_pdf[int(ph)]] = 1.0
        phone_log_priors = torch.log(torch.exp(torch.from_numpy(log_priors)) @ member).numpy()
        # 30 ms transition probabilities from the GMM alignments read every s frames.
        hmm.update_transitions([hmm.tids_for_phone_frames(gmm_hmm.tid2phone[np.asarray(t)][::s])
                                for t in ckpt["alignments"].values()])

        def loglikes(fbank, scale):
            with torch.no_grad():
                logp = torch.log_softmax(model(fbank[None])[0], -1)
            phone_logp = torch.log((torch.exp(logp) @ member).clamp_min(1e-20)).numpy()
            return hmm.pdf_to_tid_matrix((phone_logp - phone_log_priors) * scale)
        return hmm, s, loglikes

    # d. DNN-HMM forced alignment
    def dnn_align(self, part: str) -> Tuple[HmmSystem, int, Dict[str, List[int]], Dict[str, str], int]:
        hmm, s, loglikes = self.dnn_system(self.opts.dnn_frame_shift_ms)
        utts = self.part_utts(part, True)
        fb = self.feats(part, True, "fbank")
        graphs, failures = self.graphs(hmm, utts)
        scale = self.opts.dnn_acoustic_scale if s > 1 else self.opts.dnn_acoustic_scale_10ms
        self_loop = self.opts.dnn_self_loop_scale if s > 1 else self.opts.gmm.self_loop_scale
        # Kaldi's beam and retry beam, then a last resort wide enough for a weak model (small corpora).
        beams = (self.opts.beam, self.opts.retry_beam, self.opts.retry_beam * self.opts.last_retry_factor)
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
        return hmm, s, alignments, failures, retried

    # e. unlabeled decoding
    def phone_bigram(self, train_alignments: List[List[int]], hmm: HmmSystem) -> Tuple[np.ndarray, List[int]]:
        return self.phone_bigram_from_sequences(
            [[s.phone for s in hmm.segments_from_alignment(tids)] for tids in train_alignments])

    def phone_bigram_from_sequences(self, phone_seqs: Sequence[Sequence[int]]) -> Tuple[np.ndarray, List[int]]:
        """(costs, order): -log P(next | previous) over the phones in ``order`` (add-k smoothed); the last
        row is the sentence start, the last column the sentence end. ``phone_seqs``: phone ids per utterance."""
        order = [i for p, i in sorted(self.lang.phone2id.items(), key=lambda x: x[1])
                 if i > 0 and not p.startswith("#") and p != "SPN"]
        index = {p: j for j, p in enumerate(order)}
        n = len(order)
        counts = np.zeros((n + 1, n + 1))
        for phones in phone_seqs:
            seq = [index[p] for p in phones if p in index]
            prev = n
            for j in seq:
                counts[prev, j] += 1
                prev = j
            counts[prev, n] += 1
        probs = (counts + self.opts.bigram_add_k) / (counts + self.opts.bigram_add_k).sum(1, keepdims=True)
        return -np.log(probs), order

    def write_arpa(self, path: Path, costs: np.ndarray, order: List[int]) -> None:
        """The bigram as ARPA (every bigram listed explicitly, so back-off weights are 0)."""
        id2p = {i: p for p, i in self.lang.phone2id.items()}
        names = [id2p[i] for i in order]
        n = len(order)
        uni = np.exp(-costs[n, :n])
        lines = ["\\data\\", f"ngram 1={n + 2}", f"ngram 2={(n + 1) * (n + 1)}", "", "\\1-grams:",
                 "-99\t<s>\t0", f"{-99}\t</s>"]
        lines += [f"{math.log10(max(u, 1e-99)):.5f}\t{p}\t0" for p, u in zip(names, uni)]
        lines += ["", "\\2-grams:"]
        for h in range(n + 1):
            hn = "<s>" if h == n else names[h]
            for j in range(n + 1):
                lines.append(f"{-costs[h, j] / math.log(10):.5f}\t{hn} {'</s>' if j == n else names[j]}")
        lines += ["", "\\end\\"]
        write_text_atomic(path, "\n".join(lines) + "\n")

    def decode_unlabeled(self, part: str, train_alignments: List[List[int]]):
        """Best paths of an unlabeled part; the phone bigram and HCLG are built from ``train_alignments``
        at the first call and reused for the other parts."""
        shift = self.opts.dnn_frame_shift_ms
        if shift not in self._hclg:
            hmm, _, _ = self.dnn_system(shift)
            costs, order = self.phone_bigram(train_alignments, hmm)
            out = self.exp_dir / "decode"
            out.mkdir(parents=True, exist_ok=True)
            self.write_arpa(out / "phone_bigram.arpa", costs, order)
            self._hclg[shift] = self.phone_bigram_hclg(costs, order)
            self._hclg[shift].write(str(out / "HCLG.fst"))
        utts = self.part_utts(part, False)
        return self.decode(self._hclg[shift], utts, self.feats(part, False, "fbank"))

    def phone_bigram_hclg(self, costs: np.ndarray, order: List[int]):
        """The phone-recognition graph for the DNN-HMM at the configured frame shift."""
        hmm, s, _ = self.dnn_system(self.opts.dnn_frame_shift_ms)
        self_loop = self.opts.dnn_self_loop_scale if s > 1 else self.opts.gmm.self_loop_scale
        return hmm.phone_bigram_graph(costs, order, self_loop_scale=self_loop)

    def decode(self, hclg, utts: Sequence[Utterance], fbank: Dict[str, torch.Tensor]):
        """Best paths through ``hclg`` of normalized fbank features -> (hmm, subsampling, results, failures)."""
        hmm, s, loglikes = self.dnn_system(self.opts.dnn_frame_shift_ms)
        scale = self.opts.decode_acoustic_scale * (1.0 if s > 1 else self.opts.dnn_acoustic_scale_10ms)
        results, failures = {}, {}
        for u in utts:
            ll = loglikes(fbank[u.id], scale)
            if len(ll) == 0:
                failures[u.id] = "no frames"
                continue
            res = self.engine.decode(hclg, ll, hmm.tm, self.opts.decode_beam, utt=u.id)
            if res.tids is None:
                failures[u.id] = res.reason
            else:
                results[u.id] = res.tids
        return hmm, s, results, failures


@torch.no_grad()
def interleaved_loglikes(model, fbank: torch.Tensor, log_priors: np.ndarray) -> np.ndarray:
    """Scaled log-likelihoods every input frame from a subsampling network: run it on the input shifted by
    0..s-1 frames; output i of shift k is centred on input frame k + s*i."""
    s = model.cfg.subsampling
    T = len(fbank)
    out = np.zeros((T, len(log_priors)), dtype=np.float32)
    for k in range(s):
        if k >= T:
            break
        ll = scaled_loglikes(model, fbank[k:], log_priors)
        idx = k + s * np.arange(len(ll))
        keep = idx < T
        out[idx[keep]] = ll[keep]
    return out


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
