#!/usr/bin/env python3
"""Memory and time against corpus size (1x, 10x, 100x): the manifest-level work of stages 1-4, and the training
data build + the first 100 updates of stage 5.

Stages 1-4 (--part stages1-4):

On synthetic LibriSpeech-like manifests (12 s cuts, one supervision each, 40 speakers per 1k cuts, a
stage-2 transcript per cut), each size in a fresh process, the code the stages run:
  stage 3 split     the manifest split into --nj speaker pieces with the transcripts put in (SQLite index),
                    the training subset chosen
  stage 3 align     each piece streamed, an alignment tier of ~12 phones/s made per supervision (the real
                    tier-writing code: collapse_repeats, alignment items, aligned cuts) and written
  stage 3 combine   the pieces joined, in order
  stage 4 plan      the part's shards planned (two streaming passes), shard manifests joined
Audio is not read (the steps that read it hold one recording at a time; their memory does not depend on
the corpus). Prints peak RSS and wall time per size; last lines:
  rss_growth_100x=<peak RSS at 100x / at 1x>     goal <= 1.5
  time_growth_100x=<wall time at 100x / at 1x>   goal <= 120 (linear or better)

Stages 5-6 (--part training): synthetic LibriLight-like stage-3/4 manifests (files of ~10 voice-activity
segments of 2-8 s, tts_phone tiers of ~12 phones/s, codes referencing a few real HDF5 arrays), --base-segments
segments at 1x. Each size in a fresh process: the training-data build (codes index, segment merging, the out-of-
core shuffle into shards), then stage 5's Trainer (a small model) for 100 updates. The memory caps (shard size,
the sampler's buffer) are set near the 1x size, so 10x and 100x are well past them. Prints peak RSS, build time
and start-up time (Trainer ready + its first batch) per size; last lines:
  train_startup_growth_100x=<start-up time at 100x / at 1x>   goal <= 120
  train_rss_growth_100x=<peak RSS at 100x / at 1x>            goal <= 1.5

  python bench/scale.py [--part all|stages1-4|training] [--base-cuts 1000] [--nj 4] [--base-segments 2000]
"""
import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, List

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PHONES = "AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W Y Z ZH".split()
WORDS = ["THE", "OF", "AND", "TO", "A", "IN", "THAT", "HE", "WAS", "IT", "HIS", "HAD", "WITH", "AS", "FOR", "HER"]


def make_corpus(out: Path, num_cuts: int, seed: int = 0) -> None:
    """cuts_train.jsonl.gz + lang/text/train.txt, written streaming."""
    from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
    from lhotse.audio import AudioSource

    rng = random.Random(seed)
    spk_count = max(1, num_cuts // 25)
    (out / "lang" / "text").mkdir(parents=True, exist_ok=True)
    with CutSet.open_writer(out / "cuts_train.jsonl.gz") as w, open(out / "lang" / "text" / "train.txt", "w") as t:
        for i in range(num_cuts):
            spk = f"{1000 + i * spk_count // num_cuts}"
            uid = f"{spk}-{i:07d}"
            dur = round(rng.uniform(8.0, 16.0), 2)
            rec = Recording(uid, [AudioSource("file", [0], f"/corpus/{spk}/{uid}.flac")], 16000, int(dur * 16000), dur)
            words = " ".join(rng.choice(WORDS) for _ in range(int(dur * 2.5)))
            sup = SupervisionSegment(uid, uid, 0.0, dur, channel=0, speaker=spk, text=words.lower())
            w.write(MonoCut(uid, 0.0, dur, 0, recording=rec, supervisions=[sup]))
            t.write(f"{uid} {words}\n")


def run_steps(corpus: Path, work: Path, nj: int) -> dict:
    """The stage steps over ``corpus``; returns seconds per step."""
    from lhotse import CutSet

    from valle.align.pipeline import UtteranceAlignment, aligned_cut
    from valle.align.stage import SubsetChooser, TextIndex
    from valle.codec.config import TokenizeConfig
    from valle.codec.tokenize import part_shards
    from valle.data.split import combine_cuts, iter_cuts, split_cuts
    from valle.utils.io import atomic_path

    times = {}
    t = time.time()
    texts = TextIndex(corpus / "lang" / "text" / "train.txt", work / "text.sqlite")
    subset = SubsetChooser(10000)

    def transform(cut, piece):
        sups = [replace(s, text=texts.get(s.id)) for s in cut.supervisions]
        for s in sups:
            subset.offer("train", s, cut.id)
        return replace(cut, supervisions=sups)
    pieces = [work / f"cuts_train.{j}.jsonl.gz" for j in range(1, nj + 1)]
    split_cuts(corpus / "cuts_train.jsonl.gz", nj, pieces, transform)
    texts.close()
    times["split"] = time.time() - t

    t = time.time()
    rng = random.Random(0)
    aligned = []
    for j, piece in enumerate(pieces, 1):
        out = work / f"ali_train.{j}.jsonl.gz"
        with atomic_path(out) as tmp, CutSet.open_writer(tmp) as w:
            for cut in iter_cuts(piece):
                results = {}
                for sup in cut.supervisions:
                    n = int(sup.duration * 12)
                    bounds = sorted(rng.uniform(0, sup.duration) for _ in range(n - 1))
                    edges = [0.0] + bounds + [sup.duration]
                    phones = [(rng.choice(PHONES), a, b) for a, b in zip(edges, edges[1:])]
                    results[sup.id] = UtteranceAlignment(phones, None, None, False, "")
                w.write(aligned_cut(cut, results))
        aligned.append(out)
    times["align"] = time.time() - t

    t = time.time()
    combine_cuts(aligned, work / "aligned_train.jsonl.gz")
    times["combine"] = time.time() - t

    t = time.time()
    shards = part_shards(work / "aligned_train.jsonl.gz", TokenizeConfig())
    combine_cuts([work / "aligned_train.jsonl.gz"], work / "tokens_train.jsonl.gz")
    times["stage4_plan_join"] = time.time() - t
    times["shards"] = len(shards)
    return times


def worker(num_cuts: int, nj: int) -> None:
    """One size: corpus made in a child process (its memory not counted), then the steps here."""
    with tempfile.TemporaryDirectory(prefix="valle-scale-") as d:
        d = Path(d)
        subprocess.run([sys.executable, __file__, "--make", str(num_cuts), "--dir", str(d)], check=True)
        import lhotse  # noqa: F401  (imports are not what is measured: loaded before the clock starts)
        import valle.align.stage  # noqa: F401
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.time()
        times = run_steps(d, d, nj)
        wall = time.time() - t0
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"cuts": num_cuts, "wall_s": wall, "peak_rss_mb": peak, "rss_after_imports_mb": rss0, **times}))


