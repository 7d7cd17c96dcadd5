"""Stage 3's building blocks, one utterance at a time: the utterances of a cut, their features and CMVN,
forced alignment and decoding of one utterance, and the alignment tiers written into the cuts.

Everything here streams: nothing holds a part's features or cuts; ``valle.align.stage`` runs these over
the pieces of a split manifest, one job per piece.
"""
from dataclasses import replace
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np
import torch

from valle.align import features as F
from valle.align.engine import AlignEngine
from valle.align.hmm import HmmSystem
from valle.align.hybrid import Utterance
from valle.text.lexicon import SIL
from valle.utils.audio import load_mono
from valle.utils.io import atomic_path, write_text_atomic


def boundary_time(frame: int, subsampling: int) -> float:
    """Time of the boundary before output frame ``frame``: halfway between its centre and the previous one's."""
    if frame <= 0:
        return 0.0
    return F.FRAME_CENTRE_OFFSET + F.FRAME_SHIFT * (subsampling * frame - subsampling / 2)


# ----------------------------------------------------------------------------------------------- data
def cut_utterances(cut, part: str, labeled: bool) -> List[Utterance]:
    """The supervisions of ``cut`` as utterances. Labeled parts: the words are the supervision's text, which
    stage 3's split step has replaced by stage 2's normalized transcript ('' when stage 2 has none)."""
    return [Utterance(sup.id, part, sup.speaker or cut.id, cut.id, sup.start, sup.duration,
                      (sup.text or "").split() if labeled else None) for sup in cut.supervisions]


def utterance_samples(audio: np.ndarray, u: Utterance, cut) -> np.ndarray:
    """The samples of ``u`` in its cut's 16 kHz audio."""
    a = int(round((u.start - cut.start) * F.SAMPLE_RATE))
    return audio[max(0, a): a + int(round(u.duration * F.SAMPLE_RATE))]


class UtteranceAudio(NamedTuple):
    utt: Utterance
    samples: Optional[np.ndarray]   # None when the cut's audio could not be read
    error: str                      # why not


def iter_utterance_audio(cuts: Iterable, part: str, labeled: bool) -> Iterator[Tuple[object, List[UtteranceAudio]]]:
    """(cut, its utterances with their 16 kHz samples), one cut's audio in memory at a time. A cut whose audio
    cannot be read yields its utterances with the reason, so that they are counted as failures."""
    for cut in cuts:
        utts = cut_utterances(cut, part, labeled)
        try:
            audio = load_mono(cut, F.SAMPLE_RATE)
        except Exception as e:  # lhotse wraps decoder errors in several exception types
            reason = f"cannot load audio: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            yield cut, [UtteranceAudio(u, None, reason) for u in utts]
            continue
        yield cut, [UtteranceAudio(u, utterance_samples(audio, u, cut), "") for u in utts]


def save_cmvn(path: Path, accs: Dict[str, F.CmvnAccumulator]) -> None:
    """{kind: accumulator} into one .npz: speakers, and per kind the sums, sums of squares and frame counts."""
    speakers = sorted({s for a in accs.values() for s in a.stats})
    arrays = {"speakers": np.asarray(speakers, dtype=str)}
    for kind, acc in accs.items():
        dim = len(next(iter(acc.stats.values()))[0]) if acc.stats else 0
        sums, sqs, frames = np.zeros((len(speakers), dim)), np.zeros((len(speakers), dim)), np.zeros(len(speakers))
        for i, spk in enumerate(speakers):
            if spk in acc.stats:
                sums[i], sqs[i], frames[i] = acc.stats[spk]
        arrays.update({f"{kind}_sum": sums, f"{kind}_sumsq": sqs, f"{kind}_frames": frames})
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_cmvn(paths: Iterable[Path], kind: str) -> F.Cmvn:
    """The ``kind`` statistics of several .npz files (each speaker's sums added up)."""
    stats: Dict[str, tuple] = {}
    for path in paths:
        with np.load(path, allow_pickle=False) as z:
            for i, spk in enumerate(z["speakers"]):
                n = int(z[f"{kind}_frames"][i])
                if n == 0:
                    continue
                s, ss = z[f"{kind}_sum"][i], z[f"{kind}_sumsq"][i]
                if spk in stats:
                    s0, ss0, n0 = stats[spk]
                    s, ss, n = s0 + s, ss0 + ss, n0 + n
                stats[str(spk)] = (s, ss, n)
    return F.Cmvn(stats)


