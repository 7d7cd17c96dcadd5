"""The DNN of the hybrid DNN-HMM: a TDNN (1-D convolutions over fbank frames) with frame subsampling.

Input: 40-dim fbank at 10 ms. Output: one pdf distribution every ``subsampling`` frames (3 -> 30 ms,
the paper's frame shift). Output frame i is centred on input frame ``subsampling * i``.
Trained with frame cross-entropy on labels taken from the GMM alignment at those centre frames.
For decoding, log posteriors minus log priors (scaled likelihoods, Kaldi's nnet-am) feed the HMM.
"""
import logging
import math
import random
import time
from dataclasses import asdict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from valle.align.config import DnnConfig
from valle.utils.io import load_torch_file


FORMAT_VERSION = 1


class TdnnAcousticModel(nn.Module):
    def __init__(self, cfg: DnnConfig, num_pdfs: int):
        super().__init__()
        h = cfg.hidden
        layers = [nn.Conv1d(cfg.feat_dim, h, 5, padding=2), nn.ReLU(), nn.BatchNorm1d(h),
                  nn.Conv1d(h, h, 3, stride=cfg.subsampling, padding=1), nn.ReLU(), nn.BatchNorm1d(h)]
        for i in range(cfg.num_layers - 2):
            d = 1 if i % 2 == 0 else 2
            layers += [nn.Conv1d(h, h, 3, padding=d, dilation=d), nn.ReLU(), nn.BatchNorm1d(h), nn.Dropout(cfg.dropout)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv1d(h, num_pdfs, 1)
        self.cfg, self.num_pdfs = cfg, num_pdfs

    def num_out_frames(self, num_in: int) -> int:
        return (num_in - 1) // self.cfg.subsampling + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, F] -> logits [B, ceil(T / subsampling), num_pdfs]."""
        return self.out(self.body(x.transpose(1, 2))).transpose(1, 2)


def subsample_labels(frame_labels: np.ndarray, subsampling: int) -> np.ndarray:
    """Labels at the centre input frame of each output frame."""
    return frame_labels[::subsampling]


def _chunks(items: List[Tuple[torch.Tensor, np.ndarray]], cfg: DnnConfig, rng: random.Random) -> list:
    """One epoch's training chunks, shuffled: each utterance cut into ``chunk_frames`` pieces at a new random
    offset each epoch. How many there are depends on the offsets (a piece shorter than 4 output frames is
    dropped), so it changes from epoch to epoch."""
    chunks = []
    s = cfg.subsampling
    for feats, labels in items:
        T = len(feats)
        off = rng.randrange(s, cfg.chunk_frames, s) if T > cfg.chunk_frames else 0  # new cut points each epoch
        starts = [0] + list(range(off, T, cfg.chunk_frames)) if off else list(range(0, T, cfg.chunk_frames))
        for a, b in zip(starts, starts[1:] + [T]):
            if b - a >= s * 4:
                chunks.append((a, b, feats, labels))
    rng.shuffle(chunks)
    return chunks


def _batches(chunks: list, cfg: DnnConfig):
    s = cfg.subsampling
    per = max(1, cfg.batch_frames // cfg.chunk_frames)
    for i in range(0, len(chunks), per):
        group = chunks[i:i + per]
        T = max(b - a for a, b, _, _ in group)
        x = torch.zeros(len(group), T, group[0][2].shape[1])
        y = torch.full((len(group), (T - 1) // s + 1), -100, dtype=torch.long)
        for k, (a, b, f, lab) in enumerate(group):
            x[k, : b - a] = f[a:b]
            sub = lab[a:b][::s]
            y[k, : len(sub)] = torch.from_numpy(sub)
        yield x, y


def one_cycle_lr(progress: float, max_lr: float, pct_start: float = 0.15, div_factor: float = 25.0,
                 final_div_factor: float = 1e4) -> float:
    """The shape of PyTorch's OneCycleLR (cosine up from max_lr / div_factor to max_lr over the first ``pct_start``,
    cosine down to max_lr / div_factor / final_div_factor) as a function of training progress in [0, 1].
    A function of progress, not of a step count fixed in advance: an epoch's number of batches is only known
    when its chunks are cut, and a count taken from one epoch's cut overran the scheduler in a later epoch."""
    progress = min(max(progress, 0.0), 1.0)
    low, end = max_lr / div_factor, max_lr / div_factor / final_div_factor

    def cosine(start: float, stop: float, t: float) -> float:
        return stop + (start - stop) * (1 + math.cos(math.pi * t)) / 2

    if progress < pct_start:
        return cosine(low, max_lr, progress / pct_start)
    return cosine(max_lr, end, (progress - pct_start) / (1 - pct_start))


def train_dnn(items: Dict[str, Tuple[torch.Tensor, np.ndarray]], num_pdfs: int, cfg: DnnConfig,
              valid: Optional[Sequence[str]] = None, log=logging.info):
    """Frame cross-entropy training. ``items``: utt -> (fbank [T, F], 10 ms pdf labels [T]).
    Returns (model, log priors [num_pdfs], history rows)."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    valid = set(valid or [])
    train = [v for k, v in items.items() if k not in valid]
    dev = [v for k, v in items.items() if k in valid]
    model = TdnnAcousticModel(cfg, num_pdfs)
    counts = np.bincount(np.concatenate([subsample_labels(l, cfg.subsampling) for _, l in train]), minlength=num_pdfs)
    # Add-one smoothing: a pdf never seen in training must not get a large likelihood boost from a tiny prior.
    priors = (counts + 1.0) / (counts.sum() + num_pdfs)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    per_batch = max(1, cfg.batch_frames // cfg.chunk_frames)
    history = []
    for epoch in range(cfg.epochs):
        model.train()
        t0, tot, n, correct = time.time(), 0.0, 0, 0
        chunks = _chunks(train, cfg, rng)
        num_batches = max(1, math.ceil(len(chunks) / per_batch))
        for i, (x, y) in enumerate(_batches(chunks, cfg)):
            for group in opt.param_groups:
                group["lr"] = one_cycle_lr((epoch + i / num_batches) / cfg.epochs, cfg.lr)
            logits = model(x)
            y = y[:, : logits.shape[1]]
            loss = F.cross_entropy(logits.reshape(-1, num_pdfs), y.reshape(-1), ignore_index=-100)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            mask = y >= 0
            tot += float(loss.detach()) * int(mask.sum())
            n += int(mask.sum())
            correct += int((logits.argmax(-1)[mask] == y[mask]).sum())
        row = {"epoch": epoch, "batches": num_batches, "lr": opt.param_groups[0]["lr"],
               "train_loss": tot / max(n, 1), "train_acc": correct / max(n, 1),
               "frames_per_s": n * cfg.subsampling / (time.time() - t0)}
        if dev:
            row.update(zip(("valid_loss", "valid_acc"), evaluate(model, dev)))
        history.append(row)
        log("DNN epoch %d: %s" % (epoch, " ".join(f"{k}={v:.4g}" for k, v in row.items() if k != "epoch")))
    model.eval()
    return model, np.log(priors).astype(np.float32), history


@torch.no_grad()
def evaluate(model: TdnnAcousticModel, items) -> Tuple[float, float]:
    model.eval()
    tot, n, correct = 0.0, 0, 0
    for feats, labels in items:
        logits = model(feats[None])[0]
        y = torch.from_numpy(subsample_labels(labels, model.cfg.subsampling))[: len(logits)]
        logits = logits[: len(y)]
        tot += float(F.cross_entropy(logits, y, reduction="sum"))
        n += len(y)
        correct += int((logits.argmax(-1) == y).sum())
    return tot / max(n, 1), correct / max(n, 1)


@torch.no_grad()
def scaled_loglikes(model: TdnnAcousticModel, feats: torch.Tensor, log_priors: np.ndarray,
                    prior_scale: float = 1.0) -> np.ndarray:
    """log p(x | pdf) up to a constant: log posterior - prior_scale * log prior, [T_out, num_pdfs]."""
    model.eval()
    logp = torch.log_softmax(model(feats[None])[0], -1).numpy()
    return logp - prior_scale * log_priors[None, :]


def save_dnn(path, model: TdnnAcousticModel, log_priors: np.ndarray, extra: dict) -> None:
    from valle.utils.io import atomic_path

    with atomic_path(path) as tmp:
        torch.save({"format_version": FORMAT_VERSION, "config": asdict(model.cfg), "num_pdfs": model.num_pdfs, "state_dict": model.state_dict(),
                    "log_priors": torch.from_numpy(log_priors), **extra}, tmp)


def load_dnn(path) -> Tuple[TdnnAcousticModel, np.ndarray, dict]:
    try:
        ckpt = load_torch_file(path)
    except Exception as e:
        raise RuntimeError(f"cannot read the DNN checkpoint {path}: {e}") from e
    if ckpt.get("format_version") != FORMAT_VERSION:
        raise RuntimeError(f"{path}: DNN checkpoint format {ckpt.get('format_version')}, this code reads "
                           f"{FORMAT_VERSION}; rerun stage 3 (./run.sh --stage 3 --stop-stage 3 --force)")
    model = TdnnAcousticModel(DnnConfig(**ckpt["config"]), ckpt["num_pdfs"])
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, ckpt["log_priors"].numpy(), ckpt
