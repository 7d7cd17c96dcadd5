"""The static KV cache and the compiled decoding step (``DecodeConfig.compile``) against the growing cache.

On a small trained model (``trained_small``): a batch whose rows start after prompts of 0-6 frames, so they reach
EOS, and leave the batch, at different steps. The static cache must give the same tokens as the growing cache,
token for token, greedy and sampled; its logits may differ only by float rounding (the attention sums over more,
masked, positions). The compiled step must be one graph (``fullgraph``: a graph break is an error) that is not
recompiled from step to step or from batch to batch of the same shape.
"""
import dataclasses

import pytest
import torch
from torch._dynamo.utils import counters

from trained_small import trained_small_models
from valle.infer.decode import (DecodeConfig, generate_ar, static_cache_for, static_capacity,
                                warm_up_compiled_step)
from valle.infer.sampling import SamplingConfig

GREEDY = DecodeConfig(sampling=SamplingConfig(top_k=1), min_frames_per_phone=1, max_frames_per_phone=6)
SAMPLED = dataclasses.replace(GREEDY, sampling=SamplingConfig(top_k=4, temperature=1.5), seed=7)


def staggered(rows=12):
    """(text, text_lens, prompt [B, P], prompt_lens, target_phones): row b has a prompt of b % 7 frames, so its
    sequence (18 frames in all) ends after 18 - b % 7 generated frames."""
    ar, _, (text, tl, codes, _) = trained_small_models()
    pl = torch.arange(rows) % 7
    prompt = codes[:rows, :6, 0].clone()
    for b, p in enumerate(pl.tolist()):
        prompt[b, p:] = 0          # padding
    phones = ((18 - pl) / 3).ceil().long()
    return ar, (text[:rows], tl[:rows], prompt, pl, phones), codes[:rows, :, 0]


def assert_same(a, b):
    assert [c.tolist() for c in a.codes] == [c.tolist() for c in b.codes]
    assert a.hit_eos == b.hit_eos


@pytest.mark.parametrize("cfg", [GREEDY, SAMPLED], ids=["greedy", "sampled"])
def test_static_cache_decodes_the_same_tokens(cfg):
    ar, args, codes = staggered()
    dynamic = generate_ar(ar, *args, cfg)
    static = generate_ar(ar, *args, cfg, static=True)
    assert_same(static, dynamic)
    lengths = [len(c) for c in dynamic.codes]
    assert len(set(lengths)) >= 5, lengths          # rows finished at different steps
    if cfg is GREEDY:                                # and the model decodes its task: the comparison means something
        assert all(dynamic.hit_eos)
        pl = args[3]
        right = 0
        for b, c in enumerate(dynamic.codes):   # a row may run past its reference (EOS late): those count as wrong
            ref = codes[b, int(pl[b]):]
            n = min(len(c), len(ref))
            right += int((c[:n] == ref[:n]).sum())
        assert right / sum(lengths) > 0.9


def test_static_step_logits_match_the_growing_cache():
    """Teacher-forced through 10 steps: logits equal up to float rounding, the argmax everywhere."""
    ar, (text, tl, prompt, pl, _), codes = staggered()
    B = text.shape[0]
    with torch.no_grad():
        ref, state = ar.prefill(text, tl, prompt, pl)
        got, st = ar.prefill(text, tl, prompt, pl, ar.new_static_cache(B, 64))
        assert torch.equal(ref, got)                 # the prefill is the same computation
        for t in range(10):
            tokens = codes[torch.arange(B), (pl + t).clamp(max=17)][:, None]
            ref = ar.step(tokens, state)
            got = ar.static_step(tokens, st["pos"], st["index"], st["cache"])
            st["pos"], st["index"] = st["pos"] + 1, st["index"] + 1
            assert (ref - got).abs().max() < 1e-4 * ref.abs().max()
            assert torch.equal(ref.argmax(-1), got.argmax(-1))


def test_compiled_step_is_one_graph_compiled_once_per_shape():
    ar, args, _ = staggered()
    compiled = dataclasses.replace(GREEDY, compile=True)
    torch._dynamo.reset()
    counters.clear()
    first = generate_ar(ar, *args, compiled)
    assert_same(first, generate_ar(ar, *args, GREEDY))
    assert counters["stats"]["unique_graphs"] == 1, dict(counters["stats"])
    assert not counters["graph_break"], dict(counters["graph_break"])
    # Another batch of the same shape (other texts, so other tokens): the same graph, not one recompile.
    text, tl, prompt, pl, phones = args
    other = (text.roll(1, 0), tl, prompt.roll(1, 0), pl.roll(1, 0), phones.roll(1, 0))
    with torch.compiler.set_stance("fail_on_recompile"):
        again = generate_ar(ar, *other, compiled)
    assert_same(again, generate_ar(ar, *other, GREEDY))
    assert counters["stats"]["unique_graphs"] == 1


def test_warm_up_compiles_the_step_the_decode_uses():
    """warm_up_compiled_step(batch, capacity) compiles the very graph a decode of that shape replays: the decode
    after it runs without one compilation more."""
    ar, (text, tl, prompt, pl, phones), _ = staggered(5)
    compiled = dataclasses.replace(GREEDY, compile=True)
    max_frames = int((phones.float() * GREEDY.max_frames_per_phone).ceil().max())
    torch._dynamo.reset()
    warm_up_compiled_step(ar, 5, static_capacity(text.shape[1] + prompt.shape[1], max_frames))
    with torch.compiler.set_stance("fail_on_recompile"):
        got = generate_ar(ar, text, tl, prompt, pl, phones, compiled)
    assert_same(got, generate_ar(ar, text, tl, prompt, pl, phones, GREEDY))


def test_static_cache_limits():
    ar, (text, tl, prompt, pl, _), _ = staggered(3)
    with pytest.raises(ValueError, match="holds 8 positions, 13 are needed"):
        ar.prefill(text, tl, prompt, pl, ar.new_static_cache(3, 8))
    assert static_capacity(100, 156) == 256 and static_capacity(100, 157) == 512
    # One cache per model, reused while the shape fits (CUDA graphs replay over the same addresses).
    a = static_cache_for(ar, 3, 256)
    assert static_cache_for(ar, 3, 256) is a and static_cache_for(ar, 4, 256) is not a
    with pytest.raises(ValueError, match="compile and int8 do not go together"):
        DecodeConfig(compile=True, int8=True)