def normalized(feats: Dict[str, np.ndarray], utts: List[Utterance]) -> Dict[str, torch.Tensor]:
    """Features normalized with per-speaker statistics over the given utterances (stage 7's recognizer)."""
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


class UtteranceAlignment(NamedTuple):
    phones: Optional[List[Tuple[str, float, float]]]   # None on failure
    words: Optional[List[Tuple[str, float, float]]]    # labeled utterances only
    tids: Optional[List[int]]
    retried: bool
    reason: str
    score: Optional[float] = None  # forced alignments and word decodes: alignment_score
    decode: Optional[dict] = None  # word decodes: what was recognized and how confidently (custom["decode"])


def word_decode_result(phones: List[Tuple[str, float, float]], res, loglikes: np.ndarray, id2word: Dict[int, str],
                       lexicon) -> UtteranceAlignment:
    """A word decode of an unlabeled segment as an alignment: the best path's phones, its words with their times
    (matched in its phones through the lexicon, as a forced alignment's), and its confidence:
    ``alignment_score`` (acoustic fit per frame; the same measure as a forced alignment's, so the same outlier
    flags apply) and the graph cost per word (LM, silence and transition costs: Kaldi's lattice "graph cost")."""
    from valle.align.word_graph import words_of

    words = words_of(res.words, id2word)
    timed = words_from_phones(words, phones, lexicon) if words else []
    n = min(len(loglikes), len(res.tids))
    acoustic = float(np.sum(loglikes[np.arange(n), np.asarray(res.tids[:n], dtype=np.int64) - 1]))
    graph_cost = acoustic - res.score if res.score is not None else None
    decode = {"text": " ".join(words), "acoustic_score": round(alignment_score(loglikes, res.tids), 4),
              "graph_cost_per_word": None if graph_cost is None else round(graph_cost / max(len(words), 1), 3)}
    return UtteranceAlignment(phones, timed, res.tids, False, "", decode["acoustic_score"], decode)


def alignment_score(loglikes: np.ndarray, tids: Sequence[int]) -> float:
    """How well the transcript fits the audio: the mean over frames of (log-likelihood of the aligned state -
    that of the frame's best state), <= 0. ``loglikes``: [frames, transition ids] (column tid - 1, the
    decoders' layout). A transcript that is not what was said, or speech-free audio forced
    through a transcript, puts many frames on pdfs far from their best; noisy but matching audio lowers both
    terms alike (the idea of Kaldi's steps/cleanup and of goodness-of-pronunciation scores)."""
    n = min(len(loglikes), len(tids))
    if n == 0:
        return 0.0
    ll = loglikes[:n]
    return float(np.mean(ll[np.arange(n), np.asarray(tids[:n], dtype=np.int64) - 1] - ll.max(axis=1)))


def speech_seconds(samples: np.ndarray, energy_threshold: float = 5.5, mean_scale: float = 0.5) -> float:
    """Seconds of speech by Kaldi's compute-vad rule: a 25 ms frame every 10 ms is speech when its log energy
    (of 16-bit-scaled samples) is above ``energy_threshold + mean_scale`` x the utterance's mean log energy
    (Kaldi's defaults). Silence or a constant hum has no frame far above its own mean: about 0 s."""
    win, hop = int(0.025 * F.SAMPLE_RATE), int(F.FRAME_SHIFT * F.SAMPLE_RATE)
    if len(samples) < win:
        return 0.0
    x = np.asarray(samples, dtype=np.float64) * 32768.0
    n = 1 + (len(x) - win) // hop
    frames = np.lib.stride_tricks.as_strided(x, (n, win), (x.strides[0] * hop, x.strides[0]), writeable=False)
    frames = frames - frames.mean(axis=1, keepdims=True)  # a DC offset is not speech
    log_energy = np.log(np.maximum((frames ** 2).sum(axis=1), np.finfo(np.float32).eps))
    return float(np.count_nonzero(log_energy > energy_threshold + mean_scale * log_energy.mean()) * F.FRAME_SHIFT)


