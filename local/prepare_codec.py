#!/usr/bin/env python3
"""Stage 4, step 1: the EnCodec every later stage uses, saved once.

Input:  --codec-checkpoint PATH (a real EnCodec 24 kHz state dict, e.g. encodec_24khz-d7cc33bc.th), or
        nothing: then the torch hub cache, then a download when online. With no real weights
        reachable: a random-init EnCodec whose codebooks are fitted (k-means) to the audio of
        --fit-cuts (first cuts, up to --fit-frames latent frames).
Output: --out (codec.pt, loaded by stages 4-7) and codec.json next to it (where the weights came from;
        "real_weights": false marks a codec whose audio is not speech). Reused when it exists.
"""
import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

import torch

from valle.codec.encodec import fit_random_codec, load_codec
from valle.codec.tokenize import load_cut_audio
from valle.utils.io import write_text_atomic
from valle.utils.logging import setup_logging


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="codec file to write (e.g. data/mini/tokens/codec.pt)")
    p.add_argument("--codec-checkpoint", default="", help="real EnCodec weights (empty: hub cache, then download)")
    p.add_argument("--bandwidth", type=float, default=6.0, help="kbps: 1.5, 3, 6 (VALL-E), 12 or 24")
    p.add_argument("--allow-download", default="true", choices=("true", "false"))
    p.add_argument("--fit-cuts", nargs="*", default=[], help="cut manifests whose audio fits a random codec")
    p.add_argument("--fit-frames", type=int, default=16000,
                   help="latent frames (75 per second) for k-means; at least 8192")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--log-file", default=None)
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    torch.set_num_threads(args.threads)
    info_path = args.out.with_suffix(".json")
    if args.out.is_file() and info_path.is_file():
        info = json.loads(info_path.read_text())
        if info.get("requested") == {"checkpoint": args.codec_checkpoint, "bandwidth": args.bandwidth}:
            logging.info(f"reusing {args.out} ({info['source']})")
            return
    try:
        codec = load_codec(args.codec_checkpoint or None, args.bandwidth,
                           allow_download=args.allow_download == "true")
    except (FileNotFoundError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)
    if codec is None:
        if not args.fit_cuts:
            logging.error("no EnCodec weights found and no --fit-cuts to fit a random codec on")
            sys.exit(1)
        from lhotse import load_manifest

        def waveforms():
            for path in args.fit_cuts:
                for cut in load_manifest(path):
                    audio, _ = load_cut_audio(cut)
                    if audio is not None:
                        yield audio
        try:
            codec = fit_random_codec(waveforms(), args.bandwidth, seed=args.seed, max_frames=args.fit_frames)
        except ValueError as e:
            logging.error(f"cannot fit a random codec on {args.fit_cuts}: {e}")
            sys.exit(1)
        banner = "#" * 100
        logging.warning(f"\n{banner}\n# NO REAL ENCODEC WEIGHTS: using a RANDOMLY INITIALIZED EnCodec whose codebooks were "
                        f"fitted\n# to {codec.info.fitted_on_seconds:.0f} s of this corpus. Codes are consistent and "
                        f"the recipe runs end to end, but\n# audio decoded from them is NOT speech. Point "
                        f"--codec-checkpoint at encodec_24khz-d7cc33bc.th\n# (or put it in the torch hub cache) "
                        f"and redo stage 4 for real output.\n{banner}")
    codec.save(args.out)
    write_text_atomic(info_path, json.dumps({**asdict(codec.info), "requested": {
        "checkpoint": args.codec_checkpoint, "bandwidth": args.bandwidth}}, indent=1))
    logging.info(f"codec saved to {args.out}: {codec.info.source}, {codec.num_codebooks} codebooks")


if __name__ == "__main__":
    main()
