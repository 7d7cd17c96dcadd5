#!/usr/bin/env python3
"""The standalone aligner (python -m valle.bin.align) against the mini corpus's ground truth (espeak-ng's own
timings): word- and phone-boundary error of its TextGrid output, and its speed, for

  model     the recipe's stage-3 model (exp/mini/align) aligning the held-out speakers (dev + test), given as an
            MFA-layout folder (wav + .lab with the raw, unnormalized text a user would have)
  train     --train on the LibriSpeech-layout train-clean-100 folder, then that model on the same held-out folder
  self      --train on the held-out folder itself (70 utterances, 8 min: MFA's "train and align" on a small set)

All rows in one run. Speed: "x real time per job" is stage 3's align step (audio seconds / job seconds); "wall"
is the whole command (process start, lexicon, features, training, outputs).

Needs stage 3 to have run:  ./run.sh --stop-stage 3   (then)   python bench/align_folder.py [--nj 2]
Last line: align_folder_word_median_ms=<the model row's median word-boundary error>
"""
import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from alignment_accuracy import add_mini_args, ref_mapper  # noqa: E402
from valle.eval.alignment import load_ground_truth, phone_boundary_errors, summarize, word_boundary_errors  # noqa: E402


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_mini_args(p)
    p.add_argument("--train-part", default="train-clean-100")
    p.add_argument("--nj", type=int, default=2)
    p.add_argument("--rows", default="model train self")
    return p.parse_args()


def mfa_folder(librispeech: Path, parts, gt: dict, out: Path) -> int:
    """The parts as an MFA-layout folder: <speaker>/<id>.flac (a link) + <id>.lab with the raw text."""
    n = 0
    for part in parts:
        for audio in sorted((librispeech / part).rglob("*.flac")):
            uid = audio.stem
            spk_dir = out / uid.split("-")[0]
            spk_dir.mkdir(parents=True, exist_ok=True)
            (spk_dir / audio.name).symlink_to(audio.resolve())
            (spk_dir / f"{uid}.lab").write_text(gt[uid]["text"] + "\n", encoding="utf-8")
            n += 1
    return n


def run_align(*args) -> float:
    t0 = time.time()
    proc = subprocess.run([sys.executable, "-m", "valle.bin.align", *map(str, args)], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        sys.exit(f"valle.bin.align {' '.join(map(str, args))} failed:\n{proc.stdout[-3000:]}")
    return time.time() - t0


def score(out_dir: Path, gt: dict, model_dir: Path) -> dict:
    """Boundary errors of the aligner's JSON outputs; reference phones mapped to the model's phone set."""
    mapper = ref_mapper(json.loads((model_dir / "lang" / "lang_info.json").read_text()))
    pe, we, n, mismatched = [], [], 0, 0
    for path in sorted(out_dir.rglob("*.json")):
        doc = json.loads(path.read_text())
        if "tiers" not in doc:
            continue  # summary.json
        uid = doc["utterance"].split("/")[-1]
        ref = gt[uid]
        n += 1
        words = [(w, s, e) for s, e, w in doc["tiers"]["words"]["entries"]]
        phones = [(p, s, e) for s, e, p in doc["tiers"]["phones"]["entries"]]
        ref_phones = [(mapper(p).split()[0] if p != "sil" else p, s, e) for p, s, e, _ in ref["phones"]]
        pe += phone_boundary_errors(ref_phones, phones)
        errs = word_boundary_errors([tuple(w) for w in ref["words"]], words)
        if errs is None:
            mismatched += 1
        else:
            we += errs
    summary = json.loads((out_dir / "summary.json").read_text())
    return {"aligned": n, "word_mismatch": mismatched, "word": summarize(we), "phone": summarize(pe),
            "failures": summary["failures"], "utterances": summary["utterances"],
            "x_rt_job": summary["x_real_time_per_job"], "audio_s": summary["audio_seconds"]}


def main():
    args = get_args()
    args.data_dir, args.exp_dir = args.data_dir.resolve(), args.exp_dir.resolve()  # the aligner runs in the repo
    if not (args.exp_dir / "dnn" / ".done").is_file():
        sys.exit(f"expected {args.exp_dir}/dnn/.done: run ./run.sh --stop-stage 3 first")
    gt = load_ground_truth(args.data_dir / "download" / "ground_truth" / "librispeech.jsonl.gz")
    lang_dir = args.data_dir / "lang"
    librispeech = args.data_dir / "download" / "LibriSpeech"
    rows = {}
    with tempfile.TemporaryDirectory(prefix="align_bench_") as tmp:
        tmp = Path(tmp)
        held_out = tmp / "held_out"
        n = mfa_folder(librispeech, args.parts.split(), gt, held_out)
        print(f"held-out folder: {n} utterances of {args.parts} (MFA layout, raw text); --nj {args.nj}")
        wanted = args.rows.split()
        if "model" in wanted:
            kept = (args.exp_dir / "lang" / "phones.txt").is_file()
            wall = run_align(held_out, tmp / "out_model", "--model", args.exp_dir, "--nj", args.nj,
                             *([] if kept else ["--lang-dir", lang_dir]))
            rows["recipe model (exp/mini/align)"] = {
                **score(tmp / "out_model", gt, args.exp_dir if kept else args.data_dir), "wall": wall}
        if "train" in wanted:
            train_dir = librispeech / args.train_part
            wall_t = run_align(train_dir, tmp / "out_train", "--train", "--model", tmp / "model_train", "--nj", args.nj)
            train_summary = json.loads((tmp / "out_train" / "summary.json").read_text())
            wall = run_align(held_out, tmp / "out_train_held", "--model", tmp / "model_train", "--nj", args.nj)
            rows[f"--train on {args.train_part}"] = {**score(tmp / "out_train_held", gt, tmp / "model_train"), "wall": wall,
                                                     "train_wall": wall_t,
                                                     "train_audio_min": train_summary["audio_seconds"] / 60}
        if "self" in wanted:
            wall = run_align(held_out, tmp / "out_self", "--train", "--nj", args.nj)
            rows["--train on the folder itself"] = {**score(tmp / "out_self", gt, tmp / "out_self" / "model"), "wall": wall}
    print(f"{'aligner model':32} {'utts':>5} {'fail':>4} {'wd med':>7} {'wd mean':>7} {'wd<20':>6} {'wd<50':>6} "
          f"{'ph med':>7} {'ph<20':>6} {'xRT/job':>7} {'wall s':>7}")
    for name, r in rows.items():
        w, p = r["word"], r["phone"]
        print(f"{name:32} {r['aligned']:5d} {r['failures']:4d} {w.get('median_ms', float('nan')):7.1f} "
              f"{w.get('mean_ms', float('nan')):7.1f} {w.get('within_20ms', float('nan')):6.1f} "
              f"{w.get('within_50ms', float('nan')):6.1f} {p.get('median_ms', float('nan')):7.1f} "
              f"{p.get('within_20ms', float('nan')):6.1f} {r['x_rt_job']:7.0f} {r['wall']:7.1f}")
        if r["word_mismatch"]:
            print(f"  {r['word_mismatch']} utterances' word tiers did not match the reference words (not scored)")
        if "train_wall" in r:
            print(f"  training on {r['train_audio_min']:.1f} min took {r['train_wall']:.0f} s (wall, with its own "
                  f"alignment of the training folder)")
    first = next(iter(rows.values()))
    print(f"align_folder_word_median_ms={first['word'].get('median_ms', float('nan')):.1f}")


if __name__ == "__main__":
    main()
