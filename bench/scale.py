#!/usr/bin/env python3
"""Memory and time of the manifest-level work of stages 1-4 against corpus size (1x, 10x, 100x cuts).

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

  python bench/scale.py [--base-cuts 1000] [--nj 4]
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


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base-cuts", type=int, default=1000)
    p.add_argument("--nj", type=int, default=4)
    p.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    p.add_argument("--make", type=int, help=argparse.SUPPRESS)
    p.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.make:
        make_corpus(args.dir, args.make)
        return
    if args.worker:
        worker(args.worker, args.nj)
        return
    rows = []
    for factor in (1, 10, 100):
        out = subprocess.run([sys.executable, __file__, "--worker", str(args.base_cuts * factor), "--nj", str(args.nj)],
                             check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(f"{row['cuts']:>8} cuts ({row['cuts'] * 12 / 3600:7.1f} h): peak RSS {row['peak_rss_mb']:7.1f} MB "
              f"(after imports {row['rss_after_imports_mb']:.1f}), wall {row['wall_s']:7.1f} s "
              f"(split {row['split']:.1f}, align tiers {row['align']:.1f}, combine {row['combine']:.1f}, "
              f"stage-4 plan+join {row['stage4_plan_join']:.1f}; {row['shards']} shards)", flush=True)
    print(f"rss_growth_100x={rows[2]['peak_rss_mb'] / rows[0]['peak_rss_mb']:.3f}")
    print(f"time_growth_100x={rows[2]['wall_s'] / rows[0]['wall_s']:.1f}")


if __name__ == "__main__":
    main()
