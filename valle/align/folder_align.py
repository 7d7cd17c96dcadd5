"""Stage 3 as a standalone forced aligner: a folder of audio + transcripts in, TextGrids out.

    align_folder(corpus_dir, output_dir, model_dir="exp/mini/align")     # with a trained stage-3 model
    align_folder(corpus_dir, output_dir, train=True)                     # train one on the folder first

The folder is read by ``valle.corpus.folder`` (LibriSpeech or MFA layout). Its transcripts get a lang directory:
with a trained model, the model's own (``model_dir/lang``) extended by the new words' pronunciations in its phone
table (``valle.text.lang.extend_lang``); with ``train``, a new one built as stage 2 does. Then stage 3 itself
(``valle.align.stage.Stage3``) runs over ``num_jobs`` pieces, in parallel processes: per-speaker CMVN of the
new data, DNN-HMM forced alignment with the retry beams, the speechless/mismatch flags; with ``train``, the
GMM-HMM and the DNN first, written to ``model_dir`` (with their lang) for later runs.

Outputs under ``output_dir``, named after each audio file's path in the corpus (``spk/utt.wav`` ->
``spk/utt.TextGrid``, ``spk/utt.json``):
  <path>.TextGrid      Praat long format, tiers "words" and "phones" (silence = empty intervals)
  <path>.json          the same tiers in praatio's JSON layout ({"start", "end", "tiers": {name: {"type",
                       "entries": [[start, end, label], ...]}}}) plus the utterance id, speaker and audio file
  failures.tsv         every file or utterance not aligned, with the reason (unreadable audio, no transcript,
                       no alignment, flagged as speechless or as a transcript that is not what was said)
  new_words.tsv        words the model's lexicon lacked, and where their pronunciation came from
  summary.json, align.log
The intermediate files are in ``output_dir/.work`` (removed when the run succeeds, unless ``keep_work``).
"""
import concurrent.futures
import json
import logging
import multiprocessing
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from valle.align.config import AlignConfig
from valle.align.stage import Parts, Stage3
from valle.corpus.folder import relative_to_corpus, scan_folder
from valle.data.split import iter_cut_fields
from valle.text.config import LangConfig
from valle.text.lang import extend_lang, prepare_lang
from valle.text.lexicon import SIL
from valle.align.textgrid import write_textgrid
from valle.utils.io import write_text_atomic

PART = "corpus"  # the one part the folder becomes


class AlignToolError(RuntimeError):
    """Arguments or a model that cannot be used; the message says what to do."""


@dataclass
class FolderAlignment:
    utterances: int          # usable utterances found in the folder
    aligned: int             # TextGrids written
    failures: int            # lines of failures.tsv (files and utterances)
    audio_seconds: float
    align_seconds: float     # the align step's CPU-job seconds, summed over jobs
    wall_seconds: float


def model_lang_dir(model_dir: Path, lang_dir: Optional[Path] = None) -> Path:
    """The lang directory of a trained model: the one given, else the copy stage 3 keeps beside the models."""
    if lang_dir is not None:
        return Path(lang_dir)
    kept = Path(model_dir) / "lang"
    if (kept / "phones.txt").is_file():
        return kept
    raise AlignToolError(f"{model_dir} keeps no lang directory (models trained before stage 3 stored it): give "
                         f"the one it was trained with, --lang-dir data/<recipe>/lang")


def check_output_dir(corpus_dir: Path, output_dir: Path) -> None:
    """AlignToolError when the output folder is inside the corpus: its transcript-like files (the model's lang,
    the work dir) would be read as corpus files next time."""
    if Path(output_dir).resolve().is_relative_to(Path(corpus_dir).resolve()):
        raise AlignToolError(f"the output folder {output_dir} is inside the corpus folder {corpus_dir}: put it "
                             f"elsewhere")


def _run_job(stage_args: tuple, step: str, job: int) -> None:
    """One features or align job in a worker process (one torch thread: the jobs are the parallelism)."""
    import torch

    torch.set_num_threads(1)
    getattr(Stage3(*stage_args), step)(job)


