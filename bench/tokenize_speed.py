#!/usr/bin/env python3
"""Codec throughput on this machine: audio seconds encoded (and decoded) per wall second.

EnCodec tokenization, side by side, in one run, on the same cuts and the same codec:
  per-utterance   one cut per encoder call, 1 process x --threads threads
  batched         cuts sorted by length, --batch-seconds of padded audio per call, 1 process x --threads
  processes       one cut per call, --threads processes x 1 thread each (what stage 4 does on CPU)
Then both codecs, one cut per call, --threads threads: encode and decode of EnCodec (random weights) and of
mel_rvq (fitted on the first half of the cuts, timed on the second half). Last lines:
speedup=<batched / per-utterance>, mel_rvq_encode_x_real_time=, mel_rvq_decode_x_real_time= (the issue's
targets: 50 and 5 on 2 cores), mel_rvq_vs_encodec_encode= and _decode= (ratios measured side by side).

    python bench/tokenize_speed.py [--cuts data/mini/manifests/cuts_train-clean-100.jsonl.gz] [--num-cuts 48]

Without --cuts (or when the file is missing) it uses random audio of 1-8 s. The codec is a random-init
EnCodec 24 kHz (the real architecture; weights do not change its speed).
"""
import argparse
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch

from valle.codec.encodec import SAMPLE_RATE, Codec, CodecInfo, new_model
from valle.codec.tokenize import TokenizeConfig, encode_waveforms, load_cut_audio


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cuts", type=Path, default=Path("data/mini/manifests/cuts_train-clean-100.jsonl.gz"))
    p.add_argument("--num-cuts", type=int, default=48)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch-seconds", type=float, default=60.0)
    p.add_argument("--device", default="cpu")
    return p.parse_args()


def make_codec(device: str) -> Codec:
    torch.manual_seed(0)
    model = new_model()
    return Codec(model, CodecInfo(False, "random init (speed only)", 6.0, 8), device)


def throughput(codec, waves, batch_seconds) -> float:
    config = TokenizeConfig(batch_seconds=batch_seconds)
    encode_waveforms(codec, waves[:2], config)  # warm-up
    if codec.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.time()
    encode_waveforms(codec, waves, config)
    if codec.device.type == "cuda":
        torch.cuda.synchronize()
    return sum(len(w) for w in waves) / SAMPLE_RATE / (time.time() - start)


def _process_worker(args):
    waves, device = args
    torch.set_num_threads(1)
    codec = make_codec(device)
    encode_waveforms(codec, waves[:1], TokenizeConfig())
    start = time.time()
    encode_waveforms(codec, waves, TokenizeConfig())
    return time.time() - start


def main():
    args = get_args()
    if args.cuts.is_file():
        from lhotse import load_manifest
        waves = [load_cut_audio(c)[0] for c in list(load_manifest(args.cuts))[: args.num_cuts]]
        source = f"{len(waves)} cuts of {args.cuts}"
    else:
        rng = np.random.default_rng(0)
        waves = [rng.normal(0, 0.1, int(rng.uniform(1, 8) * SAMPLE_RATE)).astype(np.float32)
                 for _ in range(args.num_cuts)]
        source = f"{len(waves)} random waveforms"
    audio = sum(len(w) for w in waves) / SAMPLE_RATE
    print(f"audio: {source}, {audio:.0f} s; device {args.device}; {args.threads} threads")
    torch.set_num_threads(args.threads)
    codec = make_codec(args.device)
    single = throughput(codec, waves, 0.0)
    batched = throughput(codec, waves, args.batch_seconds)
    parallel = float("nan")
    if args.device == "cpu" and args.threads > 1:
        shares = [(waves[i:: args.threads], args.device) for i in range(args.threads)]
        with multiprocessing.get_context("spawn").Pool(args.threads) as pool:
            start = time.time()
            pool.map(_process_worker, shares)  # includes start-up: the honest end-to-end figure
            parallel = audio / (time.time() - start)
    print(f"{'mode':<16} {'audio s / wall s':>16}")
    print(f"{'per-utterance':<16} {single:>16.1f}")
    print(f"{'batched':<16} {batched:>16.1f}   ({args.batch_seconds:.0f} s of padded audio per call)")
    print(f"{'processes':<16} {parallel:>16.1f}   ({args.threads} x 1 thread, incl. process start-up)")
    print(f"process_speedup={parallel / single:.2f}")
    print(f"speedup={batched / single:.2f}")
    compare_codecs(codec, waves)


def _timed(fn, items) -> float:
    start = time.time()
    for item in items:
        fn(item)
    return time.time() - start


def compare_codecs(encodec, waves) -> None:
    from valle.codec.mel_rvq import fit_mel_rvq

    fit_waves, test_waves = waves[: len(waves) // 2], waves[len(waves) // 2:]
    start = time.time()
    mel = fit_mel_rvq(fit_waves, max_frames=20000)
    fit_s = time.time() - start
    audio = sum(len(w) for w in test_waves) / SAMPLE_RATE
    rows = {}
    for name, codec in (("encodec", encodec), ("mel_rvq", mel)):
        codec.encode_batch(test_waves[:1])  # warm-up
        codes = [codec.encode_batch([w])[0] for w in test_waves]
        rows[name] = (audio / _timed(lambda w: codec.encode_batch([w]), test_waves),
                      audio / _timed(codec.decode, codes))
    print(f"\ncodecs on {len(test_waves)} cuts ({audio:.0f} s), one cut per call; mel_rvq fitted in {fit_s:.1f} s")
    print(f"{'codec':<10} {'encode x real time':>19} {'decode x real time':>19}")
    for name, (enc, dec) in rows.items():
        print(f"{name:<10} {enc:>19.1f} {dec:>19.1f}")
    print(f"mel_rvq_encode_x_real_time={rows['mel_rvq'][0]:.1f}")
    print(f"mel_rvq_decode_x_real_time={rows['mel_rvq'][1]:.1f}")
    print(f"mel_rvq_vs_encodec_encode={rows['mel_rvq'][0] / rows['encodec'][0]:.2f}")
    print(f"mel_rvq_vs_encodec_decode={rows['mel_rvq'][1] / rows['encodec'][1]:.2f}")


if __name__ == "__main__":
    main()