# --------------------------------------------------------------------------------------------- training
def make_training_corpus(out: Path, num_segments: int, seed: int = 0) -> None:
    """aligned.jsonl.gz (LibriLight-like files, tts_phone tiers), tokens.jsonl.gz (codes: one of 16 stored arrays
    long enough for any file), lang/phones.txt; written streaming."""
    import numpy as np
    from lhotse import CutSet, MonoCut, Recording, SupervisionSegment
    from lhotse.features.io import NumpyHdf5Writer
    from lhotse.supervision import AlignmentItem

    rng = random.Random(seed)
    (out / "lang").mkdir(parents=True, exist_ok=True)
    phones = "".join(f"{p} {i + 2}\n" for i, p in enumerate(PHONES))
    (out / "lang" / "phones.txt").write_text("<eps> 0\nSIL 1\n" + phones)
    max_seconds = 10 * (8.0 + 1.5) + 2
    arrays = []
    with NumpyHdf5Writer(out / "codes.h5") as h5:
        for k in range(16):
            codes = np.random.default_rng(k).integers(0, 1024, (int(max_seconds * 75), 8), dtype=np.int16)
            arrays.append(h5.store_array(f"a{k}", codes, frame_shift=1 / 75, temporal_dim=0, start=0.0))
    made, n = 0, 0
    with CutSet.open_writer(out / "aligned.jsonl.gz") as aw, CutSet.open_writer(out / "tokens.jsonl.gz") as tw:
        while made < num_segments:
            rec_id = f"{1000 + n // 50}-book-{n:07d}"
            sups, t = [], rng.uniform(0.2, 1.0)
            for s in range(min(10, num_segments - made)):
                dur = rng.uniform(2.0, 8.0)
                edges = sorted(rng.uniform(t, t + dur) for _ in range(int(dur * 12) - 1))
                edges = [t] + edges + [t + dur]
                items = [AlignmentItem(rng.choice(PHONES), round(a, 4), round(b - a, 4))
                         for a, b in zip(edges, edges[1:])]
                sups.append(SupervisionSegment(f"{rec_id}_{s}", rec_id, round(t, 4), round(dur, 4), channel=0,
                                               speaker=rec_id.split("-")[0], alignment={"tts_phone": items}))
                t += dur + rng.uniform(0.2, 1.5)
            rec = Recording(rec_id, [], 24000, int(t * 24000), round(t, 4))
            aw.write(MonoCut(rec_id, 0.0, rec.duration, 0, recording=rec, supervisions=sups))
            tw.write(MonoCut(rec_id, 0.0, rec.duration, 0, recording=rec, custom={"codes": arrays[n % 16]}))
            made += len(sups)
            n += 1


