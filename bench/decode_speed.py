#!/usr/bin/env python3
"""AR decoding speed with the KV cache vs full recompute, side by side, and the real-time factor of synthesis.

For the ``tiny`` and ``paper`` configs with random weights: the time to generate 10 s of audio (750 AR
steps; EOS is held off by the length guards) after a 3 s prompt and ~12 phones/s of text, at batch 1
and batch 8, with the cache (``generate_ar``) and by recomputing the whole sequence every step (the
same function with ``use_cache=False``). Then the whole synthesis at batch 1: AR (cached) + NAR
(7 forwards) + EnCodec decoding (random weights, the real architecture), as a real-time factor.

Full recompute of the paper config takes tens of minutes on a CPU. Where ``--max-recompute-s`` would be
exceeded, the recompute time is *estimated*: full forwards are timed at 3 evenly spaced lengths and
integrated over the 750 steps (trapezoid rule); such rows say "estimated".

    python bench/decode_speed.py                       # tiny and paper, CPU (+ GPU when present)
    python bench/decode_speed.py --configs tiny --steps 150

Then the number formats (``--formats``): the cached AR, the NAR pass and codec decoding in float32, bfloat16 and
int8 (dynamic quantization, ``valle/utils/precision.py``; float16 on GPUs), with each AR step of ``--modes`` (eager:
the growing cache; compiled: the static cache and torch.compile'd step, CUDA graphs on GPU), at each of
``--precision-batches``, side by side in one run with the speed-up over float32 eager, the synthesis RTF, audio
seconds per second (throughput), the AR's weight bytes read per second and, on known GPUs, their share of peak
memory bandwidth. Compilation is timed apart (its warm-up).

Then grouped code modelling (VALL-E 2, ``--groups``): the cached AR decode of the same frames with AR group sizes
G = 1, 2, 4 (T / G steps of G codes), side by side.

Then streaming synthesis (``--stream-configs``): ``Synthesizer.stream`` on a random-weight recipe of each config
(``valle/infer/random_recipe.py``: the real text front end, prompt encoding, AR, NAR and EnCodec), 10 s of speech
after a 3 s prompt at batch 1: the time from the call to the first audio, the whole streamed synthesis against one
pass (``synthesize``), audio seconds per second of wall time, and how long after the first audio playback must
start never to wait for a later chunk.

Last lines: ``paper_cache_speedup=<x>`` (batch 1, the fastest device measured), then
``paper_ar_10s_cpu_fp32_s=<s>`` (float32 eager, batch 1), ``paper_ar_10s_cpu_s=<s>`` (the fastest option),
with a GPU ``paper_rtf_gpu=<x>`` (the fastest batch-1 synthesis there), and ``grouped_g2_speedup=<x>`` (tiny,
CPU, batch 1: G = 2 over G = 1), ``first_audio_ms=<ms>`` (tiny, CPU, float32, batch 1, the median of 3 calls).
"""
import argparse
import copy
import dataclasses
import math
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from valle.constants import CODEC_SAMPLE_RATE
from valle.infer.config import StreamConfig
from valle.infer.decode import (DecodeConfig, generate_ar, generate_nar, static_capacity,
                                warm_up_compiled_step)
from valle.infer.random_recipe import random_text, write_random_recipe
from valle.infer.sampling import SamplingConfig
from valle.models.config import get_config
from valle.models.valle import ARModel, NARModel
from valle.utils.precision import autocast_to, inference_model

TEXT_VOCAB = 80


def inputs(batch, steps, prompt_frames, device, phones_per_second=12.0):
    seconds = (steps + prompt_frames) / 75
    L = int(seconds * phones_per_second) + 1
    g = torch.Generator().manual_seed(0)
    text = torch.randint(1, TEXT_VOCAB - 1, (batch, L), generator=g)
    text[:, -1] = TEXT_VOCAB - 1
    prompt = torch.randint(0, 1024, (batch, prompt_frames, 8), generator=g)
    target_phones = torch.full((batch,), max(1, int(steps / 75 * phones_per_second)))
    return (text.to(device), torch.full((batch,), L, device=device), prompt.to(device),
            torch.full((batch,), prompt_frames, device=device), target_phones.to(device))


