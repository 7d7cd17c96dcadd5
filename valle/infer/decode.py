"""Batched VALL-E decoding: the AR model with its KV cache for codebook 1, then the NAR model for 2..8.

AR: one prefill over ``[phones, EOS | prompt codes]`` per batch, then one cached step per frame. Each
sequence stops at its own EOS; finished rows leave the batch (``KVCache.select``) so the remaining
ones step alone. Length guards come from the number of phones to speak: EOS is suppressed until
``min_frames_per_phone`` frames per phone are out, and a sequence that reaches ``max_frames_per_phone``
per phone is cut there and reported as an EOS failure.
With ``DecodeConfig.compile`` the AR steps run over a :class:`~valle.models.transformer.StaticKVCache` instead:
fixed shapes, every row kept to the end, one ``torch.compile``d step (CUDA graphs on a GPU) replayed every frame.
NAR: greedy (argmax) by default, one full forward per codebook.
"""
import weakref
from dataclasses import dataclass
from typing import Iterator, List, Optional

import torch

from valle.infer.config import DecodeConfig, SamplingConfig  # noqa: F401 (re-exported)
from valle.infer.sampling import sample


@dataclass
class ARResult:
    codes: List[torch.Tensor]      # per sequence: [T] codebook-1 codes (EOS excluded)
    hit_eos: List[bool]            # False: stopped by the maximum length guard


def ras_history(prompt: torch.Tensor, prompt_lens: torch.Tensor, window: int) -> torch.Tensor:
    """The tokens repetition-aware sampling looks back on at the first step: the last ``window`` codes of
    each prompt (VALL-E 2: the decoding history is the sequence so far, and the prompt begins it),
    right-aligned, -1 (never a code) before a shorter prompt. [B, window]; [B, 0] when RAS is off."""
    history = torch.full((prompt.shape[0], window), -1, dtype=torch.long, device=prompt.device)
    for b, n in enumerate(prompt_lens.tolist()):
        k = min(window, n)
        if k:
            history[b, window - k:] = prompt[b, n - k:n]
    return history


# A static cache holds prefix + frames rounded up to this many positions, so that utterances of similar length share
# one compiled step (each capacity is a shape of its own: one compilation, one CUDA graph).
STATIC_CAPACITY_MULTIPLE = 256
# Compiled steps per model: one per (batch size, capacity) is compiled; past torch's default limit (8) it would
# silently fall back to eager.
RECOMPILE_LIMIT = 64
_compiled_steps = weakref.WeakKeyDictionary()   # model -> its compiled static_step
_static_caches = weakref.WeakKeyDictionary()    # model -> its last StaticKVCache, reused while the shape fits


