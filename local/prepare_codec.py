#!/usr/bin/env python3
"""Stage 4, step 1: the codec every later stage uses, saved once.

Input:  --codec encodec (default): --codec-checkpoint PATH (a real EnCodec 24 kHz state dict, e.g.
        encodec_24khz-d7cc33bc.th), or nothing: then the torch hub cache, then a download when online.
        With no real weights reachable: a random-init EnCodec whose codebooks are fitted (k-means) to the
        audio of --fit-cuts (first cuts, up to --codec-fit-frames latent frames).
        --codec mel_rvq: the log-mel residual VQ fitted to the audio of --fit-cuts (up to
        --codec-fit-frames frames), decoded by Griffin-Lim (valle/codec/mel_rvq.py); no weights needed.
Output: --out (codec.pt, loaded by stages 4-7) and codec.json next to it (its "kind", where it came from;
        "real_weights": false marks a codec whose audio is not speech). Reused when made from the same request.
"""
import argparse
import logging
import sys
from pathlib import Path

import torch

from valle.codec.config import CodecConfig
from valle.codec.stage import prepare_codec
from valle.utils.logging import setup_logging
from valle.utils.settings import add_settings, from_args


def get_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True, help="codec file to write (e.g. data/mini/tokens/codec.pt)")
    p.add_argument("--codec-checkpoint", default="", help="real EnCodec weights (empty: hub cache, then download)")
    p.add_argument("--fit-cuts", nargs="*", type=Path, default=[], help="cut manifests whose audio fits a random codec")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--log-file", default=None)
    add_settings(p, CodecConfig, prefix="codec_")
    return p.parse_args()


def main():
    args = get_args()
    setup_logging(args.log_file)
    torch.set_num_threads(args.threads)
    try:
        prepare_codec(args.out, args.codec_checkpoint, args.fit_cuts, from_args(CodecConfig, args, prefix="codec_"))
    except (FileNotFoundError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