def train_worker(num_segments: int, shard_size: int, buffer_size: int) -> None:
    from valle.data.config import TtsDataConfig
    from valle.data.tts_data import build_tts_data
    from valle.models import config as model_config
    from valle.train.config import TrainConfig
    from valle.train.trainer import Trainer

    model_config.CONFIGS["bench"] = model_config.ModelConfig(d_model=64, num_heads=2, num_layers=1, ffn_dim=128)
    torch_threads = 2
    with tempfile.TemporaryDirectory(prefix="valle-scale-train-") as d:
        d = Path(d)
        subprocess.run([sys.executable, __file__, "--make-training", str(num_segments), "--dir", str(d)], check=True)
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.time()
        summary = build_tts_data([d / "aligned.jsonl.gz"], [d / "tokens.jsonl.gz"], d / "tts",
                                 cfg=TtsDataConfig(shard_size=shard_size))
        build_s = time.time() - t0
        build_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        cfg = TrainConfig(model_type="ar", exp_dir=d / "exp", phones=d / "lang" / "phones.txt", tts_dir=d / "tts",
                          model_config="bench", num_steps=100, warmup_steps=10, max_batch=60.0, num_buckets=10,
                          bucket_buffer_size=buffer_size, crop_min=10.0, crop_max=20.0, log_interval=1000,
                          save_interval=1000, threads=torch_threads)
        t1 = time.time()
        trainer = Trainer(cfg)
        next(iter(trainer.train_batches()))
        startup_s = time.time() - t1
        t2 = time.time()
        trainer.run()
        train_s = time.time() - t2
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"segments": num_segments, "examples": summary["train"]["examples"],
                      "hours": summary["train"]["hours"], "shards": len(summary["train"]["shards"]),
                      "build_s": build_s, "startup_s": startup_s, "train_100_s": train_s, "peak_rss_mb": peak,
                      "build_peak_rss_mb": build_peak,
                      "rss_before_mb": rss0}))


def each_size(worker_args: Callable[[int], List[str]]) -> Iterator[dict]:
    """The worker's JSON row at 1x, 10x and 100x, each in a fresh process, as each finishes."""
    for factor in (1, 10, 100):
        out = subprocess.run([sys.executable, __file__, *worker_args(factor)], check=True, capture_output=True,
                             text=True).stdout
        yield json.loads(out.strip().splitlines()[-1])


def run_training(args) -> None:
    rows = []
    for row in each_size(lambda f: ["--train-worker", str(args.base_segments * f), "--shard-size", str(args.shard_size),
                                    "--buffer-size", str(args.buffer_size)]):
        rows.append(row)
        print(f"{row['segments']:>8} segments -> {row['examples']:>7} examples ({row['hours']:7.1f} h, "
              f"{row['shards']} shards): peak RSS {row['peak_rss_mb']:7.1f} MB (before the build "
              f"{row['rss_before_mb']:.1f}, after it {row['build_peak_rss_mb']:.1f}), build {row['build_s']:6.1f} s, "
              f"start-up {row['startup_s']:5.2f} s, 100 updates {row['train_100_s']:6.1f} s", flush=True)
    print(f"train_build_time_growth_100x={rows[2]['build_s'] / rows[0]['build_s']:.1f}")
    print(f"train_startup_growth_100x={rows[2]['startup_s'] / rows[0]['startup_s']:.2f}")
    print(f"train_build_rss_growth_100x={rows[2]['build_peak_rss_mb'] / rows[0]['build_peak_rss_mb']:.3f}")
    print(f"train_rss_growth_100x={rows[2]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.3f}")


def run_stages14(args) -> None:
    rows = []
    for row in each_size(lambda f: ["--worker", str(args.base_cuts * f), "--nj", str(args.nj)]):
        rows.append(row)
        print(f"{row['cuts']:>8} cuts ({row['cuts'] * 12 / 3600:7.1f} h): peak RSS {row['peak_rss_mb']:7.1f} MB "
              f"(after imports {row['rss_after_imports_mb']:.1f}), wall {row['wall_s']:7.1f} s "
              f"(split {row['split']:.1f}, align tiers {row['align']:.1f}, combine {row['combine']:.1f}, "
              f"stage-4 plan+join {row['stage4_plan_join']:.1f}; {row['shards']} shards)", flush=True)
    print(f"rss_growth_100x={rows[2]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.3f}")
    print(f"time_growth_100x={rows[2]['wall_s'] / rows[0]['wall_s']:.1f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", choices=("all", "stages1-4", "training"), default="all")
    p.add_argument("--base-cuts", type=int, default=1000, help="stages 1-4: cuts at 1x")
    p.add_argument("--nj", type=int, default=4)
    p.add_argument("--base-segments", type=int, default=2000, help="training: voice-activity segments at 1x")
    p.add_argument("--shard-size", type=int, default=1000, help="training: examples per shard")
    p.add_argument("--buffer-size", type=int, default=1000, help="training: the bucketing sampler's buffer")
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--train-worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--make", type=int, help=argparse.SUPPRESS)
    p.add_argument("--make-training", type=int, help=argparse.SUPPRESS)
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.make:
        make_corpus(args.dir, args.make)
    elif args.make_training:
        make_training_corpus(args.dir, args.make_training)
    elif args.worker:
        worker(args.worker, args.nj)
    elif args.train_worker:
        train_worker(args.train_worker, args.shard_size, args.buffer_size)
    else:
        if args.part in ("all", "stages1-4"):
            run_stages14(args)
        if args.part in ("all", "training"):
            run_training(args)


if __name__ == "__main__":
    main()
