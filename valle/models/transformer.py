"""A pre-LayerNorm transformer with PyTorch's scaled-dot-product attention and a KV cache.

Both VALL-E models use it: the AR model with a prefix-causal mask (text sees all text, audio sees the
text and earlier audio) and the cache for decoding; the NAR model with full attention and AdaLN
(layer norms whose gain and bias come from the codebook stage being predicted).

Masks are boolean ``[B, 1, Tq, Tk]`` with True = may attend, as ``F.scaled_dot_product_attention`` takes
them. Every query row must allow at least one key (padded queries attend to the real keys).
"""
import math
from typing import List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


class SinusoidalPositions(nn.Module):
    """Fixed sine/cosine positions (Vaswani et al.) added with a learned scale.

    ``alpha`` lets the model weigh positions against content, as VALL-E implementations do; text and
    audio each get their own instance, so each counts from 0.
    """

    def __init__(self, d_model: int, dropout: float):
        super().__init__()
        self.d_model = d_model
        self.alpha = nn.Parameter(torch.ones(1))
        self.dropout = nn.Dropout(dropout)

    def encode(self, positions: torch.Tensor, dtype) -> torch.Tensor:
        """Sine/cosine codes of integer ``positions`` (any shape) -> ``[*shape, d_model]``."""
        inv = torch.exp(torch.arange(0, self.d_model, 2, device=positions.device, dtype=torch.float32)
                        * (-math.log(10000.0) / self.d_model))
        angles = positions.to(torch.float32)[..., None] * inv
        return torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(-2).to(dtype)

    def forward(self, x: torch.Tensor, positions: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x: [B, T, D] embedded tokens (scaled by sqrt(D)); positions: [B, T] (default 0..T-1).

        Per-sequence positions let a batched decoder add the next audio token at a different audio
        position in each sequence.
        """
        if positions is None:
            positions = torch.arange(x.shape[1], device=x.device)
        return self.dropout(x + self.alpha * self.encode(positions, x.dtype))


class AdaptiveLayerNorm(nn.Module):
    """AdaLN(h, i) = a_i * LayerNorm(h) + b_i with (a_i, b_i) a linear function of a stage embedding.

    Starts as a plain LayerNorm (a = 1, b = 0) so all stages begin equal and learn to differ.
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.norm = nn.LayerNorm(d_model, elementwise_affine=False)
        self.proj = nn.Linear(d_model, 2 * d_model)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        d_model = self.proj.in_features
        nn.init.zeros_(self.proj.weight)
        with torch.no_grad():
            self.proj.bias[:d_model].fill_(1.0)
            self.proj.bias[d_model:].zero_()

    def forward(self, x: torch.Tensor, stage_emb: torch.Tensor) -> torch.Tensor:
        """x: [B, T, D]; stage_emb: [B, D] (one stage per sequence)."""
        gain, bias = self.proj(stage_emb).unsqueeze(1).chunk(2, dim=-1)
        return gain * self.norm(x) + bias


class KVCache:
    """Keys and values of every layer for the positions seen so far, ``[B, H, T, head_dim]`` views.

    Stored in preallocated buffers that double when full, so a decoding step writes one position in
    place instead of copying the whole cache (``torch.cat`` per step is O(T) per layer: at the paper
    size and 10 s of audio that copy alone costs as much as the step's matrix products on a CPU).
    """

    def __init__(self, num_layers: int, capacity: int = 1024):
        self.capacity = capacity
        self.length = 0
        self.keys: List[Optional[torch.Tensor]] = [None] * num_layers
        self.values: List[Optional[torch.Tensor]] = [None] * num_layers

    def _grow(self, layer: int, like: torch.Tensor, needed: int) -> None:
        buf_k, buf_v = self.keys[layer], self.values[layer]
        cap = self.capacity if buf_k is None else buf_k.shape[2]
        while cap < needed:
            cap *= 2
        if buf_k is not None and buf_k.shape[2] >= cap:
            return
        B, H, _, D = like.shape
        new_k = like.new_empty(B, H, cap, D)
        new_v = like.new_empty(B, H, cap, D)
        if buf_k is not None:
            new_k[:, :, : self.length] = buf_k[:, :, : self.length]
            new_v[:, :, : self.length] = buf_v[:, :, : self.length]
        self.keys[layer], self.values[layer] = new_k, new_v

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """Append this step's k, v ``[B, H, t, D]`` for ``layer``; return all keys and values so far."""
        start, end = self.length, self.length + k.shape[2]
        self._grow(layer, k, end)
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        if layer == len(self.keys) - 1:
            self.length = end
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def select(self, index: torch.Tensor) -> None:
        """Keep the batch rows ``index`` (drop finished sequences, or reorder)."""
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]