def force_align(u: Utterance, loglikes: np.ndarray, hmm: HmmSystem, subsampling: int, self_loop_scale: float,
                engine: AlignEngine, beams: Sequence[float], lexicon) -> UtteranceAlignment:
    """DNN-HMM forced alignment of one labeled utterance, with its word timings."""
    if not u.words:
        return UtteranceAlignment(None, None, None, False, "empty transcript")
    try:
        graph = hmm.training_graph(u.words)
    except KeyError as e:
        return UtteranceAlignment(None, None, None, False, f"transcript mismatch: {e.args[0]}")
    res = engine.align(hmm.with_transition_probs(graph, 1.0, self_loop_scale), loglikes, beams, u.id)
    if res.tids is None:
        min_frames = sum(min(len(p) for p in lexicon.get(w, [()])) for w in u.words) * hmm.min_frames
        reason = (f"too short: {len(loglikes)} frames for at least {min_frames}" if len(loglikes) < min_frames
                  else res.reason)
        return UtteranceAlignment(None, None, None, res.retried, reason)
    phones = phone_items(hmm, res.tids, subsampling, u.duration)
    words = words_from_phones(u.words, phones, lexicon)
    if words is None:
        return UtteranceAlignment(None, None, None, res.retried, "word timings could not be matched to the aligned phones")
    score = alignment_score(loglikes, res.tids)
    return UtteranceAlignment(phones, words, res.tids, res.retried, "", score)


class Quality(NamedTuple):
    """What stage 3 measures of each aligned utterance, for catching speechless or mismatched audio."""
    utt: str
    duration: float
    phones: int            # aligned phones, silence not counted
    speech_s: float        # speech_seconds of its audio
    score: Optional[float]  # alignment_score; None for phone-bigram decodes
    graph_cost: Optional[float] = None  # word decodes: graph cost per word

    def to_line(self) -> str:
        score = "" if self.score is None else f"{self.score:.4f}"
        cost = "" if self.graph_cost is None else f"{self.graph_cost:.3f}"
        return f"{self.utt}\t{self.duration:.3f}\t{self.phones}\t{self.speech_s:.2f}\t{score}\t{cost}\n"

    @classmethod
    def from_line(cls, line: str) -> "Quality":
        utt, duration, phones, speech, score, cost = line.rstrip("\n").split("\t")
        return cls(utt, float(duration), int(phones), float(speech), float(score) if score else None,
                   float(cost) if cost else None)


QUALITY_HEADER = "utterance\tduration\tphones\tspeech_s\tscore\tgraph_cost"


def robust_stats(values: np.ndarray) -> Tuple[float, float]:
    """(median, 1.4826 x median absolute deviation): a mean and standard deviation that a few outliers do not
    move."""
    median = float(np.median(values))
    return median, 1.4826 * float(np.median(np.abs(values - median)))