def exact_length(steps, target_phones) -> DecodeConfig:
    """Guards that make every sequence exactly ``steps`` long (random weights never pick EOS reliably)."""
    fpp = steps / int(target_phones[0])
    return DecodeConfig(sampling=SamplingConfig(top_k=50), min_frames_per_phone=fpp, max_frames_per_phone=fpp)


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    sync(device)
    t = time.perf_counter()
    out = fn()
    sync(device)
    return time.perf_counter() - t, out


@torch.no_grad()
def _forward_seconds(model, text, text_lens, prompt1, prompt_lens, generated: int, device) -> float:
    """One full forward over text + prompt + ``generated`` codes: what a recompute step costs there."""
    codes = torch.randint(0, 1024, (text.shape[0], prompt1.shape[1] + generated + 1), device=device)
    lens = prompt_lens + generated
    return timed(lambda: model(text, text_lens, codes[:, : int(lens.max())], lens), device)[0]


def estimate_recompute(model, text, text_lens, prompt1, prompt_lens, steps, device, points=3):
    """Seconds for ``steps`` full-recompute steps: full forwards timed at ``points`` lengths, integrated
    (at these sizes a forward's cost is close to linear in length, so a few points suffice)."""
    lengths = np.linspace(0, steps - 1, points).round().astype(int)
    times = [_forward_seconds(model, text, text_lens, prompt1, prompt_lens, int(n), device) for n in lengths]
    return float(np.trapezoid(times, lengths) + times[-1])  # sum over steps 0..steps-1 ~ integral + one step


def timed_cached_ar(ar, batch, steps, prompt_frames, device, compile=False):
    """(inputs, decode config, seconds, result) of a cached AR decode of exactly ``steps`` codes, after a warm-up.
    ``compile``: the static cache and compiled step (the warm-up compiles when this shape is new)."""
    text, tl, prompt, pl, phones = args = inputs(batch, steps, prompt_frames, device)
    dcfg = dataclasses.replace(exact_length(steps, phones), compile=compile)
    if compile:   # compiles (CUDA: records) the step for the shape the timed decode has
        warm_up_compiled_step(ar, batch, static_capacity(text.shape[1] + prompt.shape[1], steps))
    else:
        generate_ar(ar, text, tl, prompt[..., 0], pl, torch.full_like(phones, 2), dcfg)   # warm-up
    t, res = timed(lambda: generate_ar(ar, text, tl, prompt[..., 0], pl, phones, dcfg), device)
    assert all(len(c) == steps for c in res.codes), [len(c) for c in res.codes]
    return args, dcfg, t, res


