"""VALL-E's two models (arXiv 2301.02111, section 4).

AR model: one decoder-only transformer over ``[phones, EOS | c1_1 .. c1_T]`` that predicts codebook 1:
text positions see all text (a prefix), audio positions see the text and earlier audio. The hidden
state at the text EOS predicts the first code, the one at code t predicts code t+1, the last one EOS.
Text and audio have separate sinusoidal positions, each from 0. The output layer is the acoustic
embedding matrix (tied), over 1024 codes + EOS.
Grouped code modelling (VALL-E 2, arXiv 2406.05370, section 3; ``ar_group_size`` G > 1): an audio position is a
group of G consecutive codes. Its input is the G code embeddings, concatenated and projected to d_model
(``group_in``); its state predicts the next G codes at once (``group_out`` projects it to G vectors, each scored
against the tied embedding). The code sequence is followed by EOS and padded with EOS to a multiple of G; the
targets after the first EOS are ignored, so every group fed as input is a group of real codes, and decoding takes
T / G steps. G = 1 has neither layer: VALL-E's model, parameter for parameter.

NAR model: the same transformer with full attention and AdaLN. For stage j (codebook j+1, j = 1..7) the
input is ``[phones, EOS | prompt | target]``: a prompt frame embeds as the sum of its 8 codebooks, a
target frame as the sum of its codebooks 1..j; the model predicts codebook j+1 of every target frame.
Prediction layer j is the (j+1)-th acoustic embedding (tied).

Tensors: text ``[B, Lx]`` phone ids (0 = padding) with lengths counting the EOS; codes ``[B, T]`` (AR)
or ``[B, T, 8]`` (NAR) with lengths; padded positions hold any valid id (they are masked).
"""
import math
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F

from valle.models.config import ModelConfig
from valle.models.transformer import (AdaptiveLayerNorm, KVCache, SinusoidalPositions, StaticKVCache, Transformer,
                                      lengths_to_mask)

IGNORE = -100  # target id of padded positions (F.cross_entropy's ignore_index)


def _init_weights(module: nn.Module, d_model: int) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            # Unit variance after the sqrt(d) input scale; logits of unit-norm states start near 1.
            nn.init.normal_(m.weight, std=d_model ** -0.5)


class ARModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.text_vocab_size < 2:
            raise ValueError("config.text_vocab_size must be set (phone table size + 1 for EOS)")
        self.config = config
        d = config.d_model
        self.text_emb = nn.Embedding(config.text_vocab_size, d)
        self.audio_emb = nn.Embedding(config.codebook_size + 1, d)   # codes + EOS
        self.text_pos = SinusoidalPositions(d, config.dropout)
        self.audio_pos = SinusoidalPositions(d, config.dropout)
        self.transformer = Transformer(d, config.num_heads, config.num_layers, config.ffn_dim, config.dropout,
                                       attn_dropout=config.attn_dropout)
        self.group_size = G = config.ar_group_size
        if G > 1:
            self.group_in = nn.Linear(G * d, d)
            self.group_out = nn.Linear(d, G * d)
        _init_weights(self, d)
        if G > 1:   # unit-variance group embeddings and output vectors, as the G = 1 model's start
            nn.init.normal_(self.group_in.weight, std=(G * d) ** -0.5)
            nn.init.normal_(self.group_out.weight, std=d ** -0.5)

    @property
    def eos(self) -> int:
        return self.config.codebook_size

    @property
    def text_eos(self) -> int:
        return self.config.text_vocab_size - 1

    def output_weight(self) -> torch.Tensor:
        return self.audio_emb.weight  # tied: logits = h @ E^T

    def _embed(self, text, codes):
        return self.text_pos(self.text_emb(text) * math.sqrt(self.config.d_model)), self._embed_audio(codes)

    def _embed_audio(self, codes, positions=None):
        """codes ``[B, N * G]`` -> ``[B, N, D]``: one position per group of G codes (``positions`` ``[B, N]``)."""
        emb = self.audio_emb(codes) * math.sqrt(self.config.d_model)
        if self.group_size > 1:
            emb = self.group_in(emb.reshape(emb.shape[0], -1, self.group_size * self.config.d_model))
        return self.audio_pos(emb, positions)

    def _logits(self, states: torch.Tensor) -> torch.Tensor:
        """States ``[..., D]`` -> logits ``[..., G, 1025]`` of the next group's G codes."""
        if self.group_size == 1:
            return (states @ self.output_weight().t()).unsqueeze(-2)
        vectors = self.group_out(states).unflatten(-1, (self.group_size, self.config.d_model))
        return vectors @ self.output_weight().t()

    def _check_grouped(self, lens: torch.Tensor, what: str) -> None:
        if self.group_size > 1 and bool((lens % self.group_size).any()):
            raise ValueError(f"{what} lengths must be multiples of ar_group_size {self.group_size}, "
                             f"got {lens.tolist()}")

    @staticmethod
    def prefix_mask(text_lens: torch.Tensor, Lx: int, code_lens: torch.Tensor, Ly: int) -> torch.Tensor:
        """[B, 1, Lx+Ly, Lx+Ly]: text->all real text; audio->real text + real audio up to itself."""
        L = Lx + Ly
        device = text_lens.device
        pattern = torch.zeros(L, L, dtype=torch.bool, device=device)
        pattern[:, :Lx] = True
        pattern[Lx:, Lx:] = torch.ones(Ly, Ly, dtype=torch.bool, device=device).tril()
        keys = torch.cat([lengths_to_mask(text_lens, Lx), lengths_to_mask(code_lens, Ly)], dim=1)
        return (pattern[None] & keys[:, None, :]).unsqueeze(1)

    def forward(self, text, text_lens, codes, code_lens) -> Tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced logits ``[B, N*G, 1025]`` and targets ``[B, N*G]`` (codes, then EOS, then IGNORE), with
        N = ceil((T+1) / G) positions: for G = 1, ``[B, T+1, 1025]``."""
        B, Lx = text.shape
        G = self.group_size
        N = -(-(codes.shape[1] + 1) // G)                                   # predicted groups (the EOS's included)
        real = lengths_to_mask(code_lens, N * G)
        full = torch.full((B, N * G), self.eos, dtype=torch.long, device=codes.device)
        full[:, : codes.shape[1]] = codes.long()
        full = full.masked_fill(~real, self.eos)                            # [codes, EOS, EOS...] per row
        x, y = self._embed(text, full[:, : (N - 1) * G])                    # every group but the last is input
        in_lens = code_lens // G                                            # whole groups of real codes
        h = self.transformer(torch.cat([x, y], dim=1), self.prefix_mask(text_lens, Lx, in_lens, N - 1))
        first = h[torch.arange(B, device=h.device), text_lens - 1]          # at the text EOS
        states = torch.cat([first[:, None], h[:, Lx:]], dim=1)              # [B, N, D]
        logits = self._logits(states).flatten(1, 2)                         # [B, N*G, 1025]
        after_eos = torch.arange(N * G, device=codes.device)[None] > code_lens[:, None]
        return logits, full.masked_fill(after_eos, IGNORE)

    # --- incremental decoding with the KV cache -------------------------------------------------
    @torch.no_grad()
    def prefill(self, text, text_lens, prompt, prompt_lens, static_cache: Optional[StaticKVCache] = None):
        """Run the prefix ``[phones, EOS | prompt codes]``; return the next group's logits ``[B, G, 1025]`` and a
        state.

        ``prompt`` is ``[B, P]`` codebook-1 codes (P may be 0; each length a multiple of G). The state holds the
        cache, the key mask and each sequence's next audio position, for :meth:`step`. With ``static_cache``
        (emptied first, see :meth:`new_static_cache`) the prefix goes there instead, for :meth:`static_step`; the
        state then holds the cache position the next step writes (``index``) instead of the key mask.
        """
        B, Lx = text.shape
        self._check_grouped(prompt_lens, "prompt")
        if prompt.shape[1] % self.group_size:   # pad the tensor to whole groups (masked)
            prompt = F.pad(prompt, (0, self.group_size - prompt.shape[1] % self.group_size))
        P = prompt.shape[1] // self.group_size  # audio positions
        prompt_lens = prompt_lens // self.group_size
        x, y = self._embed(text, prompt)
        if static_cache is not None:
            static_cache.reset()
        cache = static_cache if static_cache is not None else KVCache(self.config.num_layers)
        h = self.transformer(torch.cat([x, y], dim=1), self.prefix_mask(text_lens, Lx, prompt_lens, P),
                             cache=cache)
        last = torch.where(prompt_lens > 0, Lx + prompt_lens - 1, text_lens - 1)
        logits = self._logits(h[torch.arange(B, device=h.device), last])
        keys = torch.cat([lengths_to_mask(text_lens, Lx), lengths_to_mask(prompt_lens, P)], dim=1)
        if static_cache is not None:
            static_cache.valid[:, : Lx + P] = keys
            return logits, {"cache": cache, "index": torch.tensor([Lx + P], device=x.device),
                            "pos": prompt_lens.clone()}
        return logits, {"cache": cache, "keys": keys, "pos": prompt_lens.clone()}

    def new_static_cache(self, batch: int, capacity: int) -> StaticKVCache:
        """An empty :class:`StaticKVCache` for ``batch`` sequences of up to ``capacity`` positions (prefix included),
        in the model's dtype and device."""
        c, w = self.config, self.audio_emb.weight
        return StaticKVCache(c.num_layers, batch, c.num_heads, c.d_model // c.num_heads, capacity, w.dtype, w.device)

    @torch.no_grad()
    def step(self, codes: torch.Tensor, state: dict) -> torch.Tensor:
        """Append one group per sequence (``[B, G]`` codes) and return the next group's logits ``[B, G, 1025]``."""
        B = codes.shape[0]
        pos = state["pos"]
        y = self._embed_audio(codes, pos[:, None])
        keys = torch.cat([state["keys"], torch.ones(B, 1, dtype=torch.bool, device=codes.device)], dim=1)
        h = self.transformer(y, keys[:, None, None, :], cache=state["cache"])
        state["keys"], state["pos"] = keys, pos + 1
        return self._logits(h[:, -1])

    def static_step(self, codes: torch.Tensor, pos: torch.Tensor, index: torch.Tensor,
                    cache: StaticKVCache) -> torch.Tensor:
        """:meth:`step` over a :class:`StaticKVCache`, with the same shapes every step (for ``torch.compile``):
        every row of the batch appends a group ``codes`` ``[B, G]`` at audio positions ``pos`` ``[B]``, in cache
        position ``index`` (``[1]``); returns the next group's logits ``[B, G, 1025]``. The caller advances ``pos``
        and ``index``."""
        y = self._embed_audio(codes, pos[:, None])
        step_cache = cache.at(index)
        h = self.transformer(y, cache.valid[:, None, None, :], cache=step_cache)
        return self._logits(h[:, -1])


class NARModel(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        if config.text_vocab_size < 2:
            raise ValueError("config.text_vocab_size must be set (phone table size + 1 for EOS)")
        self.config = config
        d = config.d_model
        self.text_emb = nn.Embedding(config.text_vocab_size, d)
        self.audio_embs = nn.ModuleList(nn.Embedding(config.codebook_size, d)
                                        for _ in range(config.num_codebooks))
        self.stage_emb = nn.Embedding(config.num_codebooks - 1, d)   # stage j = 1..7 at index j-1
        self.text_pos = SinusoidalPositions(d, config.dropout)
        self.audio_pos = SinusoidalPositions(d, config.dropout)
        self.transformer = Transformer(d, config.num_heads, config.num_layers, config.ffn_dim, config.dropout,
                                       attn_dropout=config.attn_dropout, adaptive=True)
        _init_weights(self, d)
        for m in self.modules():  # _init_weights drew AdaLN's projections too: back to the identity start
            if isinstance(m, AdaptiveLayerNorm):
                m.reset_parameters()

    def output_weight(self, stages: torch.Tensor) -> torch.Tensor:
        """[B, 1024, D]: for stage j the (j+1)-th acoustic embedding (0-based index j)."""
        # A one-hot matmul, not ``stack(...)[stages]``: the backward of advanced indexing accumulates
        # with index_put, which is not deterministic on CPU, and exact resume needs determinism.
        one_hot = F.one_hot(stages, self.config.num_codebooks).to(self.audio_embs[0].weight.dtype)
        return torch.einsum("bk,kvd->bvd", one_hot, torch.stack([e.weight for e in self.audio_embs]))

    def _pack_audio(self, prompt, prompt_lens, codes, code_lens, stages):
        """Per sequence ``[prompt | target]`` frames, packed from 0 and padded: codes ``[B, La, 8]`` and
        which codebooks are summed at each frame ``[B, La, 8]`` (all for prompt, the first j for target)."""
        B, _, K = codes.shape
        La = int((prompt_lens + code_lens).max())
        packed = torch.zeros(B, La, K, dtype=torch.long, device=codes.device)
        use = torch.zeros(B, La, K, dtype=torch.bool, device=codes.device)
        for b in range(B):
            p, t = int(prompt_lens[b]), int(code_lens[b])
            packed[b, :p] = prompt[b, :p]
            packed[b, p:p + t] = codes[b, :t]
            use[b, :p] = True
            use[b, p:p + t, : int(stages[b])] = True
        return packed, use, La

    def forward(self, text, text_lens, prompt, prompt_lens, codes, code_lens, stages):
        """Logits ``[B, T, 1024]`` for codebook ``stages[b]`` (0-based, 1..7) of every target frame, and targets."""
        B, Lx = text.shape
        T = codes.shape[1]
        if int(stages.min()) < 1 or int(stages.max()) >= self.config.num_codebooks:
            raise ValueError(f"NAR stages must be in 1..{self.config.num_codebooks - 1}, got {stages.tolist()}")
        scale = math.sqrt(self.config.d_model)
        packed, use, La = self._pack_audio(prompt, prompt_lens, codes, code_lens, stages)
        y = sum(self.audio_embs[k](packed[..., k]) * use[..., k, None] for k in range(self.config.num_codebooks))
        x = self.text_pos(self.text_emb(text) * scale)
        y = self.audio_pos(y * scale)
        keys = torch.cat([lengths_to_mask(text_lens, Lx), lengths_to_mask(prompt_lens + code_lens, La)], dim=1)
        h = self.transformer(torch.cat([x, y], dim=1), keys[:, None, None, :],
                             stage_emb=self.stage_emb(stages - 1))
        idx = (Lx + prompt_lens[:, None] + torch.arange(T, device=h.device)[None]).clamp(max=Lx + La - 1)
        states = torch.gather(h, 1, idx[..., None].expand(-1, -1, h.shape[-1]))   # [B, T, D]
        logits = torch.einsum("btd,bvd->btv", states, self.output_weight(stages))
        targets = torch.gather(codes.long(), 2, stages[:, None, None].expand(-1, T, 1)).squeeze(2)
        targets = targets.masked_fill(~lengths_to_mask(code_lens, T), IGNORE)
        return logits, targets


def build_model(model_type: str, config: ModelConfig) -> nn.Module:
    if model_type == "ar":
        return ARModel(config)
    if model_type == "nar":
        return NARModel(config)
    raise ValueError(f"model type must be 'ar' or 'nar', got '{model_type}'")


def loss_and_accuracy(logits: torch.Tensor, targets: torch.Tensor, k: int = 10):
    """Summed cross-entropy, summed top-k hits and the number of real targets (for exact averaging
    over batches and ranks)."""
    real = targets != IGNORE
    flat_logits, flat_targets = logits[real].float(), targets[real]
    loss_sum = F.cross_entropy(flat_logits, flat_targets, reduction="sum")
    topk = flat_logits.topk(min(k, flat_logits.shape[-1]), dim=-1).indices
    hits = (topk == flat_targets[:, None]).any(dim=-1).sum()
    return loss_sum, hits, real.sum()
