#!/usr/bin/env python3
"""Training speed of the AR and NAR models: updates/s and tokens/s for the ``tiny`` and ``paper`` configs.

Random weights and random batches of the real shapes (phones + EOS, 75 Hz codes, for the NAR a 3 s
prompt of 8 codebooks), full training steps (forward, backward, clipping, AdamW). Runs on this machine's
CPU, and on the GPU too when there is one. Each row: config, model, device, dtype, batch, updates/s,
tokens/s (every token the model reads, as the training log counts them), and MFU on known GPUs.

    python bench/train_speed.py                     # both configs, CPU (+ GPU when present)
    python bench/train_speed.py --configs tiny --steps 5

Last line: ``paper_tokens_per_s=<x>`` (the AR paper config on the fastest device measured, its dtype).
"""
import argparse
import time

import torch

from valle.models.config import get_config
from valle.models.valle import build_model, loss_and_accuracy
from valle.train.monitor import peak_flops


def random_batch(model_type, batch_size, seconds, phones_per_second, vocab, device, prompt_seconds=3.0):
    T = int(seconds * 75)
    L = int(seconds * phones_per_second) + 1
    text = torch.randint(1, vocab - 1, (batch_size, L), device=device)
    text[:, -1] = vocab - 1
    batch = {"text": text, "text_lens": torch.full((batch_size,), L, device=device),
             "code_lens": torch.full((batch_size,), T, device=device)}
    if model_type == "ar":
        batch["codes"] = torch.randint(0, 1024, (batch_size, T), device=device)
        return batch, batch_size * (L + T)
    P = int(prompt_seconds * 75)
    batch.update(codes=torch.randint(0, 1024, (batch_size, T, 8), device=device),
                 prompt=torch.randint(0, 1024, (batch_size, P, 8), device=device),
                 prompt_lens=torch.full((batch_size,), P, device=device),
                 stages=torch.randint(1, 8, (batch_size,), device=device))
    return batch, batch_size * (L + T + P)


def measure(config_name, model_type, device, dtype, batch_size, seconds, steps, warmup):
    cfg = get_config(config_name).with_text_vocab(80)
    torch.manual_seed(0)
    model = build_model(model_type, cfg).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch, tokens = random_batch(model_type, batch_size, seconds, 12.0, 80, device)
    amp = {"float32": None, "bfloat16": torch.bfloat16}[dtype]

    def step():
        with torch.autocast(device.type, dtype=amp or torch.float32, enabled=amp is not None):
            loss_sum, _, n = loss_and_accuracy(*model(**batch))
        opt.zero_grad(set_to_none=True)
        (loss_sum / n).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    for _ in range(warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - t
    tps = tokens * steps / elapsed
    n_params = sum(p.numel() for p in model.parameters())
    peak = peak_flops(device)
    return {"config": config_name, "model": model_type, "device": device.type, "dtype": dtype,
            "batch": f"{batch_size}x{seconds:g}s", "params_M": n_params / 1e6, "updates_per_s": steps / elapsed,
            "tokens_per_s": tps, "mfu": 6 * n_params * tps / peak if peak else None}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", default="tiny paper")
    p.add_argument("--models", default="ar nar")
    p.add_argument("--steps", type=int, default=3, help="timed updates per row (CPU; GPU rows use 5x)")
    p.add_argument("--threads", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    # Batches: tiny as the mini recipe trains it (60 s of audio); paper as the paper's per-GPU batch
    # (~6k acoustic tokens: 8 x 10 s) on GPU, and one 10 s utterance on CPU, where a full batch takes minutes.
    plans = []
    for name in args.configs.split():
        for model_type in args.models.split():
            if name == "tiny":
                plans.append((name, model_type, torch.device("cpu"), "float32", 6, 10.0, args.steps))
                plans.append((name, model_type, torch.device("cpu"), "bfloat16", 6, 10.0, args.steps))
            else:
                plans.append((name, model_type, torch.device("cpu"), "float32", 1, 10.0, max(1, args.steps - 1)))
            if torch.cuda.is_available():
                plans.append((name, model_type, torch.device("cuda"), "bfloat16", 8, 10.0, 5 * args.steps))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads"
          + (f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"))
    print(f"{'config':7} {'model':5} {'device':6} {'dtype':9} {'batch':8} {'params':>8} {'updates/s':>10} "
          f"{'tokens/s':>10} {'MFU':>6}")
    rows = []
    for plan in plans:
        r = measure(*plan, warmup=1 if plan[2].type == "cpu" else 3)
        rows.append(r)
        mfu = f"{r['mfu']:.1%}" if r["mfu"] is not None else "-"
        print(f"{r['config']:7} {r['model']:5} {r['device']:6} {r['dtype']:9} {r['batch']:8} "
              f"{r['params_M']:7.1f}M {r['updates_per_s']:10.3f} {r['tokens_per_s']:10.0f} {mfu:>6}", flush=True)
    paper = [r for r in rows if r["config"] == "paper" and r["model"] == "ar"]
    if paper:
        best = max(paper, key=lambda r: r["tokens_per_s"])
        print(f"paper_tokens_per_s={best['tokens_per_s']:.0f}")


if __name__ == "__main__":
    main()