def bench_config(name, device, steps, prompt_frames, max_recompute_s, batches):
    cfg = get_config(name).with_text_vocab(TEXT_VOCAB)
    torch.manual_seed(0)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    ar = ARModel(cfg).to(device, dtype).eval()
    rows = []
    for batch in batches:
        (text, tl, prompt, pl, phones), dcfg, t_cache, res = timed_cached_ar(ar, batch, steps, prompt_frames, device)
        # One full forward at the final length predicts the recompute time (a step costs about its
        # sequence length); measure it fully only when that is affordable.
        last = _forward_seconds(ar, text, tl, prompt[..., 0], pl, steps - 1, device)
        context = int(tl[0]) + prompt_frames
        predicted = steps * last * (context + steps / 2) / (context + steps)
        if predicted <= max_recompute_s:
            t_full, _ = timed(lambda: generate_ar(ar, text, tl, prompt[..., 0], pl, phones, dcfg, use_cache=False),
                              device)
            how = "measured"
        else:
            t_full, how = estimate_recompute(ar, text, tl, prompt[..., 0], pl, steps, device), "estimated"
        rows.append({"config": name, "device": device.type, "batch": batch, "cache_s": t_cache,
                     "recompute_s": t_full, "speedup": t_full / t_cache, "how": how})
    # Whole synthesis at batch 1: AR + NAR + codec decoding.
    nar = NARModel(cfg).to(device, dtype).eval()
    text, tl, prompt, pl, phones = inputs(1, steps, prompt_frames, device)
    dcfg = exact_length(steps, phones)
    t_ar, res = timed(lambda: generate_ar(ar, text, tl, prompt[..., 0], pl, phones, dcfg), device)
    first = res.codes[0][None].to(device)
    t_nar, codes = timed(lambda: generate_nar(nar, text, tl, prompt, pl, first, torch.tensor([steps], device=device)),
                         device)
    codec = _codec(device)
    t_codec, wav = timed(lambda: codec.decode([(codes.transpose(1, 2).long(), None)]), device)
    audio_s = wav.shape[-1] / CODEC_SAMPLE_RATE
    synth = {"config": name, "device": device.type, "ar_s": t_ar, "nar_s": t_nar, "codec_s": t_codec,
             "audio_s": audio_s, "rtf": (t_ar + t_nar + t_codec) / audio_s}
    return rows, synth


FORMATS = {"float32": ("float32", False), "bfloat16": ("bfloat16", False), "int8": ("float32", True),
           "float16": ("float16", False)}
# Peak memory bandwidth (GB/s) of GPUs by name, for the AR step's bandwidth utilisation (a batch-1 step reads every
# weight once: bound by bandwidth, not FLOPs).
GPU_PEAK_GBS = {"H200": 4800, "H100 SXM": 3350, "H100 PCIe": 2000, "H100": 3350, "A100-SXM4-80GB": 2039,
                "A100": 1555, "L40S": 864, "A10G": 600, "L4": 300}


def _gpu_peak_gbs(device):
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in GPU_PEAK_GBS.items() if k in name), None)


def _weight_bytes(model) -> int:
    """Bytes of the model's weights as stored: int8 layers keep theirs packed, outside ``parameters()``."""
    total = sum(t.numel() * t.element_size() for t in list(model.parameters()) + list(model.buffers()))
    for m in model.modules():
        if isinstance(m, torch.ao.nn.quantized.dynamic.Linear):
            w, b = m._packed_params._weight_bias()
            total += w.numel() * w.element_size() + 4 * w.shape[0] + (0 if b is None else b.numel() * b.element_size())
    return total


def combos(device, formats, modes):
    """(format, mode) pairs that run on ``device``: float16 on GPUs only, int8 on CPUs only and not compiled
    (torch.compile cannot trace torch.ao's quantized layers)."""
    for fmt in formats:
        dtype, int8 = FORMATS[fmt]
        if (device.type == "cpu" and dtype == "float16") or (device.type != "cpu" and int8):
            continue
        for mode in modes:
            if not (int8 and mode == "compiled"):
                yield fmt, mode