def _run_jobs(stage: Stage3, stage_args: tuple, step: str, num_jobs: int) -> None:
    if num_jobs == 1:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # as each of several jobs: results do not depend on --nj
        try:
            for j in stage.jobs():
                getattr(stage, step)(j)
        finally:
            torch.set_num_threads(threads)
        return
    # spawn: a forked child of a process that has run torch's OpenMP pool can hang.
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(num_jobs, mp_context=ctx) as pool:
        futures = {pool.submit(_run_job, stage_args, step, j): j for j in stage.jobs()}
        for fut in concurrent.futures.as_completed(futures):
            fut.result()  # a job's exception stops the run, naming it
    logging.info("%s: %d jobs done", step, num_jobs)


def align_folder(corpus_dir: Path, output_dir: Path, model_dir: Optional[Path] = None, train: bool = False,
                 lang_dir: Optional[Path] = None, num_jobs: int = 1, cfg: AlignConfig = AlignConfig(),
                 lang_cfg: LangConfig = LangConfig(), layout: str = "auto", keep_work: bool = False) -> FolderAlignment:
    """Aligns every utterance of ``corpus_dir`` into ``output_dir`` (see the module doc). ``model_dir``: the trained
    model to align with, or with ``train`` where the new one is written (default ``output_dir/model``)."""
    t_start = time.time()
    corpus_dir, output_dir = Path(corpus_dir), Path(output_dir)
    check_output_dir(corpus_dir, output_dir)
    if train:
        model_dir = Path(model_dir) if model_dir is not None else output_dir / "model"
        if (model_dir / "dnn" / ".done").is_file():
            raise AlignToolError(f"{model_dir} already holds a trained model: align with it (--model {model_dir}, "
                                 f"without --train) or give --train another --model folder")
    elif model_dir is None:
        raise AlignToolError("give a trained stage-3 model (--model exp/<recipe>/align) or --train")
    else:
        model_dir = Path(model_dir)
        if not (model_dir / "dnn" / ".done").is_file():
            raise AlignToolError(f"no trained model in {model_dir} (expected {model_dir}/dnn/.done): give stage 3's "
                                 f"exp/<recipe>/align, or train one on this folder with --train")
        lang_dir = model_lang_dir(model_dir, lang_dir)
    work = output_dir / ".work"
    if work.exists():
        shutil.rmtree(work)  # a rerun starts over: the folder may have changed since
    (work / "manifests").mkdir(parents=True)

    scan, texts = scan_folder(corpus_dir, work / "manifests" / f"cuts_{PART}.jsonl.gz", layout)
    logging.info("%s (%s layout): %d utterances, %d speakers, %.1f min; %d files or lines cannot be used (listed "
                 "in failures.tsv)", corpus_dir, scan.layout, scan.utterances, scan.speakers, scan.audio_seconds / 60,
                 len(scan.problems))
    new_words: Dict[str, str] = {}
    if train:
        prepare_lang({PART: texts}, work / "lang", lang_cfg)
        parts = Parts(train=[PART])
    else:
        new_words = extend_lang(lang_dir, {PART: texts}, work / "lang")["new_words"]
        parts = Parts(train=[], labeled=[PART])
    del texts
    # The tool's own outputs replace stage 3's inspection plots.
    stage_args = (work / "lang", work / "manifests", work / "stage3", work / "aligned", parts, num_jobs,
                  replace(cfg, num_inspect=0), model_dir)
    stage = Stage3(*stage_args)
    stage.split()
    _run_jobs(stage, stage_args, "features", num_jobs)
    stage.train()
    _run_jobs(stage, stage_args, "align", num_jobs)
    summary = stage.combine()

    aligned = write_outputs(work / "aligned" / f"cuts_{PART}.jsonl.gz", output_dir)
    failures = collect_failures(corpus_dir, scan.problems, work, output_dir)
    write_text_atomic(output_dir / "new_words.tsv", "word\tsource\n" + "".join(
        f"{w}\t{s}\n" for w, s in sorted(new_words.items())))
    part = summary["parts"][PART]
    result = FolderAlignment(utterances=scan.utterances, aligned=aligned, failures=failures,
                             audio_seconds=scan.audio_seconds, align_seconds=summary["steps"]["align_s"],
                             wall_seconds=time.time() - t_start)
    write_text_atomic(output_dir / "summary.json", json.dumps({
        **asdict(result), "corpus": str(corpus_dir), "layout": scan.layout, "model": str(model_dir),
        "trained": train, "num_jobs": num_jobs, "engine": summary["engine"],
        "x_real_time_per_job": part["x_real_time_per_job"], "failure_reasons": part["failure_reasons"],
        "flagged": part["flagged"], "new_words": len(new_words),
        # A model read from elsewhere was not trained here: its training seconds are not this run's.
        "stage3_steps_s": {k: v for k, v in summary["steps"].items()
                           if train or k in ("split_s", "features_s", "align_s")}}, indent=1) + "\n")
    if not keep_work:
        shutil.rmtree(work)
    logging.info("aligned %d of %d utterances (%.1f min of audio) in %.0f s; alignment %.0fx real time per job; "
                 "%d failures listed in %s", aligned, scan.utterances, scan.audio_seconds / 60, result.wall_seconds,
                 part["x_real_time_per_job"], failures, output_dir / "failures.tsv")
    return result


