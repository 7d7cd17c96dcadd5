"""Token sampling for the AR decoder: temperature, top-k, top-p (nucleus) and repetition-aware sampling.

Repetition-aware sampling (RAS) is VALL-E 2's remedy for loops (arXiv 2406.05370, section 3.2): draw
with nucleus sampling; if the drawn token makes up at least ``threshold`` of the last ``window`` tokens
of that sequence, draw again from the full distribution (temperature only) instead.
All functions work on a batch: logits ``[B, V]``, one draw per row.
"""
from typing import Optional

import torch

from valle.infer.config import SamplingConfig  # noqa: F401 (re-exported)


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Logits with everything outside the top-k and outside the top-p nucleus set to -inf.

    The nucleus keeps the smallest set of most likely tokens whose probability reaches ``top_p``
    (the token that crosses it included, so at least one token always survives).
    """
    logits = logits.clone()
    if top_k > 0 and top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[..., -1:]
        logits[logits < kth] = float("-inf")
    if top_p < 1.0:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop_sorted = (cum - sorted_logits.softmax(-1)) >= top_p   # mass before this token already >= p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits[drop] = float("-inf")
    return logits


def _draw(logits: torch.Tensor, generator: Optional[torch.Generator]) -> torch.Tensor:
    probs = logits.float().softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def sample(logits: torch.Tensor, cfg: SamplingConfig, history: Optional[torch.Tensor] = None,
           generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """One token per row. ``history`` ``[B, t]``: tokens generated so far (for RAS; -1 = none)."""
    if cfg.top_k == 1:
        return logits.argmax(-1)
    scaled = logits / cfg.temperature
    tokens = _draw(filter_logits(scaled, cfg.top_k, cfg.top_p), generator)
    if cfg.ras_window > 0 and history is not None and history.shape[1] > 0:
        window = history[:, -cfg.ras_window:]
        ratio = (window == tokens[:, None]).sum(-1).float() / cfg.ras_window
        repeat = ratio >= cfg.ras_threshold
        if repeat.any():
            tokens = torch.where(repeat, _draw(scaled, generator), tokens)
    return tokens