def bench_formats(name, device, steps, prompt_frames, batches, formats, modes):
    """Cached AR decoding (``steps`` codes after the prompt), the NAR pass (7 forwards) and codec decoding, per
    number format, AR step (``eager``: the growing cache; ``compiled``: the static cache and torch.compile'd step,
    after a warm-up that compiles it) and batch, side by side in one run; speed-ups over float32 eager."""
    cfg = get_config(name).with_text_vocab(TEXT_VOCAB)
    torch.manual_seed(0)
    ar32, nar32 = ARModel(cfg).to(device).eval(), NARModel(cfg).to(device).eval()
    weight_bytes = {}
    codec, codec_s, nar_s = _codec(device), {}, {}
    rows = []
    for fmt, mode in combos(device, formats, modes):
        dtype, int8 = FORMATS[fmt]
        ar = inference_model(copy.deepcopy(ar32), dtype, int8)
        nar = inference_model(copy.deepcopy(nar32), dtype, int8)
        weight_bytes[fmt] = _weight_bytes(ar)
        if fmt not in codec_s:   # codec decoding of 10 s of codes in this format (autocast; int8: float32)
            codes = torch.randint(0, 1024, (1, 8, steps), device=device)
            with autocast_to(dtype, device):
                codec.decode([(codes, None)])
                codec_s[fmt], _ = timed(lambda: codec.decode([(codes, None)]), device)
        for batch in batches:
            compile_s = None
            if mode == "compiled":
                text, _, prompt, _, _ = inputs(batch, steps, prompt_frames, device)
                capacity = static_capacity(text.shape[1] + prompt.shape[1], steps)
                compile_s, _ = timed(lambda: warm_up_compiled_step(ar, batch, capacity), device)
            (text, tl, prompt, pl, _), _, t_ar, res = timed_cached_ar(ar, batch, steps, prompt_frames, device,
                                                                     compile=mode == "compiled")
            if (fmt, batch) not in nar_s:   # the NAR is eager in both modes: timed once per format and batch
                first = torch.stack(res.codes).to(device)
                cl = torch.full((batch,), steps, device=device)
                nar_s[fmt, batch], _ = timed(lambda: generate_nar(nar, text, tl, prompt, pl, first, cl), device)
            t_nar = nar_s[fmt, batch]
            audio_s = batch * steps / 75
            rows.append({"config": name, "device": device.type, "format": fmt, "mode": mode, "batch": batch,
                         "ar_s": t_ar, "nar_s": t_nar, "codec_s": codec_s[fmt] * batch, "audio_s": audio_s,
                         "compile_s": compile_s, "ar_gbs": weight_bytes[fmt] * steps / t_ar / 1e9,
                         "rtf": (t_ar + t_nar + codec_s[fmt] * batch) / audio_s})
    peak = _gpu_peak_gbs(device)
    for r in rows:
        base = next(b for b in rows if b["format"] == "float32" and b["mode"] == "eager" and b["batch"] == r["batch"])
        r["ar_speedup"], r["nar_speedup"] = base["ar_s"] / r["ar_s"], base["nar_s"] / r["nar_s"]
        r["mbu"] = r["ar_gbs"] / peak if peak and r["batch"] == 1 else None
    return rows