def static_capacity(prefix_len: int, max_frames: int) -> int:
    need = prefix_len + max_frames
    return -(-need // STATIC_CAPACITY_MULTIPLE) * STATIC_CAPACITY_MULTIPLE


def static_cache_for(model, batch: int, capacity: int):
    """The model's static cache for this shape: the last one when it matches, else a new one (which replaces it, so
    at most one is held per model). Reusing it keeps its addresses: a CUDA graph recorded over them replays."""
    w = model.audio_emb.weight
    cache = _static_caches.get(model)
    if cache is None or not cache.matches(batch, capacity, w.dtype, w.device):
        _static_caches.pop(model, None)      # free the old buffers before allocating the new ones
        cache = model.new_static_cache(batch, capacity)
        if w.device.type == "cuda":
            for buf in cache.buffers():      # fixed addresses: CUDA graphs read them in place, no copy
                torch._dynamo.mark_static_address(buf)
        _static_caches[model] = cache
    return cache


def compiled_step(model):
    """``model.static_step`` compiled once per model: the whole step one graph (``fullgraph``: a graph break is an
    error), static shapes; CUDA graphs on a GPU (``reduce-overhead``: one replay per step instead of a few hundred
    kernel launches)."""
    fn = _compiled_steps.get(model)
    if fn is None:
        cuda = next(model.parameters()).device.type == "cuda"
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        fn = torch.compile(model.static_step, fullgraph=True, dynamic=False,
                           mode="reduce-overhead" if cuda else None)
        _compiled_steps[model] = fn
    return fn


@torch.no_grad()
def warm_up_compiled_step(model, batch: int, capacity: int, calls: int = 3) -> None:
    """Compile (and on a GPU record the CUDA graph of) the step for this shape before decoding: the first call
    compiles, the next ones record. Benchmarks use it to time compilation apart; a server, to compile at start."""
    cache = static_cache_for(model, batch, capacity)
    cache.reset()
    device = cache.valid.device
    tokens = torch.zeros(batch, model.group_size, dtype=torch.long, device=device)
    positions = torch.zeros(batch, dtype=torch.long, device=device)
    step = compiled_step(model)
    for i in range(calls):
        if device.type == "cuda":
            torch.compiler.cudagraph_mark_step_begin()
        step(tokens, positions + i, torch.tensor([i], device=device), cache)
    cache.reset()


@torch.no_grad()
def generate_ar(model, text: torch.Tensor, text_lens: torch.Tensor, prompt: torch.Tensor,
                prompt_lens: torch.Tensor, target_phones: torch.Tensor, cfg: DecodeConfig = DecodeConfig(),
                use_cache: bool = True, static: bool = False) -> ARResult:
    """Codebook-1 codes after the prompt for each sequence: :func:`iter_ar` run to its end."""
    progress = ARProgress([], [], [])   # an empty batch takes no step
    for progress in iter_ar(model, text, text_lens, prompt, prompt_lens, target_phones, cfg, use_cache, static):
        pass
    return ARResult([torch.tensor(o, dtype=torch.long) for o in progress.codes], list(progress.hit_eos))


@dataclass
class ARProgress:
    """What :func:`iter_ar` has decoded so far; its lists grow in place from one step to the next."""
    codes: List[List[int]]         # per sequence: the codes so far (EOS excluded)
    hit_eos: List[bool]
    finished: List[bool]           # the sequence has ended (EOS or length guard): its codes are final


@torch.no_grad()
def iter_ar(model, text: torch.Tensor, text_lens: torch.Tensor, prompt: torch.Tensor,
            prompt_lens: torch.Tensor, target_phones: torch.Tensor, cfg: DecodeConfig = DecodeConfig(),
            use_cache: bool = True, static: bool = False) -> Iterator[ARProgress]:
    """Codebook-1 codes after the prompt for each sequence, yielded as they come: one :class:`ARProgress` after
    every step (the same object each time, updated), the last one with every sequence finished. Streaming
    synthesis reads it to hand finished chunks on while the AR goes on.

    text ``[B, Lx]`` (phones + EOS, 0-padded), prompt ``[B, P]`` codebook-1 codes (P may be 0; with grouped code
    modelling each prompt length a multiple of the group size G), target_phones ``[B]``: phones still to be spoken
    (sets the length guards). Each step yields a group of G codes, sampled one after the other (each sees the
    ones before it in RAS's history); a sequence ends at the first EOS in a group, or at the length guard.
    ``use_cache=False`` recomputes the whole sequence every step (the reference and the benchmark's baseline).
    ``static``: the static cache's step without compiling it (what ``cfg.compile`` compiles; tests compare it).
    """
    device = text.device
    B = text.shape[0]
    G = model.group_size
    generator = torch.Generator(device=device).manual_seed(cfg.seed) if cfg.seed is not None else None
    min_len = (target_phones.float() * cfg.min_frames_per_phone).ceil().long()
    max_len = (target_phones.float() * cfg.max_frames_per_phone).ceil().long().clamp(min=1)
    max_frames = max_len.tolist()
    out = [[] for _ in range(B)]
    hit_eos = [False] * B
    progress = ARProgress(out, hit_eos, [False] * B)
    active = torch.arange(B, device=device)           # rows of the original batch still decoding
    static = use_cache and (static or cfg.compile)
    if static:
        capacity = static_capacity(text.shape[1] + -(-prompt.shape[1] // G), -(-int(max_len.max()) // G))
        logits, state = model.prefill(text, text_lens, prompt, prompt_lens, static_cache_for(model, B, capacity))
        step_fn = compiled_step(model) if cfg.compile else model.static_step
        all_tokens = torch.zeros(B, G, dtype=torch.long, device=device)   # finished rows feed code 0, ignored
    elif use_cache:
        logits, state = model.prefill(text, text_lens, prompt, prompt_lens)
    else:
        logits = _full_logits(model, text, text_lens, prompt, prompt_lens, [[] for _ in range(B)])
    history = ras_history(prompt, prompt_lens, cfg.sampling.ras_window)
    window = cfg.sampling.ras_window   # RAS looks at the last ras_window tokens only: keep no more (none when off)
    frame = 0                          # frames generated per active sequence before this step
    while active.numel():
        logits = logits.to(torch.float32, copy=True)  # [A, G, V], sampled in float32 whatever the model computes in
        rows = active.tolist()
        done = [False] * len(rows)
        group = []
        for j in range(G):
            logits[frame + j < min_len[active], j, model.eos] = float("-inf")
            tokens = sample(logits[:, j], cfg.sampling, history, generator)
            for i, token in enumerate(tokens.tolist()):
                if done[i]:
                    continue   # ended earlier in this group: the rest of it is not spoken
                if token == model.eos:
                    hit_eos[rows[i]] = done[i] = True
                else:
                    out[rows[i]].append(token)
                    done[i] = frame + j + 1 >= max_frames[rows[i]]
            history = torch.cat([history, tokens[:, None]], dim=1)[:, -window:] if window else history
            group.append(tokens)
        frame += G
        for i, r in enumerate(rows):
            progress.finished[r] = done[i]
        yield progress
        keep = (~torch.tensor(done, device=device)).nonzero().squeeze(1)
        if keep.numel() == 0:
            break
        history = history[keep]
        if keep.numel() < active.numel():
            active = active[keep]
            if use_cache and not static:
                state["cache"].select(keep)
                state["keys"], state["pos"] = state["keys"][keep], state["pos"][keep]
        tokens = torch.stack(group, dim=1)[keep]      # [A, G]: whole groups of codes (an EOS would have ended it)
        if static:
            all_tokens[active] = tokens
            if cfg.compile and device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            logits = step_fn(all_tokens, state["pos"], state["index"], state["cache"])[active]
            state["pos"], state["index"] = state["pos"] + 1, state["index"] + 1
        elif use_cache:
            logits = model.step(tokens, state)
        else:
            logits = _full_logits(model, text[active], text_lens[active], prompt[active], prompt_lens[active],
                                  [out[r] for r in active.tolist()])


def _full_logits(model, text, text_lens, prompt, prompt_lens, generated: List[List[int]]) -> torch.Tensor:
    """The next group's logits ``[B, G, V]`` by a full forward over prompt + generated codes (no cache)."""
    B = text.shape[0]
    G = model.group_size
    lens = prompt_lens + torch.tensor([len(g) for g in generated], device=text.device)
    codes = torch.zeros(B, max(int(lens.max()), 1), dtype=torch.long, device=text.device)
    for b in range(B):
        p = int(prompt_lens[b])
        codes[b, :p] = prompt[b, :p]
        codes[b, p:p + len(generated[b])] = torch.tensor(generated[b], dtype=torch.long)
    logits, _ = model(text, text_lens, codes, lens)
    return logits.unflatten(1, (-1, G))[torch.arange(B), lens // G]


@torch.no_grad()
def generate_nar(model, text: torch.Tensor, text_lens: torch.Tensor, prompt: torch.Tensor,
                 prompt_lens: torch.Tensor, first: torch.Tensor, code_lens: torch.Tensor,
                 cfg: DecodeConfig = DecodeConfig(), known: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Codebooks 2..8 for AR output ``first`` ``[B, T]``: returns ``[B, T, 8]`` (padded rows past code_lens).

    ``known`` ``[B, F, 8]`` (F <= T): the first F frames' codes, already decided (streaming: the chunks handed on
    before). They are kept as they are and the later frames' codebooks are predicted from them."""
    B, T = first.shape
    K = model.config.num_codebooks
    F = 0 if known is None else known.shape[1]
    generator = torch.Generator(device=first.device).manual_seed(cfg.seed) if cfg.seed is not None else None
    codes = torch.zeros(B, T, K, dtype=torch.long, device=first.device)
    codes[..., 0] = first
    if F:
        codes[:, :F] = known
    for j in range(1, K):
        stages = torch.full((B,), j, dtype=torch.long, device=first.device)
        logits, _ = model(text, text_lens, prompt, prompt_lens, codes, code_lens, stages)
        if cfg.nar_greedy:
            codes[..., j] = logits.argmax(-1)
        else:
            flat = sample(logits.reshape(B * T, -1).float(), cfg.sampling, None, generator)
            codes[..., j] = flat.view(B, T)
        if F:
            codes[:, :F, j] = known[..., j]
    codes[torch.arange(T, device=first.device)[None] >= code_lens[:, None]] = 0
    return codes
