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

Then the number formats (``--formats``): the cached AR and the NAR pass in float32, bfloat16 and int8 (dynamic
quantization, ``valle/utils/precision.py``; float16 on GPUs), at each of ``--precision-batches``, side by side in
one run with the speed-up over float32.

Last lines: ``paper_cache_speedup=<x>`` (batch 1, the fastest device measured), then
``paper_ar_10s_cpu_fp32_s=<s>`` (float32, cached, batch 1) and ``paper_ar_10s_cpu_s=<s>`` (the fastest format).
"""
import argparse
import copy
import time

import numpy as np
import torch

from valle.constants import CODEC_SAMPLE_RATE
from valle.infer.decode import DecodeConfig, generate_ar, generate_nar
from valle.infer.sampling import SamplingConfig
from valle.models.config import get_config
from valle.models.valle import ARModel, NARModel
from valle.utils.precision import inference_model

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


def timed_cached_ar(ar, batch, steps, prompt_frames, device):
    """(inputs, decode config, seconds, result) of a cached AR decode of exactly ``steps`` codes, after a warm-up."""
    text, tl, prompt, pl, phones = args = inputs(batch, steps, prompt_frames, device)
    dcfg = exact_length(steps, phones)
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


def bench_precision(name, device, steps, prompt_frames, batches, formats):
    """Cached AR decoding (``steps`` codes after the prompt) and the NAR pass (7 forwards), per number format and
    batch, side by side in one run; ratios to float32 eager. Codec decoding stays float32 (timed once)."""
    cfg = get_config(name).with_text_vocab(TEXT_VOCAB)
    torch.manual_seed(0)
    ar32, nar32 = ARModel(cfg).to(device).eval(), NARModel(cfg).to(device).eval()
    rows = []
    for fmt in formats:
        dtype, int8 = FORMATS[fmt]
        if (device.type == "cpu" and dtype == "float16") or (device.type != "cpu" and int8):
            continue
        ar = inference_model(copy.deepcopy(ar32), dtype, int8)
        nar = inference_model(copy.deepcopy(nar32), dtype, int8)
        for batch in batches:
            (text, tl, prompt, pl, _), _, t_ar, res = timed_cached_ar(ar, batch, steps, prompt_frames, device)
            first = torch.stack(res.codes).to(device)
            cl = torch.full((batch,), steps, device=device)
            t_nar, _ = timed(lambda: generate_nar(nar, text, tl, prompt, pl, first, cl), device)
            rows.append({"config": name, "device": device.type, "format": fmt, "batch": batch, "ar_s": t_ar,
                         "nar_s": t_nar, "audio_s": batch * steps / 75})
    for r in rows:
        base = next(b for b in rows if b["format"] == "float32" and b["batch"] == r["batch"])
        r["ar_speedup"], r["nar_speedup"] = base["ar_s"] / r["ar_s"], base["nar_s"] / r["nar_s"]
    return rows


def _codec(device):
    from valle.codec.encodec import new_model
    model = new_model().to(device).eval()
    model.set_target_bandwidth(6.0)
    return model


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
    p.add_argument("--precision-batches", default="1 8")
    p.add_argument("--skip-recompute", action="store_true", help="only the precision rows")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU")
          + f"; {args.steps} AR steps ({args.steps / 75:.1f} s) after a {args.prompt_frames / 75:.1f} s prompt")
    all_rows = []
    codec_s = {}
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
            codec_s[name, device.type] = synth["codec_s"] / synth["audio_s"]
    paper = [r for r in all_rows if r["config"] == "paper" and r["batch"] == 1]
    if paper:
        best = min(paper, key=lambda r: r["cache_s"])
        print(f"paper_cache_speedup={best['speedup']:.1f}")

    print(f"\nnumber formats: cached AR ({args.steps} steps) and NAR (7 forwards), eager; x = speed-up over float32 "
          f"in this run")
    print(f"{'config':7} {'device':6} {'format':14} {'batch':>5} {'AR s':>8} {'x':>5} {'NAR s':>7} {'x':>5} "
          f"{'AR+NAR RTF':>10} {'audio s/s':>9}")
    prec = []
    for name in args.configs.split():
        for device in devices:
            for r in bench_precision(name, device, args.steps, args.prompt_frames,
                                     [int(b) for b in args.precision_batches.split()], args.formats.split()):
                prec.append(r)
                rtf = (r["ar_s"] + r["nar_s"]) / r["audio_s"]
                print(f"{r['config']:7} {r['device']:6} {r['format']:14} {r['batch']:5d} {r['ar_s']:8.2f} "
                      f"{r['ar_speedup']:5.2f} {r['nar_s']:7.2f} {r['nar_speedup']:5.2f} {rtf:10.3f} "
                      f"{1 / rtf:9.2f}", flush=True)
    cpu1 = [r for r in prec if r["config"] == "paper" and r["device"] == "cpu" and r["batch"] == 1]
    if cpu1:
        fp32 = next(r for r in cpu1 if r["format"] == "float32")
        best = min(cpu1, key=lambda r: r["ar_s"])
        if ("paper", "cpu") in codec_s:
            rtf = (best["ar_s"] + best["nar_s"]) / best["audio_s"] + codec_s["paper", "cpu"]
            print(f"paper synthesis on CPU at batch 1 with {best['format']}: RTF {rtf:.3f} (codec float32)")
        print(f"paper_ar_10s_cpu_fp32_s={fp32['ar_s']:.2f}")
        print(f"paper_ar_10s_cpu_s={best['ar_s']:.2f}")


if __name__ == "__main__":
    main()
