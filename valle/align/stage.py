"""Stage 3 as Kaldi-style split jobs: hybrid DNN-HMM alignment of every part, memory flat in corpus size.

Steps (``local/align.py --step``; run.sh runs the ``JOB`` steps through ``$cmd JOB=1:N``, e.g. Slurm):

  split            manifests split into N pieces, each speaker in one (Kaldi's split_data.sh), stage 2's
                   normalized transcripts put into the labeled supervisions; the GMM/DNN training subset
                   chosen (a random ``max_train_utts`` of the training parts, the same for any N)
  features JOB     per-speaker CMVN statistics of piece JOB of every part; raw MFCC + fbank of the
                   training-subset utterances in it
  train            the monophone GMM-HMM and the DNN on the subset (one job: its features fit in memory);
                   for unlabeled parts: the word n-gram of the training transcripts and the word decoding
                   graph HCLG (unlabeled_decode=word, the default), or the phone bigram of the DNN's
                   alignments of the subset (phone)
  align JOB        piece JOB of every part: labeled = DNN-HMM forced alignment with word timings,
                   unlabeled = word (or phone-bigram) decoding; cuts with alignment tiers, failures listed
  combine          the pieces joined in order into ``aligned_dir/cuts_<part>.jsonl.gz``, failures into
                   ``exp_dir/ali/failed_<part>.tsv``, a few TextGrids + plots, ``exp_dir/summary.json``

Each step writes its outputs atomically and a marker last; a step whose marker exists is not redone, so a
rerun after a failed job redoes only the pieces without a marker. A job streams its cuts one recording at a
time (audio, features and alignment of one recording in memory). Outputs are identical for any N when each
speaker's cuts are contiguous in the manifest (LibriSpeech, LibriLight): CMVN is per speaker, the subset
is chosen by a hash of the utterance id, and the pieces are joined in order.

Layout: ``exp_dir/split<N>/{cuts_<part>.<JOB>.jsonl.gz, train_subset.tsv, feats/, ali/}``,
``exp_dir/{ali,inspect}/``, ``exp_dir/summary.json``; the models in ``model_dir/{gmm,dnn,decode_word|decode,lang}/``
(``model_dir`` is ``exp_dir`` in the recipe). ``model_dir/lang`` keeps the lang files the models were trained
with (phones, words, lexicon), so that the models can align other data later (``python -m valle.bin.align``).
With no training parts, the models are read from ``model_dir`` and nothing is trained.
"""
import hashlib
import heapq
import json
import logging
import time
import functools
import urllib.parse
import shutil
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch

from valle.align import features as F
from valle.align.config import AlignConfig
from valle.align.dnn import save_dnn, train_dnn
from valle.align.engine import get_engine
from valle.align.gmm import train_gmm
from valle.align.hybrid import HybridAsr, Utterance, make_hmm
from valle.align.phone_lm import PhoneBigram, estimate_bigram
from valle.align.phone_lm import write_arpa as write_phone_arpa
from valle.align.pipeline import (QUALITY_HEADER, Quality, UtteranceAlignment, aligned_cut, drop_supervisions,
                                  flag_utterances, force_align, iter_utterance_audio, load_cmvn, speech_seconds,
                                  phone_items, save_cmvn, utterance_samples, word_decode_result, write_failures)
from valle.align.textgrid import plot_alignment, write_textgrid
from valle.align.word_graph import graph_size, read_graph_lm
from valle.data.split import combine_cuts, iter_cuts, split_cuts
from valle.text.lang_dir import LangDir, read_phone_table
from valle.text.ngram import estimate_ngram, write_arpa
from valle.text.lexicon import SIL
from valle.utils.audio import load_mono
from valle.utils.disk_index import DiskIndex
from valle.utils.io import atomic_path, write_text_atomic

STEPS = ("split", "features", "train", "align", "combine")
# The lang files a trained model keeps beside it (model_dir/lang): what aligning new data with it needs.
MODEL_LANG_FILES = ("phones.txt", "words.txt", "lexicon.txt", "lang_info.json", "silence_phones.txt",
                    "nonsilence_phones.txt", "optional_silence.txt", "oov.txt")


@dataclass
class Parts:
    """The roles of a recipe's parts in stage 3."""
    train: List[str]                                      # labeled, train the GMM and the DNN (none: the
                                                          # models exist already, in Stage3's model_dir)
    labeled: List[str] = field(default_factory=list)      # other labeled parts (dev, test): aligned only
    unlabeled: List[str] = field(default_factory=list)    # decoded (AlignConfig.unlabeled_decode)

    @property
    def all_labeled(self) -> List[str]:
        return list(self.train) + [p for p in self.labeled if p not in self.train]

    def all(self) -> List[Tuple[str, bool]]:
        """(part, labeled) in processing order."""
        return [(p, True) for p in self.all_labeled] + [(p, False) for p in self.unlabeled]


