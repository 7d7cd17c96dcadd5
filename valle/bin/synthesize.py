"""Zero-shot TTS with a trained recipe: text + a voice prompt -> a 24 kHz wav.

    python -m valle.bin.synthesize --exp-dir exp/mini --data-dir data/mini \\
        --text "Hello there." --prompt-audio voice.flac --prompt-text "What the voice says." --out out.wav
    python -m valle.bin.synthesize ... --batch lines.txt --out-dir out/   # lines: text|prompt_audio|prompt_text

Reads <exp-dir>/ar/model.pt and <exp-dir>/nar/model.pt (stages 5-6), <data-dir>/tokens/codec.pt (stage 4)
and <data-dir>/lang/ (stage 2). Modes: cross (prompt = another utterance + its transcript; default) and
continuation (--text is the whole utterance; its first 3 s of --prompt-audio are kept and continued).
"""
import argparse
import logging
import sys
from pathlib import Path

from valle.infer.decode import DecodeConfig
from valle.infer.prompt import PromptError
from valle.infer.sampling import SamplingConfig
from valle.infer.synthesize import MODES, Request, Synthesizer
from valle.infer.text import TextError
from valle.train.checkpoint import CheckpointError
from valle.utils.audio import write_wav


def add_decoding_options(p: argparse.ArgumentParser) -> None:
    """Sampling, length guards and seed (shared with stage 7's local/evaluate_tts.py)."""
    d, ds = DecodeConfig(), SamplingConfig()
    p.add_argument("--temperature", type=float, default=ds.temperature)
    p.add_argument("--top-k", type=int, default=ds.top_k, help="0: off")
    p.add_argument("--top-p", type=float, default=ds.top_p, help="1: off")
    p.add_argument("--ras-window", type=int, default=ds.ras_window,
                   help="repetition-aware sampling (VALL-E 2): window of past tokens; 0: off")
    p.add_argument("--ras-threshold", type=float, default=ds.ras_threshold,
                   help="RAS: resample from the full distribution when the drawn token fills this share of the window")
    p.add_argument("--min-frames-per-phone", type=float, default=d.min_frames_per_phone,
                   help="no EOS before this many 75 Hz frames per phone to speak")
    p.add_argument("--max-frames-per-phone", type=float, default=d.max_frames_per_phone,
                   help="cut (and report an EOS failure) at this many frames per phone")
    p.add_argument("--seed", type=int, default=d.seed)


def decode_config(args) -> DecodeConfig:
    return DecodeConfig(sampling=SamplingConfig(args.temperature, args.top_k, args.top_p, args.ras_window,
                                                args.ras_threshold),
                        min_frames_per_phone=args.min_frames_per_phone,
                        max_frames_per_phone=args.max_frames_per_phone, seed=args.seed)


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--text", help="what to say")
    p.add_argument("--prompt-audio", type=Path, help="any wav/flac; stereo and any sample rate are fine")
    p.add_argument("--prompt-text", help="transcript of the prompt (cross mode)")
    p.add_argument("--mode", default="cross", choices=MODES)
    p.add_argument("--out", type=Path, help="output wav (single mode)")
    p.add_argument("--batch", type=Path, help="file of lines 'text|prompt_audio|prompt_text'")
    p.add_argument("--out-dir", type=Path, help="batch mode: <out-dir>/<line number>.wav")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--keep-prompt", action="store_true", help="continuation: output the prompt + its continuation")
    p.add_argument("--max-phones", type=int, default=None,
                   help="longest AR phone sequence at once (cross mode splits longer text at sentence ends); "
                        "default: the AR model's training crop x 12 phones/s")
    add_decoding_options(p)
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    if args.batch is None and not (args.text and args.prompt_audio and args.out):
        p.error("give --text, --prompt-audio and --out, or --batch and --out-dir")
    if args.batch is not None and args.out_dir is None:
        p.error("--batch needs --out-dir")
    return args


def read_batch(path: Path, mode: str, keep_prompt: bool = False):
    requests = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) not in (2, 3):
            raise ValueError(f"{path}:{n}: expected 'text|prompt_audio|prompt_text', got {line!r}")
        requests.append((n, Request(fields[0], Path(fields[1]), fields[2] if len(fields) == 3 else None, mode,
                                        keep_prompt)))
    return requests


def main(argv=None):
    args = get_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    decode = decode_config(args)
    try:
        synth = Synthesizer(args.exp_dir / "ar" / "model.pt", args.exp_dir / "nar" / "model.pt",
                            args.data_dir / "tokens" / "codec.pt", args.data_dir / "lang", args.device, decode,
                            max_phones=args.max_phones)
        if args.batch is None:
            jobs = [(args.out, Request(args.text, args.prompt_audio, args.prompt_text, args.mode, args.keep_prompt))]
        else:
            jobs = [(args.out_dir / f"{n:05d}.wav", r) for n, r in read_batch(args.batch, args.mode, args.keep_prompt)]
        for i in range(0, len(jobs), args.batch_size):
            chunk = jobs[i:i + args.batch_size]
            for (out, _), res in zip(chunk, synth.synthesize([r for _, r in chunk])):
                write_wav(out, res.audio, 24000)
                logging.info(f"{out}: {len(res.audio) / 24000:.2f} s, {res.num_frames} frames for "
                             f"{res.num_phones} phones" + ("" if res.hit_eos else " (no EOS: cut at the length limit)"))
    except (TextError, PromptError, CheckpointError, FileNotFoundError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