class StaticKVCache(nn.Module):
    """Keys and values in buffers of a fixed size, ``[B, H, capacity, head_dim]`` per layer, and which positions hold
    a real key (``valid`` ``[B, capacity]``), for a decoding step ``torch.compile`` can capture once and replay.

    :class:`KVCache` returns keys of a growing length and drops finished rows: new shapes every step, so a compiled
    step would recompile every step. Here every step has the same shapes: it writes its key at a position given as
    a tensor (:meth:`at`) and attends over all ``capacity`` positions with ``valid`` as the mask (not yet written
    and padded positions are False). Finished rows stay in the batch (their outputs are ignored). The buffers live
    at fixed addresses, as CUDA graphs need. The price: each step reads the whole capacity, not the length so far.
    One buffer per layer, not one for all: inductor writes a step's position into a view of a larger buffer by
    copying the whole view out and back (measured: the compiled paper-size step took twice as long as eager).
    """

    def __init__(self, num_layers: int, batch: int, num_heads: int, head_dim: int, capacity: int,
                 dtype: torch.dtype, device: torch.device):
        super().__init__()
        shape = (batch, num_heads, capacity, head_dim)
        for i in range(num_layers):
            self.register_buffer(f"keys_{i}", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
            self.register_buffer(f"values_{i}", torch.zeros(shape, dtype=dtype, device=device), persistent=False)
        self.register_buffer("valid", torch.zeros(batch, capacity, dtype=torch.bool, device=device),
                             persistent=False)
        self.keys = [getattr(self, f"keys_{i}") for i in range(num_layers)]
        self.values = [getattr(self, f"values_{i}") for i in range(num_layers)]
        self.length = 0  # positions written by update() (the prefill)

    @property
    def capacity(self) -> int:
        return self.valid.shape[1]

    def matches(self, batch: int, capacity: int, dtype: torch.dtype, device: torch.device) -> bool:
        k = self.keys[0]
        return (k.shape[0], self.capacity, k.dtype, k.device) == (batch, capacity, dtype, device)

    def reset(self) -> None:
        """Empty, for the next batch (the buffers, and so their addresses, stay)."""
        self.valid.zero_()
        self.length = 0

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        """The prefill: append ``[B, H, t, D]`` after the positions so far; return the keys and values so far."""
        start, end = self.length, self.length + k.shape[2]
        if end > self.capacity:
            raise ValueError(f"the static KV cache holds {self.capacity} positions, {end} are needed")
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        if layer == len(self.keys) - 1:
            self.length = end
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def at(self, index: torch.Tensor) -> "_StaticWrite":
        """A decoding step's view: writes one position, ``index`` (a 1-element long tensor, so the compiled step
        does not see a new constant each step), and marks it valid."""
        self.valid.index_fill_(1, index, True)
        return _StaticWrite(self, index)


class _StaticWrite:
    """:class:`StaticKVCache` as a decoding step sees it: ``update`` writes at one position, returns all of it."""

    def __init__(self, cache: StaticKVCache, index: torch.Tensor):
        self.cache, self.index = cache, index

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor):
        keys, values = self.cache.keys[layer], self.cache.values[layer]
        keys.index_copy_(2, self.index, k)
        values.index_copy_(2, self.index, v)
        return keys, values


class MultiHeadAttention(nn.Module):
    def __init__(self, d_model: int, num_heads: int, dropout: float):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor], cache: Optional[KVCache] = None,
                layer: int = 0) -> torch.Tensor:
        B, T, D = x.shape
        q, k, v = self.qkv(x).view(B, T, 3, self.num_heads, D // self.num_heads).permute(2, 0, 3, 1, 4)
        if cache is not None:
            k, v = cache.update(layer, k, v)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(B, T, D))


class Block(nn.Module):
    """Pre-LN block: x + Attn(LN(x)), then x + FFN(LN(x)); LN is AdaLN when ``adaptive``."""

    def __init__(self, d_model: int, num_heads: int, ffn_dim: int, dropout: float, attn_dropout: float,
                 adaptive: bool):
        super().__init__()
        norm = (lambda: AdaptiveLayerNorm(d_model)) if adaptive else (lambda: nn.LayerNorm(d_model))
        self.adaptive = adaptive
        self.norm1, self.norm2 = norm(), norm()
        self.attn = MultiHeadAttention(d_model, num_heads, attn_dropout)
        self.ffn = nn.Sequential(nn.Linear(d_model, ffn_dim), nn.GELU(), nn.Dropout(dropout),
                                 nn.Linear(ffn_dim, d_model))
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)

    def _norm(self, norm, x, stage_emb):
        return norm(x, stage_emb) if self.adaptive else norm(x)

    def forward(self, x, mask, stage_emb=None, cache=None, layer=0):
        x = x + self.drop1(self.attn(self._norm(self.norm1, x, stage_emb), mask, cache, layer))
        return x + self.drop2(self.ffn(self._norm(self.norm2, x, stage_emb)))


class Transformer(nn.Module):
    def __init__(self, d_model: int, num_heads: int, num_layers: int, ffn_dim: int, dropout: float,
                 attn_dropout: float = 0.0, adaptive: bool = False):
        super().__init__()
        self.adaptive = adaptive
        self.layers = nn.ModuleList(Block(d_model, num_heads, ffn_dim, dropout, attn_dropout, adaptive)
                                    for _ in range(num_layers))
        self.final_norm = AdaptiveLayerNorm(d_model) if adaptive else nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor], stage_emb: Optional[torch.Tensor] = None,
                cache: Optional[KVCache] = None) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x, mask, stage_emb, cache, i)
        return self.final_norm(x, stage_emb) if self.adaptive else self.final_norm(x)


def lengths_to_mask(lengths: torch.Tensor, max_len: int) -> torch.Tensor:
    """[B] lengths -> [B, max_len] bool, True at real (non-padded) positions."""
    return torch.arange(max_len, device=lengths.device)[None, :] < lengths[:, None]