def utterance_tiers(sup) -> Tuple[Dict[str, List[Tuple[str, float, float]]], float]:
    """({"words": [...], "phones": [...]}, duration) of an aligned supervision, times from its start; silence left
    out (the gaps are empty intervals, as other aligners write them)."""
    ali = sup.alignment or {}

    def items(kind):
        return [(a.symbol, round(a.start - sup.start, 4), round(a.end - sup.start, 4)) for a in ali.get(kind, [])
                if a.symbol != SIL]
    return {"words": items("word"), "phones": items("phone")}, sup.duration


def write_outputs(aligned_cuts: Path, output_dir: Path) -> int:
    """A TextGrid and a JSON per aligned supervision, named after its ``custom["path"]``. Returns how many."""
    from valle.data.split import iter_cuts

    n = 0
    for cut in iter_cuts(aligned_cuts):
        for sup in cut.supervisions:
            rel = (sup.custom or {}).get("path", sup.id)
            tiers, duration = utterance_tiers(sup)
            write_textgrid(output_dir / f"{rel}.TextGrid", tiers, duration)
            doc = {"start": 0.0, "end": round(duration, 4),
                   "tiers": {name: {"type": "IntervalTier", "entries": [[s, e, label] for label, s, e in items]}
                             for name, items in tiers.items()},
                   "utterance": sup.id, "speaker": sup.speaker,
                   "audio": cut.recording.sources[0].source if cut.has_recording else None}
            write_text_atomic(output_dir / f"{rel}.json", json.dumps(doc, ensure_ascii=False) + "\n")
            n += 1
    return n


def collect_failures(corpus_dir: Path, problems, work: Path, output_dir: Path) -> int:
    """failures.tsv: the folder's unusable files and lines (their path in the corpus, ``:line`` for a line), then
    the utterances stage 3 could not align or flagged (their path without extension, as their outputs would be
    named). Returns its rows."""
    rows = [(relative_to_corpus(p.where, corpus_dir), p.reason) for p in problems]
    stage_rows: List[Tuple[str, str]] = []
    for name in (f"failed_{PART}.tsv", f"flagged_{PART}.tsv"):
        path = work / "stage3" / "ali" / name
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines()[1:]:
                fields = line.split("\t")
                stage_rows.append((fields[0], ("flagged: " if name.startswith("flagged") else "") + fields[-1]))
    if stage_rows:
        wanted = {u for u, _ in stage_rows}
        path_of = {}
        for d in iter_cut_fields(work / "manifests" / f"cuts_{PART}.jsonl.gz"):
            for s in d.get("supervisions") or []:
                if s["id"] in wanted:
                    path_of[s["id"]] = (s.get("custom") or {}).get("path", s["id"])
        rows += [(path_of.get(u, u), reason) for u, reason in stage_rows]
    write_text_atomic(output_dir / "failures.tsv", "file\treason\n" + "".join(f"{w}\t{r}\n" for w, r in rows))
    return len(rows)