def bench_groups(name, device, steps, prompt_frames, groups):
    """Cached AR decoding of ``steps`` frames at batch 1 for each AR group size G (random weights, float32 eager):
    ``steps / G`` model steps, each sampling G codes. Speed-ups over G = 1 in the same run."""
    rows = []
    frames = prompt_frames - prompt_frames % math.lcm(*groups)   # the same prompt for all, whole groups for each
    for G in groups:
        cfg = dataclasses.replace(get_config(name).with_text_vocab(TEXT_VOCAB), ar_group_size=G)
        torch.manual_seed(0)
        ar = ARModel(cfg).to(device).eval()
        _, _, t, res = timed_cached_ar(ar, 1, steps, frames, device)
        rows.append({"config": name, "device": device.type, "G": G, "steps": -(-steps // G), "ar_s": t})
    for r in rows:
        base = next((b for b in rows if b["G"] == 1), None)
        r["speedup"] = base["ar_s"] / r["ar_s"] if base else float("nan")
    return rows


def stream_formats(name, device):
    """(format, DecodeConfig fields) of the streaming rows: float32 and int8 (the fastest NAR there) on a CPU, float32
    and bfloat16 with the compiled step on a GPU."""
    if device.type == "cuda":
        return [("float32", {}), ("bfloat16", {"dtype": "bfloat16", "compile": True})]
    return [("float32", {}), ("int8", {"int8": True})]


def timed_stream(synth, request, config):
    """(seconds to the first audio, seconds in all, audio seconds, stall, chunks): ``StreamClock``'s."""
    from valle.infer.synthesize import StreamClock
    clock, chunks = StreamClock(), 0
    for chunk in synth.stream(request, config):
        clock.add(chunk.audio)
        chunks += 1
    return clock.first_s, clock.elapsed(), clock.samples / CODEC_SAMPLE_RATE, clock.stall_s, chunks

def bench_stream(name, device, steps, repeats, config: StreamConfig):
    """Streaming against one-pass synthesis of ``steps`` frames (AR held to exactly that length by the guards) after
    a 3 s prompt, batch 1, through the real Synthesizer on a random-weight recipe of config ``name``."""
    from valle.infer.synthesize import Request, Synthesizer, _spoken
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = write_random_recipe(Path(tmp), get_config(name), prompt_seconds=3.0)
        for fmt, fields in stream_formats(name, device):
            synth = Synthesizer(root / "exp" / "ar" / "model.pt", root / "exp" / "nar" / "model.pt",
                                root / "data" / "tokens" / "codec.pt", root / "data" / "lang", str(device),
                                DecodeConfig(**fields))
            text = random_text(int(steps / 75 * 12 / 3.5) + 1)     # ~12 phones a second, ~3.5 phones a word
            spoken = _spoken(synth.frontend.phones(text))
            synth.decode = dataclasses.replace(synth.decode, sampling=SamplingConfig(top_k=50),
                                               min_frames_per_phone=steps / spoken, max_frames_per_phone=steps / spoken)
            request = Request(text, root / "prompt.wav", "hello world")
            synth.synthesize([Request("hello", root / "prompt.wav", "hello world")])   # warm-up: lazy loads
            list(synth.stream(Request("hello cat", root / "prompt.wav", "hello world"), config))
            one_pass, _ = timed(lambda: synth.synthesize([request]), device)
            new_voice = []
            for _ in range(repeats):   # a voice not heard before: its prompt goes through the codec's encoder first
                synth._prompt_cache.clear()
                new_voice.append(timed_stream(synth, request, config))
            known_voice = [timed_stream(synth, request, config) for _ in range(repeats)]
            wall, audio, stalled, chunks = known_voice[0][1:]
            rows.append({"config": name, "device": device.type, "format": fmt, "one_pass_s": one_pass,
                         "first_ms": 1000 * statistics.median(r[0] for r in new_voice),
                         "first_known_ms": 1000 * statistics.median(r[0] for r in known_voice),
                         "stream_s": wall, "audio_s": audio, "stall_s": stalled, "chunks": chunks})
    return rows


def _codec(device):
    from valle.codec.encodec import new_model
    model = new_model().to(device).eval()
    model.set_target_bandwidth(6.0)
    return model


def report_streaming(args, devices, summary):
    """The streaming rows, printed as they come; ``first_audio_ms=`` joins the summary."""
    config = StreamConfig(args.stream_first_frames, args.stream_max_frames, args.stream_nar_lookahead)
    print(f"\nstreaming synthesis ({config}): {args.steps / 75:.1f} s after a 3 s prompt, batch 1, from the call "
          "(text, prompt encoding, AR, NAR, codec; known voice: its prompt's codes cached); audio s/s = audio seconds "
          "per second of wall time; stall = how long after the first audio playback must start never to wait for a "
          "chunk")
    print(f"{'config':7} {'device':6} {'format':9} {'one pass s':>10} {'first audio ms':>14} {'known voice':>11} "
          f"{'streamed s':>10} {'audio s/s':>9} {'stall s':>7} {'chunks':>6}")
    for name in args.stream_configs.split():
        for device in devices:
            for r in bench_stream(name, device, args.steps, 3 if name == "tiny" else 1, config):
                print(f"{r['config']:7} {r['device']:6} {r['format']:9} {r['one_pass_s']:10.2f} {r['first_ms']:14.0f} "
                      f"{r['first_known_ms']:11.0f} {r['stream_s']:10.2f} {r['audio_s'] / r['stream_s']:9.2f} "
                      f"{r['stall_s']:7.2f} {r['chunks']:6d}", flush=True)
                if (r["config"], r["device"], r["format"]) == ("tiny", "cpu", "float32"):
                    summary.append(f"first_audio_ms={r['first_ms']:.0f}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="tiny paper")
    p.add_argument("--steps", type=int, default=750, help="AR steps to generate (750 = 10 s)")
    p.add_argument("--prompt-frames", type=int, default=225, help="prompt length (225 = 3 s)")
    p.add_argument("--batches", default="1 8")
    p.add_argument("--max-recompute-s", type=float, default=120.0,
                   help="measure full recompute only when predicted to take at most this long; else estimate")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--formats", default="float32 bfloat16 int8 float16",
                   help=f"number formats of the precision rows ({', '.join(FORMATS)}; float16 on GPUs only)")
    p.add_argument("--precision-batches", default="1 8 64", help="batches of the number-format rows")
    p.add_argument("--cpu-paper-max-batch", type=int, default=8,
                   help="paper config on CPU: leave out larger precision batches (batch 64 takes half an hour a row)")
    p.add_argument("--modes", default="eager compiled",
                   help="AR steps of the number-format rows: eager (growing cache), compiled (static cache + "
                        "torch.compile; CUDA graphs on GPU)")
    p.add_argument("--skip-recompute", action="store_true", help="leave out the cache-vs-recompute rows")
    p.add_argument("--skip-formats", action="store_true", help="leave out the number-format rows")
    p.add_argument("--groups", default="1 2 4",
                   help="AR group sizes (VALL-E 2 grouped code modelling) of the grouped rows; empty: none")
    p.add_argument("--stream-configs", default="tiny paper", help="configs of the streaming rows; empty: none")
    p.add_argument("--stream-first-frames", type=int, default=StreamConfig.first_frames)
    p.add_argument("--stream-max-frames", type=int, default=StreamConfig.max_frames)
    p.add_argument("--stream-nar-lookahead", type=int, default=StreamConfig.nar_lookahead)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU")
          + f"; {args.steps} AR steps ({args.steps / 75:.1f} s) after a {args.prompt_frames / 75:.1f} s prompt")
    all_rows, summary = [], []
    for name in ([] if args.skip_recompute else args.configs.split()):
        if not all_rows:
            print(f"{'config':7} {'device':6} {'batch':>5} {'cache s':>9} {'recompute s':>12} {'speedup':>8}")
        for device in devices:
            rows, synth = bench_config(name, device, args.steps, args.prompt_frames, args.max_recompute_s,
                                       [int(b) for b in args.batches.split()])
            for r in rows:
                print(f"{r['config']:7} {r['device']:6} {r['batch']:5d} {r['cache_s']:9.2f} {r['recompute_s']:12.2f} "
                      f"{r['speedup']:7.1f}x ({r['how']})", flush=True)
            print(f"{name:7} {device.type:6} synthesis of {synth['audio_s']:.1f} s at batch 1: AR {synth['ar_s']:.2f} s + "
                  f"NAR {synth['nar_s']:.2f} s + codec {synth['codec_s']:.2f} s -> RTF {synth['rtf']:.3f}", flush=True)
            all_rows += rows
    paper = [r for r in all_rows if r["config"] == "paper" and r["batch"] == 1]
    if paper:
        best = min(paper, key=lambda r: r["cache_s"])
        summary.append(f"paper_cache_speedup={best['speedup']:.1f}")

    prec = []
    if not args.skip_formats:
        print(f"\nnumber formats: cached AR ({args.steps} steps), NAR (7 forwards) and codec, per AR step (eager: "
              f"growing cache; compiled: static cache + torch.compile, compile time apart); x = speed-up over float32 "
              f"eager in this run; GB/s: AR weight bytes read per second (MBU: share of the GPU's peak, batch 1)")
        print(f"{'config':7} {'device':6} {'format':9} {'AR step':8} {'batch':>5} {'AR s':>8} {'x':>5} {'NAR s':>7} "
              f"{'x':>5} {'codec s':>7} {'RTF':>6} {'audio s/s':>9} {'GB/s':>6} {'MBU':>5} {'compile s':>9}")
        for name in args.configs.split():
            for device in devices:
                batches = [int(b) for b in args.precision_batches.split()]
                if device.type == "cpu" and name == "paper":
                    skipped = [b for b in batches if b > args.cpu_paper_max_batch]
                    batches = [b for b in batches if b <= args.cpu_paper_max_batch]
                    if skipped:
                        print(f"(paper on CPU: batches {skipped} left out, over --cpu-paper-max-batch)")
                for r in bench_formats(name, device, args.steps, args.prompt_frames, batches, args.formats.split(),
                                       args.modes.split()):
                    prec.append(r)
                    mbu = f"{r['mbu']:5.1%}" if r["mbu"] else "    -"
                    comp = f"{r['compile_s']:9.1f}" if r["compile_s"] is not None else "        -"
                    print(f"{r['config']:7} {r['device']:6} {r['format']:9} {r['mode']:8} {r['batch']:5d} "
                          f"{r['ar_s']:8.2f} {r['ar_speedup']:5.2f} {r['nar_s']:7.2f} {r['nar_speedup']:5.2f} "
                          f"{r['codec_s']:7.2f} {r['rtf']:6.3f} {1 / r['rtf']:9.2f} {r['ar_gbs']:6.1f} {mbu} {comp}",
                          flush=True)
    cpu1 = [r for r in prec if r["config"] == "paper" and r["device"] == "cpu" and r["batch"] == 1]
    gpu1 = [r for r in prec if r["config"] == "paper" and r["device"] == "cuda" and r["batch"] == 1]
    if cpu1:
        fp32 = next(r for r in cpu1 if r["format"] == "float32" and r["mode"] == "eager")
        best = min(cpu1, key=lambda r: r["ar_s"])
        fastest = min(cpu1, key=lambda r: r["rtf"])
        print(f"paper synthesis on CPU at batch 1: fastest {fastest['format']} {fastest['mode']}, "
              f"RTF {fastest['rtf']:.3f} (AR {fastest['ar_s']:.2f} s + NAR {fastest['nar_s']:.2f} s + "
              f"codec {fastest['codec_s']:.2f} s)")
        summary.append(f"paper_ar_10s_cpu_fp32_s={fp32['ar_s']:.2f}")
        summary.append(f"paper_ar_10s_cpu_s={best['ar_s']:.2f}")
    if gpu1:
        summary.append(f"paper_rtf_gpu={min(r['rtf'] for r in gpu1):.4f}")
    if args.groups:
        print(f"\ngrouped code modelling (VALL-E 2): cached AR decoding of {args.steps} frames, batch 1, "
              f"{args.steps} / G steps; x = speed-up over G = 1 in this run")
        print(f"{'config':7} {'device':6} {'G':>2} {'steps':>6} {'AR s':>8} {'steps/s':>8} {'frames/s':>9} {'x':>5}")
        for name in args.configs.split():
            for device in devices:
                for r in bench_groups(name, device, args.steps, args.prompt_frames,
                                      [int(g) for g in args.groups.split()]):
                    print(f"{r['config']:7} {r['device']:6} {r['G']:2d} {r['steps']:6d} {r['ar_s']:8.2f} "
                          f"{r['steps'] / r['ar_s']:8.1f} {args.steps / r['ar_s']:9.1f} {r['speedup']:5.2f}",
                          flush=True)
                    if (r["config"], r["device"], r["G"]) == ("tiny", "cpu", 2):
                        summary.append(f"grouped_g2_speedup={r['speedup']:.2f}")
    if args.stream_configs:
        report_streaming(args, devices, summary)
    print("\n".join(summary))


if __name__ == "__main__":
    main()
