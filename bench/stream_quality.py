#!/usr/bin/env python3
"""Streaming against one-pass synthesis on a trained recipe: how much streaming changes the output, and its latency.

For the first ``--num`` targets of stage 7's test list (cross mode, their stage-7 prompts), each synthesized in one
pass (``Synthesizer.synthesize``) and streamed (``Synthesizer.stream``) with each NAR lookahead of ``--lookaheads``:
- codebook 1 equal (the AR's codes: must be 100 %), frames whose 8 codes are all equal, codebooks 2-8 equal;
- log-mel L1 (natural log, 100 mels) between the streamed and the one-pass audio, and, for scale, between the
  one-pass audio and the same utterance's one-pass audio at another seed (what sampling alone changes);
- time to the first audio (prompt codes cached: the voice is known) and the streamed audio seconds per second.

    python bench/stream_quality.py --exp-dir exp/mini --data-dir data/mini            # after ./run.sh (stage 7)
"""
import argparse
import dataclasses
import statistics
from pathlib import Path

import numpy as np
import torch

from valle.codec.mel_rvq import N_MELS, MelRvqCodec
from valle.constants import CODEC_SAMPLE_RATE
from valle.infer.config import DecodeConfig, StreamConfig
from valle.infer.synthesize import Request, StreamClock, Synthesizer


def read_test_list(synth_dir: Path, num: int):
    lines = (synth_dir / "test_list.tsv").read_text(encoding="utf-8").splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:] if line.strip()]
    return [Request(r["text"], synth_dir / "prompts" / f"{r['id']}.wav", r["prompt_text"]) for r in rows[:num]]


def log_mel_l1(probe: MelRvqCodec, a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float((probe.log_mel(a[:n]) - probe.log_mel(b[:n])).abs().mean())


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, default=Path("exp/mini"))
    p.add_argument("--data-dir", type=Path, default=Path("data/mini"))
    p.add_argument("--synth-dir", type=Path, help="stage 7's output (default: <exp-dir>/synth)")
    p.add_argument("--num", type=int, default=10)
    p.add_argument("--lookaheads", default="0 2 4 8")
    p.add_argument("--first-frames", type=int, default=StreamConfig.first_frames)
    p.add_argument("--max-frames", type=int, default=StreamConfig.max_frames)
    args = p.parse_args()
    synth_dir = args.synth_dir or args.exp_dir / "synth"
    synth = Synthesizer(args.exp_dir / "ar" / "model.pt", args.exp_dir / "nar" / "model.pt",
                        args.data_dir / "tokens" / "codec.pt", args.data_dir / "lang", decode=DecodeConfig())
    probe = MelRvqCodec(torch.zeros(0, 1024, N_MELS), torch.zeros(N_MELS), None)
    requests = read_test_list(synth_dir, args.num)
    one_pass = [synth.synthesize([r])[0] for r in requests]
    seed = synth.decode
    synth.decode = dataclasses.replace(seed, seed=(seed.seed or 0) + 1)
    other_seed = [synth.synthesize([r])[0] for r in requests]
    synth.decode = seed
    sampling_l1 = statistics.mean(log_mel_l1(probe, a.audio, b.audio) for a, b in zip(one_pass, other_seed))
    frames = sum(r.num_frames for r in one_pass)
    print(f"{len(requests)} test targets of {synth_dir}, {frames} frames ({frames / 75:.1f} s) in all; "
          f"one pass against another seed: log-mel L1 {sampling_l1:.3f}")
    print(f"{'lookahead':>9} {'cb1 equal':>9} {'frames equal':>12} {'cb2-8 equal':>11} {'log-mel L1':>10} "
          f"{'first audio ms':>14} {'audio s/s':>9}")
    for lookahead in (int(x) for x in args.lookaheads.split()):
        config = StreamConfig(args.first_frames, args.max_frames, lookahead)
        cb1 = all8 = rest = 0
        l1, first, audio_s, wall = [], [], 0.0, 0.0
        for request, reference in zip(requests, one_pass):
            clock = StreamClock()
            chunks = []
            for chunk in synth.stream(request, config):
                clock.add(chunk.audio)
                chunks.append(chunk)
            wall += clock.elapsed()
            first.append(clock.first_s)
            codes = np.concatenate([c.codes for c in chunks])
            audio = np.concatenate([c.audio for c in chunks])
            audio_s += len(audio) / CODEC_SAMPLE_RATE
            same = codes == reference.codes
            cb1 += int(same[:, 0].sum())
            all8 += int(same.all(1).sum())
            rest += int(same[:, 1:].sum())
            l1.append(log_mel_l1(probe, reference.audio, audio))
        print(f"{lookahead:9d} {cb1 / frames:9.1%} {all8 / frames:12.1%} {rest / (7 * frames):11.1%} "
              f"{statistics.mean(l1):10.3f} {1000 * statistics.median(first):14.0f} {audio_s / wall:9.2f}", flush=True)


if __name__ == "__main__":
    main()