class Stage3:
    """The steps of stage 3 over ``num_jobs`` pieces; paths and settings as in ``local/align.py``. ``model_dir``
    (default ``exp_dir``): where the models are trained to, or read from when ``parts.train`` is empty."""

    def __init__(self, lang_dir: Path, manifest_dir: Path, exp_dir: Path, aligned_dir: Path, parts: Parts,
                 num_jobs: int = 1, cfg: AlignConfig = AlignConfig(), model_dir: Optional[Path] = None):
        if num_jobs < 1:
            raise ValueError(f"--nj must be at least 1, got {num_jobs}")
        self.lang = LangDir(lang_dir)
        self.manifest_dir, self.exp_dir, self.aligned_dir = Path(manifest_dir), Path(exp_dir), Path(aligned_dir)
        self.model_dir = Path(model_dir) if model_dir is not None else self.exp_dir
        self.parts, self.num_jobs, self.cfg = parts, num_jobs, cfg
        self.split_dir = self.exp_dir / f"split{num_jobs}"

    # ------------------------------------------------------------------------------------- paths
    def piece(self, part: str, job: int) -> Path:
        return self.split_dir / f"cuts_{part}.{job}.jsonl.gz"

    def jobs(self) -> range:
        return range(1, self.num_jobs + 1)

    def _check_job(self, job: int) -> None:
        if not 1 <= job <= self.num_jobs:
            raise ValueError(f"--job must be in 1..{self.num_jobs}, got {job}")

    def _require(self, marker: Path, step: str) -> None:
        if not marker.is_file():
            raise FileNotFoundError(f"expected {marker}: run the '{step}' step of stage 3 first")

    # ------------------------------------------------------------------------------------- split
    def split(self) -> None:
        marker = self.split_dir / ".done"
        settings = {"align": asdict(self.cfg), "parts": asdict(self.parts)}
        if marker.is_file():
            made = json.loads(marker.read_text()).get("settings")
            if made != json.loads(json.dumps(settings)):
                raise ValueError(f"{self.split_dir} was made with other stage-3 settings or parts; start over with "
                                 f"--force (or delete {self.exp_dir})")
            return
        t0 = time.time()
        self.split_dir.mkdir(parents=True, exist_ok=True)
        subset = SubsetChooser(self.cfg.max_train_utts)
        counts = {}
        for part, labeled in self.parts.all():
            src = self.manifest_dir / f"cuts_{part}.jsonl.gz"
            if not src.is_file():
                raise FileNotFoundError(f"expected {src} (stage 1 makes it)")
            texts = TextIndex(self.lang.path / "text" / f"{part}.txt", self.split_dir / f".text_{part}.sqlite") \
                if labeled else None
            is_train = part in self.parts.train

            no_speaker = [0]

            def transform(cut, piece, texts=texts, is_train=is_train, part=part, no_speaker=no_speaker):
                no_speaker[0] += sum(1 for sup in cut.supervisions if not sup.speaker)
                if texts is None:
                    return cut
                sups = [replace(sup, text=texts.get(sup.id)) for sup in cut.supervisions]
                if is_train:
                    for sup in sups:
                        if sup.text:
                            subset.offer(part, sup, cut.id)
                return replace(cut, supervisions=sups)
            try:
                counts[part] = split_cuts(src, self.num_jobs, [self.piece(part, j) for j in self.jobs()], transform)
            finally:
                if texts is not None:
                    texts.close()
            logging.info("split %s into %d pieces: %s cuts", part, self.num_jobs, counts[part])
            if no_speaker[0]:
                # Stage 1 gives every supervision a speaker (its unknown_speaker setting); manifests made
                # elsewhere may not. CMVN is per speaker, so these are normalized one utterance at a time.
                logging.warning("%s: %d supervisions have no speaker id: their features are normalized per "
                                "recording (rerun stage 1 to give them one)", part, no_speaker[0])
        order = {p: i for i, p in enumerate(self.parts.train)}
        rows = sorted(subset.chosen(), key=lambda r: (order[r[0]], r[1]))
        write_text_atomic(self.split_dir / "train_subset.tsv", "".join("\t".join(map(str, r)) + "\n" for r in rows))
        if self.parts.train:
            logging.info("training subset: %d utterances (%.1f min) of %d in %s", len(rows),
                         sum(r[3] for r in rows) / 60, subset.seen, " ".join(self.parts.train))
        write_text_atomic(marker, json.dumps({"seconds": time.time() - t0, "cuts": counts, "settings": settings,
                                              "subset": len(rows), "subset_of": subset.seen}) + "\n")

    def subset_rows(self) -> List[Tuple[str, str, str, float, List[str]]]:
        """(part, utterance id, speaker, duration, words) of the training subset, in training order."""
        self._require(self.split_dir / ".done", "split")
        rows = []
        for line in (self.split_dir / "train_subset.tsv").read_text(encoding="utf-8").splitlines():
            part, uid, spk, dur, words = line.split("\t")
            rows.append((part, uid, spk, float(dur), words.split()))
        return rows

    # ------------------------------------------------------------------------------------- features
    def features(self, job: int) -> None:
        self._check_job(job)
        self._require(self.split_dir / ".done", "split")
        out = self.split_dir / "feats"
        marker = out / f"{job}.done"
        if marker.is_file():
            return
        t0 = time.time()
        subset = {uid for _, uid, *_ in self.subset_rows()}
        audio_s, n_utts = 0.0, 0
        for part, labeled in self.parts.all():
            is_train = part in self.parts.train
            accs = {"fbank": F.CmvnAccumulator(), "mfcc": F.CmvnAccumulator()}
            with atomic_path(out / f"subset_{part}.{job}.h5") as tmp:
                import h5py
                with h5py.File(tmp, "w") as h5:
                    for cut, uas in iter_utterance_audio(iter_cuts(self.piece(part, job)), part, labeled):
                        for ua in uas:
                            if ua.samples is None:
                                continue  # counted as a failure by the align step
                            fb = F.fbank(ua.samples)
                            accs["fbank"].add(ua.utt.speaker, fb)
                            audio_s += ua.utt.duration
                            n_utts += 1
                            if is_train:
                                mf = F.mfcc(ua.samples)
                                accs["mfcc"].add(ua.utt.speaker, mf)
                                if ua.utt.id in subset:
                                    h5.create_dataset(f"mfcc/{_h5_name(ua.utt.id)}", data=mf)
                                    h5.create_dataset(f"fbank/{_h5_name(ua.utt.id)}", data=fb)
            save_cmvn(out / f"cmvn_{part}.{job}.npz", accs)
        secs = time.time() - t0
        logging.info("features of piece %d: %d utterances, %.1f min of audio in %.1f s (%.0fx real time)", job,
                     n_utts, audio_s / 60, secs, audio_s / max(secs, 1e-9))
        write_text_atomic(marker, json.dumps({"seconds": secs, "audio_seconds": audio_s, "utterances": n_utts}) + "\n")

    def _subset_features(self, kind: str) -> Dict[str, torch.Tensor]:
        """Normalized ``kind`` features of the training subset, in subset order."""
        import h5py

        for j in self.jobs():
            self._require(self.split_dir / "feats" / f"{j}.done", f"features (job {j})")
        rows = self.subset_rows()
        cmvn = {p: load_cmvn([self.split_dir / "feats" / f"cmvn_{p}.{j}.npz" for j in self.jobs()], kind)
                for p in self.parts.train}
        found: Dict[str, np.ndarray] = {}
        for part in self.parts.train:
            for j in self.jobs():
                with h5py.File(self.split_dir / "feats" / f"subset_{part}.{j}.h5", "r") as h5:
                    if kind in h5:
                        for name in h5[kind]:
                            found[urllib.parse.unquote(name)] = h5[kind][name][()]
        out = {}
        for part, uid, spk, _, _ in rows:
            if uid in found:  # not found: its audio could not be read
                out[uid] = torch.from_numpy(cmvn[part].apply(spk, found.pop(uid)))
        return out

    # ------------------------------------------------------------------------------------- train
    @functools.cached_property
    def engine(self):
        return get_engine(self.cfg.engine)

    @functools.cached_property
    def asr(self) -> HybridAsr:
        """The models under model_dir, each read on first use (after the step that trains it)."""
        return HybridAsr(self.lang, self.model_dir, self.cfg, self.engine)

    def train(self) -> None:
        """GMM, then DNN, then (with unlabeled parts) the phone bigram or the word LM and graph; each resumes
        from its marker. The subset's fbank features are read once for the DNN and the bigram. Without training
        parts: checks that ``model_dir`` holds trained models for this phone set."""
        if not self.parts.train:
            self._check_models()
            return
        self.store_lang()
        self.train_gmm()
        decode = self._decode_dir()
        steps = [(self.train_dnn, "dnn")] + ([(self.estimate_bigram, "decode")] if decode == "decode" else [])
        steps = [step for step, name in steps if not (self.model_dir / name / ".done").is_file()]
        if steps:
            fbank = self._subset_features("fbank")
            for step in steps:
                step(fbank)
        if decode == "decode_word" and not self._word_graph_current():
            self.build_word_graph()

    def _decode_dir(self) -> Optional[str]:
        """The model_dir folder of the unlabeled parts' decoding model (None without unlabeled parts)."""
        if not self.parts.unlabeled:
            return None
        return "decode_word" if self.cfg.unlabeled_decode == "word" else "decode"

    def _model_markers(self) -> Tuple[str, ...]:
        return ("gmm", "dnn") + ((self._decode_dir(),) if self.parts.unlabeled else ())

    def store_lang(self) -> None:
        """The lang files the models are trained with, copied to ``model_dir/lang`` (once; a model dir trained
        on another phone table is an error, not overwritten)."""
        out = self.model_dir / "lang"
        if (out / ".done").is_file():
            self._check_models(need_trained=False)
            return
        out.mkdir(parents=True, exist_ok=True)
        for name in MODEL_LANG_FILES:
            if (self.lang.path / name).is_file():
                with atomic_path(out / name) as tmp:
                    shutil.copyfile(self.lang.path / name, tmp)
        write_text_atomic(out / ".done", json.dumps({"from": str(self.lang.path)}) + "\n")

    def _check_models(self, need_trained: bool = True) -> None:
        """ValueError unless the models under ``model_dir`` exist (``need_trained``) and were trained on this
        lang's phone table (checked when the model keeps its lang: models of stage 3 made since it does)."""
        if need_trained:
            for m in self._model_markers():
                if not (self.model_dir / m / ".done").is_file():
                    raise ValueError(f"no trained {m} model under {self.model_dir} (expected {m}/.done): train "
                                     f"one first (stage 3 of the recipe, or valle.bin.align --train)")
        phones = self.model_dir / "lang" / "phones.txt"
        if phones.is_file() and read_phone_table(phones) != self.lang.phones:
            raise ValueError(f"the models under {self.model_dir} were trained with another phone table "
                             f"({phones}) than {self.lang.path / 'phones.txt'}")

    def train_gmm(self) -> None:
        out = self.model_dir / "gmm"
        if (out / ".done").is_file():
            return
        t0 = time.time()
        hmm = make_hmm(self.lang, "3state")
        feats = self._subset_features("mfcc")
        graphs, failures = {}, {}
        for _, uid, _, _, words in self.subset_rows():
            if uid not in feats:
                continue
            try:
                graphs[uid] = hmm.training_graph(words)
            except KeyError as e:
                failures[uid] = f"transcript mismatch: {e.args[0]}"
        gmm, alignments, fail2, rows = train_gmm(hmm, feats, graphs, self.engine, self.cfg.gmm, self.cfg.beams)
        failures.update(fail2)
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / "final.pt") as tmp:
            torch.save({"gmm": gmm.state_dict(), "alignments": alignments, "failures": failures, "log": rows}, tmp)
        write_failures(out / "failed_train.tsv", failures)
        secs = sum(len(v) for v in feats.values()) * F.FRAME_SHIFT
        logging.info("GMM trained on %d utterances (%.1f min) in %.1f s; %d failed", len(alignments), secs / 60,
                     time.time() - t0, len(failures))
        write_text_atomic(out / ".done", json.dumps({"seconds": time.time() - t0, "audio_seconds": secs}) + "\n")

    def train_dnn(self, fb: Dict[str, torch.Tensor]) -> None:
        """The DNN learns the GMM's HMM-state (pdf) alignments: one label per 30 ms output frame.
        ``fb``: the subset's normalized fbank."""
        out = self.model_dir / "dnn"
        t0 = time.time()
        gmm_hmm, _, ckpt = self.asr.gmm_system()
        items = {}
        for uid, tids in ckpt["alignments"].items():
            if uid in fb:
                pdfs = gmm_hmm.pdfs_from_alignment(tids)
                n = min(len(pdfs), len(fb[uid]))
                items[uid] = (fb[uid][:n], pdfs[:n])
        valid = sorted(items)[::20]  # 5 % held out for the frame accuracy printed per epoch
        model, log_priors, history = train_dnn(items, gmm_hmm.num_pdfs, self.cfg.dnn, valid)
        out.mkdir(parents=True, exist_ok=True)
        save_dnn(out / "final.pt", model, log_priors, {"history": history})
        write_text_atomic(out / ".done", json.dumps({"seconds": time.time() - t0, "history": history[-1]}) + "\n")
        logging.info("DNN trained in %.1f s", time.time() - t0)

    def estimate_bigram(self, fb: Dict[str, torch.Tensor]) -> None:
        """Phone bigram of the unlabeled parts' decoding, from the DNN-HMM alignments of the training subset
        (``fb``: its normalized fbank, consumed)."""
        out = self.model_dir / "decode"
        t0 = time.time()
        asr = self.asr
        seqs = []
        for part, uid, spk, dur, words in self.subset_rows():
            if uid not in fb:
                continue
            u = Utterance(uid, part, spk, "", 0.0, dur, words)
            hmm, s, self_loop, ll = asr.align_loglikes(fb.pop(uid))
            r = force_align(u, ll, hmm, s, self_loop, asr.engine, self.cfg.dnn_beams, self.lang.lexicon)
            if r.tids is not None:
                seqs.append([seg.phone for seg in hmm.segments_from_alignment(r.tids)])
        bigram = estimate_bigram(seqs, self.lang.phones, self.cfg.bigram_add_k)
        out.mkdir(parents=True, exist_ok=True)
        write_phone_arpa(out / "phone_bigram.arpa", bigram, self.lang.phones)
        with atomic_path(out / "phone_bigram.npz") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, costs=bigram.costs, order=np.asarray(bigram.order, dtype=np.int64))
        write_text_atomic(out / ".done", json.dumps({"seconds": time.time() - t0, "utterances": len(seqs)}) + "\n")
        logging.info("phone bigram from %d aligned utterances of the training subset", len(seqs))

    # ------------------------------------------------------------------------------------- align
    def align(self, job: int) -> dict:
        """Piece ``job`` of every part aligned (labeled) or decoded (unlabeled). Returns its counts."""
        self._check_job(job)
        out = self.split_dir / "ali"
        marker = out / f"{job}.json"
        if marker.is_file():
            return json.loads(marker.read_text())
        self._require(self.split_dir / "feats" / f"{job}.done", f"features (job {job})")
        if self.parts.train:
            for m in self._model_markers():
                self._require(self.model_dir / m / ".done", "train")
        else:
            self._check_models()
        t0 = time.time()
        asr = self.asr
        hclg = None
        if self._decode_dir() == "decode":
            with np.load(self.model_dir / "decode" / "phone_bigram.npz", allow_pickle=False) as z:
                hclg = asr.phone_bigram_hclg(PhoneBigram(z["costs"], [int(i) for i in z["order"]]))
        elif self._decode_dir() == "decode_word":
            import kaldifst

            hclg = kaldifst.StdVectorFst.read(str(self.model_dir / "decode_word" / "HCLG.fst"))
        counts = {}
        for part, labeled in self.parts.all():
            cmvn = load_cmvn([self.split_dir / "feats" / f"cmvn_{part}.{job}.npz"], "fbank")
            counts[part] = self._align_piece(asr, hclg, cmvn, part, labeled, job)
        result = {"seconds": time.time() - t0, "parts": counts}
        write_text_atomic(marker, json.dumps(result) + "\n")
        return result

    def _align_piece(self, asr: HybridAsr, hclg, cmvn: F.Cmvn, part: str, labeled: bool, job: int) -> dict:
        from lhotse import CutSet

        out = self.split_dir / "ali"
        t0 = time.time()
        c = {"utterances": 0, "aligned": 0, "failed": 0, "retried_wider_beam": 0, "cuts_written": 0,
             "cuts_left_out": 0, "audio_seconds": 0.0, "seconds": 0.0, "failure_reasons": {}}
        with atomic_path(out / f"cuts_{part}.{job}.jsonl.gz") as cuts_tmp, \
                atomic_path(out / f"failed_{part}.{job}.tsv") as fail_tmp, \
                atomic_path(out / f"quality_{part}.{job}.tsv") as quality_tmp, \
                open(fail_tmp, "w", encoding="utf-8") as failures, \
                open(quality_tmp, "w", encoding="utf-8") as quality, CutSet.open_writer(cuts_tmp) as writer:
            for cut, uas in iter_utterance_audio(iter_cuts(self.piece(part, job)), part, labeled):
                results: Dict[str, UtteranceAlignment] = {}
                for ua in uas:
                    c["utterances"] += 1
                    c["audio_seconds"] += ua.utt.duration
                    r = self._align_one(asr, hclg, cmvn, ua, labeled)
                    c["retried_wider_beam"] += int(r.retried)
                    if r.phones is None:
                        c["failed"] += 1
                        key = r.reason.split(":")[0]
                        c["failure_reasons"][key] = c["failure_reasons"].get(key, 0) + 1
                        failures.write(f"{ua.utt.id}\t{r.reason}\n")
                    else:
                        c["aligned"] += 1
                        cost = r.decode.get("graph_cost_per_word") if r.decode else None
                        quality.write(Quality(ua.utt.id, ua.utt.duration, sum(p[0] != SIL for p in r.phones),
                                              speech_seconds(ua.samples), r.score, cost).to_line())
                    results[ua.utt.id] = r
                kept = aligned_cut(cut, results)
                if kept is None:
                    c["cuts_left_out"] += 1
                else:
                    writer.write(kept)
                    c["cuts_written"] += 1
        c["seconds"] = time.time() - t0
        return c

    def _align_one(self, asr: HybridAsr, hclg, cmvn: F.Cmvn, ua, labeled: bool) -> UtteranceAlignment:
        if ua.samples is None:
            return UtteranceAlignment(None, None, None, False, ua.error)
        u = ua.utt
        raw = F.fbank(ua.samples)
        if len(raw) == 0:  # before CMVN: a speaker with no frames at all has no statistics
            return UtteranceAlignment(None, None, None, False, "no frames: shorter than one 25 ms window")
        fb = torch.from_numpy(cmvn.apply(u.speaker, raw))
        if labeled:
            hmm, s, self_loop, ll = asr.align_loglikes(fb)
            return force_align(u, ll, hmm, s, self_loop, asr.engine, self.cfg.dnn_beams, self.lang.lexicon)
        word = self.cfg.unlabeled_decode == "word"
        res, ll = asr.decode_path(hclg, fb, u.id, self.cfg.word_decode_beam if word else None)
        if res.tids is None:
            return UtteranceAlignment(None, None, None, False, res.reason)
        hmm, s, _ = asr.dnn_system(self.cfg.dnn_frame_shift_ms)
        phones = phone_items(hmm, res.tids, s, u.duration)
        if not word:
            return UtteranceAlignment(phones, None, res.tids, False, "")
        return word_decode_result(phones, res, ll, self.id2word, self.lang.lexicon)

    @functools.cached_property
    def id2word(self) -> Dict[int, str]:
        return {i: w for w, i in self.lang.words.items()}

    def _lm_source(self) -> dict:
        """What the word graph is built from, as its ``.done`` records it."""
        if self.cfg.lm:
            return {"lm": str(Path(self.cfg.lm).resolve()), "lm_bytes": Path(self.cfg.lm).stat().st_size}
        return {"lm_order": self.cfg.lm_order, "lm_method": self.cfg.lm_method}

    def _word_graph_current(self) -> bool:
        """True when ``decode_word`` holds a graph built from the LM the settings name now (a changed ``align_lm``
        or LM order rebuilds it; the acoustic models are kept)."""
        marker = self.model_dir / "decode_word" / ".done"
        if not marker.is_file():
            return False
        built = json.loads(marker.read_text())
        if self.cfg.lm and not Path(self.cfg.lm).is_file():
            return False  # build_word_graph says the file is missing
        want = self._lm_source()
        if any(built.get(k) != v for k, v in want.items()):
            logging.info("the word graph in %s was built from another LM than the settings name now (%s): rebuilding "
                         "it", marker.parent, want)
            return False
        return True

    def build_word_graph(self) -> None:
        """The decoding graph HCLG of the DNN-HMM with a word n-gram (``HCLG.fst``, under ``model_dir/decode_word``).
        The n-gram is ``align_lm``, else one estimated from the training parts' normalized transcripts (written
        there as ``lm.arpa.gz``)."""
        out = self.model_dir / "decode_word"
        t0 = time.time()
        out.mkdir(parents=True, exist_ok=True)
        if self.cfg.lm:  # not copied (a LibriSpeech LM is large): .done names it
            lm = read_graph_lm(Path(self.cfg.lm), self.lang.words)
            (out / "lm.arpa.gz").unlink(missing_ok=True)  # an estimated LM of an earlier build
            source = {**self._lm_source(), "skipped_oov_ngrams": lm.skipped[1:]}
        else:
            sentences = [text.split() for part in self.parts.train for text in self.lang.text(part).values()]
            lm = estimate_ngram(sentences, self.cfg.lm_order, self.cfg.lm_method)
            write_arpa(lm, out / "lm.arpa.gz")
            source = {**self._lm_source(), "sentences": len(sentences)}
        t1 = time.time()
        hclg = self.asr.word_hclg(lm)
        with atomic_path(out / "HCLG.fst") as tmp:
            hclg.write(str(tmp))
        states, arcs = graph_size(hclg)
        info = {"seconds": time.time() - t0, "graph_seconds": time.time() - t1, **source,
                "ngrams": [len(p) for p in lm.probs[1:]], "graph_states": states, "graph_arcs": arcs}
        write_text_atomic(out / ".done", json.dumps(info) + "\n")
        what = (f"{self.cfg.lm}" if self.cfg.lm else
                f"word {self.cfg.lm_order}-gram ({self.cfg.lm_method}) of {source['sentences']} training sentences")
        logging.info("%s: %s n-grams; HCLG %d states, %d arcs, built in %.1f s", what, info["ngrams"],
                     info["graph_states"], info["graph_arcs"], info["graph_seconds"])

    # ------------------------------------------------------------------------------------- combine
    def combine(self) -> dict:
        """Join the pieces; write the failure lists, the inspection files and ``summary.json``. Returns it."""
        results = []
        for j in self.jobs():
            marker = self.split_dir / "ali" / f"{j}.json"
            self._require(marker, f"align (job {j})")
            results.append(json.loads(marker.read_text()))
        summary = {"engine": self.engine.name, "dnn_frame_shift_ms": self.cfg.dnn_frame_shift_ms,
                   "num_jobs": self.num_jobs, "steps": self._step_seconds(results), "parts": {}}
        inspect = []
        (self.exp_dir / "ali").mkdir(parents=True, exist_ok=True)
        for part, labeled in self.parts.all():
            out = self.aligned_dir / f"cuts_{part}.jsonl.gz"
            flagged = self._flag(part)
            n_cuts = combine_cuts([self.split_dir / "ali" / f"cuts_{part}.{j}.jsonl.gz" for j in self.jobs()], out,
                                  functools.partial(drop_supervisions, drop=flagged) if flagged else None)
            with atomic_path(self.exp_dir / "ali" / f"failed_{part}.tsv") as tmp, open(tmp, "w", encoding="utf-8") as f:
                f.write("utterance\treason\n")
                for j in self.jobs():
                    with open(self.split_dir / "ali" / f"failed_{part}.{j}.tsv", encoding="utf-8") as g:
                        for line in g:
                            f.write(line)
            c = _sum_counts([r["parts"][part] for r in results])
            # Flagged utterances were aligned, but are not training data.
            c["aligned"] -= len(flagged)
            c["cuts_left_out"] += c["cuts_written"] - n_cuts
            c["cuts_written"] = n_cuts
            speed = {"audio_hours": round(c["audio_seconds"] / 3600, 4),
                     "x_real_time_per_job": round(c["audio_seconds"] / max(c["seconds"], 1e-9), 1)}
            if labeled:
                summary["parts"][part] = {"kind": "labeled", "utterances": c["utterances"], "aligned": c["aligned"],
                                          "failed": c["failed"], "flagged": len(flagged),
                                          "retried_wider_beam": c["retried_wider_beam"],
                                          "cuts_written": c["cuts_written"], "cuts_left_out": c["cuts_left_out"],
                                          "failure_reasons": c["failure_reasons"], **speed}
                logging.info("%s: %d aligned, %d failed (listed in ali/failed_%s.tsv), %d flagged as speechless or "
                             "mismatched (ali/flagged_%s.tsv), %d needed the retry beam; %d cuts written, %d left out",
                             part, c["aligned"], c["failed"], part, len(flagged), part, c["retried_wider_beam"],
                             c["cuts_written"], c["cuts_left_out"])
            else:
                summary["parts"][part] = {"kind": "unlabeled", "segments": c["utterances"], "decoded": c["aligned"],
                                          "failed": c["failed"], "flagged": len(flagged),
                                          "cuts_written": c["cuts_written"],
                                          "cuts_left_out": c["cuts_left_out"], "failure_reasons": c["failure_reasons"],
                                          **speed}
                logging.info("%s: %d segments decoded, %d failed, %d flagged as speechless; %d cuts written, "
                             "%d left out", part, c["aligned"], c["failed"], len(flagged), c["cuts_written"],
                             c["cuts_left_out"])
            inspect += [(part, cut) for cut in _first(iter_cuts(out), self.cfg.num_inspect if labeled else 1)]
        write_inspection(self.exp_dir / "inspect", inspect, self.engine.name)
        summary["total_s"] = sum(summary["steps"].values())
        write_text_atomic(self.exp_dir / "summary.json", json.dumps(summary, indent=1) + "\n")
        return summary

    def _flag(self, part: str) -> Dict[str, str]:
        """The part's speechless or mismatched utterances (pipeline.flag_utterances over every job's
        measurements, streamed), written with the measured values to ``ali/flagged_<part>.tsv``."""
        def read_rows():
            for j in self.jobs():
                with open(self.split_dir / "ali" / f"quality_{part}.{j}.tsv", encoding="utf-8") as f:
                    yield from (Quality.from_line(line) for line in f if line.strip())

        flagged = {}
        with atomic_path(self.exp_dir / "ali" / f"flagged_{part}.tsv") as tmp, open(tmp, "w", encoding="utf-8") as f:
            f.write(QUALITY_HEADER + "\treason\n")
            for q, reason in flag_utterances(read_rows, self.cfg.min_speech_per_phone, self.cfg.outlier_z,
                                             self.cfg.outlier_gap, self.cfg.outlier_min_utts,
                                             self.cfg.max_graph_cost):
                f.write(q.to_line()[:-1] + f"\t{reason}\n")
                flagged[q.utt] = reason
                if len(flagged) <= 10:
                    logging.warning("%s: %s flagged: %s", part, q.utt, reason)
        return flagged

    def _step_seconds(self, align_results: List[dict]) -> Dict[str, float]:
        """Seconds each step took, summed over its jobs (CPU-job seconds, not wall time)."""
        def read(path: Path) -> float:
            return json.loads(path.read_text()).get("seconds", 0.0) if path.is_file() else 0.0
        return {"split_s": read(self.split_dir / ".done"),
                "features_s": sum(read(self.split_dir / "feats" / f"{j}.done") for j in self.jobs()),
                "gmm_s": read(self.model_dir / "gmm" / ".done"), "dnn_s": read(self.model_dir / "dnn" / ".done"),
                "bigram_s": read(self.model_dir / "decode" / ".done"),
                "word_graph_s": read(self.model_dir / "decode_word" / ".done"),
                "align_s": sum(r["seconds"] for r in align_results)}

    # ------------------------------------------------------------------------------------- all
    def run_all(self) -> dict:
        """Every step in this process, the jobs one after another (the API; run.sh runs them through $cmd)."""
        self.split()
        for j in self.jobs():
            self.features(j)
        self.train()
        for j in self.jobs():
            self.align(j)
        return self.combine()


