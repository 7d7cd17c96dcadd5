"""Zero-shot TTS with a trained recipe: text + a voice prompt -> a 24 kHz wav.

    python -m valle.bin.synthesize --exp-dir exp/mini --data-dir data/mini \\
        --text "Hello there." --prompt-audio voice.flac --prompt-text "What the voice says." --out out.wav
    python -m valle.bin.synthesize ... --batch lines.txt --out-dir out/   # lines: text|prompt_audio|prompt_text

Reads <exp-dir>/ar/model.pt and <exp-dir>/nar/model.pt (stages 5-6), <data-dir>/tokens/codec.pt (stage 4)
and <data-dir>/lang/ (stage 2). Both modes need the prompt's transcript (--prompt-text). Modes: cross (the
prompt is another utterance; default) and continuation (the prompt is the start of an utterance, cut after a
word, and --text is what follows it; --keep-prompt outputs the prompt and its continuation as one wav).

--stream (single mode): the audio is written chunk by chunk while the AR model goes on, the first chunk after
--stream-first-frames frames; --out - writes it to standard output as raw 16-bit mono PCM at 24 kHz, for a player:
    python -m valle.bin.synthesize ... --stream --out - | aplay -f S16_LE -r 24000 -c 1
"""
import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from valle.constants import CODEC_SAMPLE_RATE
from valle.infer.config import DecodeConfig, StreamConfig
from valle.infer.prompt import PromptError
from valle.infer.synthesize import MODES, Request, StreamClock, Synthesizer
from valle.infer.text import TextError
from valle.models.io import CheckpointError
from valle.utils.audio import write_wav
from valle.utils.settings import add_settings, from_args


def get_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--text", help="what to say")
    p.add_argument("--prompt-audio", type=Path, help="any wav/flac; stereo and any sample rate are fine")
    p.add_argument("--prompt-text", help="transcript of the prompt audio")
    p.add_argument("--mode", default="cross", choices=MODES)
    p.add_argument("--out", type=Path, help="output wav (single mode)")
    p.add_argument("--batch", type=Path, help="file of lines 'text|prompt_audio|prompt_text'")
    p.add_argument("--out-dir", type=Path, help="batch mode: <out-dir>/<line number>.wav")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--keep-prompt", action="store_true", help="continuation: output the prompt + its continuation")
    p.add_argument("--max-phones", type=int, default=None,
                   help="longest AR phone sequence at once (cross mode splits longer text at sentence ends); "
                        "default: the AR model's training crop x 12 phones/s")
    add_settings(p, DecodeConfig, title="decoding (the same as stage 7's synth_* settings)")
    p.add_argument("--stream", action="store_true",
                   help="write the audio chunk by chunk as it is made (single mode; --out - : raw 16-bit PCM on "
                        "standard output)")
    add_settings(p, StreamConfig, prefix="stream_", title="streaming (with --stream)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    if args.batch is None and not (args.text and args.prompt_audio and args.out):
        p.error("give --text, --prompt-audio, --prompt-text and --out, or --batch and --out-dir")
    if args.batch is not None and args.out_dir is None:
        p.error("--batch needs --out-dir")
    if args.stream and args.batch is not None:
        p.error("--stream synthesizes one text (--text and --out), not a --batch")
    return args


def read_batch(path: Path, mode: str, keep_prompt: bool = False):
    requests = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) != 3:
            raise ValueError(f"{path}:{n}: expected 'text|prompt_audio|prompt_text', got {line!r}")
        requests.append((n, Request(fields[0], Path(fields[1]), fields[2], mode, keep_prompt)))
    return requests


def stream_to(out: Path, synth: Synthesizer, request: Request, config: StreamConfig) -> None:
    """Write each chunk as it comes: to a wav file (flushed after every chunk, so a reader sees it grow; removed
    if synthesis fails) or, for ``-``, to standard output as raw 16-bit PCM. Logs the time to the first audio and
    the stall: how long after it playback must start never to wait for a chunk."""
    clock = StreamClock()
    to_stdout = str(out) == "-"
    sink = sys.stdout.buffer if to_stdout else sf.SoundFile(out, "w", CODEC_SAMPLE_RATE, 1, "PCM_16")
    try:
        for chunk in synth.stream(request, config):
            clock.add(chunk.audio)
            if len(chunk.audio):
                if to_stdout:
                    sink.write((np.clip(chunk.audio, -1, 1) * 32767).astype("<i2").tobytes())
                else:
                    sink.write(chunk.audio)
                sink.flush()
            if chunk.hit_eos is False:
                logging.warning(f"piece {chunk.piece + 1}: no EOS, cut at the length limit")
    except BaseException:
        if not to_stdout:
            sink.close()
            out.unlink(missing_ok=True)
        raise
    if not to_stdout:
        sink.close()
    logging.info(f"{out}: {clock.samples / CODEC_SAMPLE_RATE:.2f} s streamed in {clock.elapsed():.2f} s; first audio "
                 f"after {1000 * (clock.first_s or 0):.0f} ms; playback started {clock.stall_s:.2f} s after it never "
                 "waits")

def main(argv=None):
    args = get_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    decode = from_args(DecodeConfig, args)
    try:
        synth = Synthesizer(args.exp_dir / "ar" / "model.pt", args.exp_dir / "nar" / "model.pt",
                            args.data_dir / "tokens" / "codec.pt", args.data_dir / "lang", args.device, decode,
                            max_phones=args.max_phones)
        if args.stream:
            stream_to(args.out, synth, Request(args.text, args.prompt_audio, args.prompt_text, args.mode,
                                               args.keep_prompt), from_args(StreamConfig, args, prefix="stream_"))
            return
        if args.batch is None:
            jobs = [(args.out, Request(args.text, args.prompt_audio, args.prompt_text, args.mode, args.keep_prompt))]
        else:
            jobs = [(args.out_dir / f"{n:05d}.wav", r) for n, r in read_batch(args.batch, args.mode, args.keep_prompt)]
        for i in range(0, len(jobs), args.batch_size):
            chunk = jobs[i:i + args.batch_size]
            for (out, _), res in zip(chunk, synth.synthesize([r for _, r in chunk])):
                write_wav(out, res.audio, CODEC_SAMPLE_RATE)
                logging.info(f"{out}: {len(res.audio) / CODEC_SAMPLE_RATE:.2f} s, {res.num_frames} frames for "
                             f"{res.num_phones} phones" + ("" if res.hit_eos else " (no EOS: cut at the length limit)"))
    except (TextError, PromptError, CheckpointError, FileNotFoundError, ValueError) as e:
        logging.error(str(e))
        sys.exit(1)


if __name__ == "__main__":
    main()