def flag_utterances(read_rows: Callable[[], Iterable[Quality]], min_speech_per_phone: float, outlier_z: float,
                    outlier_gap: float = 0.2, min_utts: int = 20,
                    max_graph_cost: float = 0.0) -> Iterator[Tuple[Quality, str]]:
    """(measurements, why it is flagged) of each flagged utterance among one part's aligned utterances, which
    ``read_rows()`` streams (read twice: memory is one float per scored utterance, not a record per segment of
    a LibriLight part):
    - less speech than ``min_speech_per_phone`` seconds per aligned phone (silence, or a transcript far too
      long for the speech; the aligner's retry beam can force any transcript through any audio);
    - an alignment score more than ``outlier_z`` robust standard deviations and ``outlier_gap`` below the part's
      median (with at least ``min_utts`` scored utterances; ``outlier_z`` 0 turns it off). The gap keeps a part
      whose scores are tightly bunched (a clean corpus) from flagging merely imperfect utterances;
    - (word decodes) a graph cost per word above ``max_graph_cost`` (0: off): the words the decoder settled on
      are ones the LM finds unlikely, or a few words stretched over a long segment (noise)."""
    median = spread = None
    if outlier_z > 0:
        scores = np.fromiter((q.score for q in read_rows() if q.score is not None), dtype=np.float64)
        if len(scores) >= min_utts:
            median, spread = robust_stats(scores)
            spread = max(spread, 1e-3)  # identical scores: no spread to measure against
    for q in read_rows():
        need = min_speech_per_phone * q.phones
        if q.speech_s < need:
            yield q, (f"too little speech for its transcript: {q.speech_s:.2f} s of speech (energy VAD) "
                      f"for {q.phones} phones, expected at least {need:.2f} s")
        elif max_graph_cost > 0 and q.graph_cost is not None and q.graph_cost > max_graph_cost:
            yield q, (f"decode not confident: graph cost {q.graph_cost:.1f} per word, above {max_graph_cost:g} "
                      f"(unlikely words, or noise decoded as a few words)")
        elif median is not None and q.score is not None and q.score < median - max(outlier_z * spread, outlier_gap):
            yield q, (f"alignment score an outlier: {q.score:.3f} per frame, part median {median:.3f}, "
                      f"{(q.score - median) / spread:.1f} robust SDs (limits -{outlier_z:g} SDs and "
                      f"-{outlier_gap:g}): "
                      f"the transcript may not be what was said")


def drop_supervisions(cut: dict, drop: Dict[str, str]) -> Optional[dict]:
    """A cut's JSON fields without the supervisions in ``drop``, their spans added to ``custom["unaligned"]`` as
    ``aligned_cut`` does for failures; None when none is left."""
    sups = cut.get("supervisions") or []
    gone = [s for s in sups if s["id"] in drop]
    if not gone:
        return cut
    kept = [s for s in sups if s["id"] not in drop]
    if not kept:
        return None
    custom = dict(cut.get("custom") or {})
    custom["unaligned"] = sorted(custom.get("unaligned", []) + [[s["start"], s["duration"]] for s in gone])
    return {**cut, "supervisions": kept, "custom": custom}


def write_failures(path: Path, failures: Dict[str, str]) -> None:
    write_text_atomic(path, "utterance\treason\n" + "".join(f"{k}\t{v}\n" for k, v in sorted(failures.items())))


def alignment_items(items, offset: float):
    from lhotse.supervision import AlignmentItem

    return [AlignmentItem(symbol=l, start=round(s + offset, 4), duration=round(max(e - s, 0.0), 4)) for l, s, e in items]


def aligned_cut(cut, results: Dict[str, UtteranceAlignment]):
    """``cut`` with the supervisions that aligned, each with alignment {"phone", "tts_phone", and "word" when
    known}; None when none aligned. A supervision that failed drops only itself
    (a LibriLight file keeps its other segments), and its span is kept in ``custom["unaligned"]`` ([start,
    duration] pairs): the training-data build never joins two segments over speech it has no phones for."""
    sups, unaligned = [], []
    for sup in cut.supervisions:
        r = results.get(sup.id)
        if r is None or r.phones is None:
            unaligned.append([sup.start, sup.duration])
            continue
        ali = {"phone": alignment_items(r.phones, sup.start),
               "tts_phone": alignment_items(collapse_repeats(r.phones), sup.start)}
        if r.words is not None:
            ali["word"] = alignment_items(r.words, sup.start)
        if r.decode is not None:
            sup = replace(sup, custom={**(sup.custom or {}), "decode": r.decode})
        sups.append(replace(sup, alignment=ali))
    if not sups:
        return None
    custom = {**(cut.custom or {}), "unaligned": unaligned} if unaligned else cut.custom
    return replace(cut, supervisions=sups, custom=custom)