def align_corpus(lang_dir: Path, manifest_dir: Path, exp_dir: Path, aligned_dir: Path, train_parts: Sequence[str],
                 labeled_parts: Sequence[str] = (), unlabeled_parts: Sequence[str] = (),
                 cfg: AlignConfig = AlignConfig(), num_jobs: int = 1) -> dict:
    """Stage 3 in one process; steps already finished under ``exp_dir`` are not redone. Returns the summary."""
    parts = Parts(list(train_parts), list(labeled_parts), list(unlabeled_parts))
    return Stage3(lang_dir, manifest_dir, exp_dir, aligned_dir, parts, num_jobs, cfg).run_all()


# ----------------------------------------------------------------------------------------- helpers
class TextIndex(DiskIndex):
    """Stage 2's ``text/<part>.txt`` looked up by utterance id from an on-disk SQLite index (memory flat in the
    number of utterances); missing ids give ''."""

    def __init__(self, text_path: Path, db_path: Path):
        if not text_path.is_file():
            raise FileNotFoundError(f"expected {text_path} (stage 2 makes it; is this a labeled part?)")

        def rows():
            with open(text_path, encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        k, _, v = line.strip().partition(" ")
                        yield k, v.strip()
        super().__init__(db_path, rows())

    def get(self, uid: str) -> str:
        return super().get(uid) or ""


class SubsetChooser:
    """A random ``size`` of the offered supervisions, the same whatever the order they come in: the ones
    with the smallest hash of their id (a bounded heap, memory = ``size``)."""

    def __init__(self, size: int):
        self.size, self.seen = size, 0
        self.heap: List[tuple] = []

    def offer(self, part: str, sup, cut_id: str) -> None:
        self.seen += 1
        key = -int.from_bytes(hashlib.blake2b(sup.id.encode(), digest_size=8).digest(), "big")
        row = (part, sup.id, sup.speaker or cut_id, round(sup.duration, 4), sup.text)
        if len(self.heap) < self.size:
            heapq.heappush(self.heap, (key, row))
        elif key > self.heap[0][0]:
            heapq.heapreplace(self.heap, (key, row))

    def chosen(self) -> List[tuple]:
        return [row for _, row in self.heap]


def _h5_name(utt_id: str) -> str:
    """An utterance id as one HDF5 name: '/' would make groups (ids of folder-named utterances have it)."""
    return urllib.parse.quote(utt_id, safe="")


def _first(it: Iterator, n: int) -> list:
    out = []
    for x in it:
        if len(out) >= n:
            break
        out.append(x)
    return out


def _sum_counts(rows: List[dict]) -> dict:
    out: dict = {"failure_reasons": {}}
    for r in rows:
        for k, v in r.items():
            if k == "failure_reasons":
                for reason, n in v.items():
                    out[k][reason] = out[k].get(reason, 0) + n
            else:
                out[k] = out.get(k, 0) + v
    return out


def write_inspection(out_dir: Path, inspect: List[tuple], engine_name: str) -> None:
    """A TextGrid and a PNG (waveform + tiers) per (part, aligned cut): its first supervision."""
    for part, cut in inspect:
        sup = cut.supervisions[0]
        ali = sup.alignment or {}
        tiers = {"words": [(a.symbol, a.start - sup.start, a.end - sup.start) for a in ali.get("word", [])],
                 "phones": [(a.symbol, a.start - sup.start, a.end - sup.start) for a in ali.get("phone", [])]}
        name = sup.id.replace("/", "_")
        write_textgrid(out_dir / f"{name}.TextGrid", tiers, sup.duration)
        u = Utterance(sup.id, part, sup.speaker or cut.id, cut.id, sup.start, sup.duration, None)
        audio = utterance_samples(load_mono(cut, F.SAMPLE_RATE), u, cut)
        plot_alignment(out_dir / f"{name}.png", audio, F.SAMPLE_RATE, tiers,
                       title=f"{sup.id} ({engine_name} engine, DNN-HMM)")
