"""Batched decoding: the KV cache against full recompute, per-row EOS, length guards, sampling, RAS, NAR."""
import dataclasses

import pytest
import torch

from test_models import SMALL, make_codes, make_text
from valle.infer.decode import DecodeConfig, generate_ar, generate_nar
from valle.infer.sampling import SamplingConfig, filter_logits, sample
from valle.models.valle import ARModel, NARModel

GREEDY = DecodeConfig(sampling=SamplingConfig(top_k=1), min_frames_per_phone=1, max_frames_per_phone=4)


def ar_model(eos_bias: float = 0.0, seed: int = 0, group: int = 1) -> ARModel:
    torch.manual_seed(seed)
    model = ARModel(dataclasses.replace(SMALL, ar_group_size=group)).eval()
    if eos_bias and group > 1:   # each of the G output vectors is the state itself, so the trick below applies
        with torch.no_grad():
            model.group_out.weight.copy_(torch.eye(SMALL.d_model).repeat(group, 1))
            model.group_out.bias.zero_()
    if eos_bias:
        # Output dimension 0 becomes a constant 1 (LayerNorm gain 0, bias 1) and EOS's embedding row,
        # which is also its output row, reads only that dimension: EOS's logit is eos_bias everywhere.
        with torch.no_grad():
            model.transformer.final_norm.weight[0] = 0.0
            model.transformer.final_norm.bias[0] = 1.0
            model.audio_emb.weight[model.eos] = 0.0
            model.audio_emb.weight[model.eos, 0] = eos_bias
    return model


def batch(text_lens=(7, 4, 5), prompt_lens=(0, 2, 3), phones=(6, 3, 4)):
    text, tl = make_text(list(text_lens))
    codes, _ = make_codes([max(prompt_lens) or 1] * len(text_lens))
    return text, tl, codes[:, : max(prompt_lens)], torch.tensor(prompt_lens), torch.tensor(phones)


@pytest.mark.parametrize("eos_bias", [0.0, 50.0, -50.0])
def test_cached_decoding_equals_full_recompute(eos_bias):
    model = ar_model(eos_bias)
    args = batch()
    cached = generate_ar(model, *args, cfg=GREEDY, use_cache=True)
    full = generate_ar(model, *args, cfg=GREEDY, use_cache=False)
    assert [c.tolist() for c in cached.codes] == [c.tolist() for c in full.codes]
    assert cached.hit_eos == full.hit_eos


@pytest.mark.parametrize("G", [2, 3])
@pytest.mark.parametrize("eos_bias", [0.0, 50.0, -50.0])
def test_grouped_decoding_equals_full_recompute_and_the_static_cache(G, eos_bias):
    model = ar_model(eos_bias, group=G)
    args = batch(prompt_lens=(0, G, 2 * G))
    cached = generate_ar(model, *args, cfg=GREEDY, use_cache=True)
    full = generate_ar(model, *args, cfg=GREEDY, use_cache=False)
    static = generate_ar(model, *args, cfg=GREEDY, static=True)
    for other in (full, static):
        assert [c.tolist() for c in cached.codes] == [c.tolist() for c in other.codes]
        assert cached.hit_eos == other.hit_eos


def test_grouped_length_guards_end_inside_a_group():
    """G = 2: EOS and the maximum cut a sequence at any frame, not only at group ends."""
    args = batch(prompt_lens=(0, 2, 4))
    phones = args[-1]
    early = generate_ar(ar_model(50.0, group=2), *args, cfg=GREEDY)
    assert [len(c) for c in early.codes] == phones.tolist() and all(early.hit_eos)   # 6, 3, 4
    cfg = dataclasses.replace(GREEDY, min_frames_per_phone=2.5)
    assert [len(c) for c in generate_ar(ar_model(50.0, group=2), *args, cfg=cfg).codes] == [15, 8, 10]
    cut = generate_ar(ar_model(-50.0, group=2), *args, cfg=dataclasses.replace(GREEDY, max_frames_per_phone=2.5))
    assert [len(c) for c in cut.codes] == [15, 8, 10] and not any(cut.hit_eos)


def test_length_guards_from_phone_count():
    args = batch()
    phones = args[-1]
    # EOS as likely as possible: each sequence ends exactly at its own minimum (1 frame per phone) ...
    early = generate_ar(ar_model(50.0), *args, cfg=GREEDY)
    assert [len(c) for c in early.codes] == phones.tolist() and all(early.hit_eos)
    # ... and never: each is cut at its own maximum (4 frames per phone) and reported.
    never = generate_ar(ar_model(-50.0), *args, cfg=GREEDY)
    assert [len(c) for c in never.codes] == (4 * phones).tolist() and not any(never.hit_eos)
    cfg = dataclasses.replace(GREEDY, min_frames_per_phone=2.5)
    assert [len(c) for c in generate_ar(ar_model(50.0), *args, cfg=cfg).codes] == [15, 8, 10]
    assert all(int(c.max()) < SMALL.codebook_size for c in never.codes)  # EOS never emitted as a code


def test_batched_equals_one_at_a_time():
    model = ar_model(0.0, seed=3)
    text, tl, prompt, pl, phones = batch()
    together = generate_ar(model, text, tl, prompt, pl, phones, cfg=GREEDY)
    for b in range(3):
        alone = generate_ar(model, text[b:b + 1, : tl[b]], tl[b:b + 1], prompt[b:b + 1, : pl[b]], pl[b:b + 1],
                            phones[b:b + 1], cfg=GREEDY)
        assert alone.codes[0].tolist() == together.codes[b].tolist()


def test_sampling_is_reproducible_with_a_seed():
    model = ar_model()
    args = batch()
    cfg = DecodeConfig(sampling=SamplingConfig(temperature=1.0, top_p=0.9), max_frames_per_phone=4, seed=11)
    a = generate_ar(model, *args, cfg=cfg)
    b = generate_ar(model, *args, cfg=cfg)
    c = generate_ar(model, *args, cfg=dataclasses.replace(cfg, seed=12))
    assert [x.tolist() for x in a.codes] == [x.tolist() for x in b.codes]
    assert [x.tolist() for x in a.codes] != [x.tolist() for x in c.codes]


def test_top_k_and_top_p_filters():
    logits = torch.log(torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]]))
    assert torch.isfinite(filter_logits(logits, top_k=2)).tolist() == [[True, True, False, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.6)).tolist() == [[True, True, False, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.5)).tolist() == [[True, False, False, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.1)).tolist() == [[True, False, False, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=1.0)).all()
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=0.0)


def test_repetition_aware_sampling_breaks_loops():
    # Token 0 has 60 % of the mass: the 0.5 nucleus holds it alone, so plain sampling always repeats it.
    probs = torch.tensor([0.6] + [0.4 / 9] * 9)
    logits = probs.log().expand(400, -1)
    looping = torch.zeros(400, 10, dtype=torch.long)        # the last 10 tokens were all 0
    varied = torch.arange(1, 11).expand(400, -1) % 10       # token 0 once in 10
    plain = SamplingConfig(top_p=0.5)
    ras = SamplingConfig(top_p=0.5, ras_window=10, ras_threshold=0.5)
    g = torch.Generator().manual_seed(0)
    assert (sample(logits, plain, looping, g) == 0).all()
    redrawn = sample(logits, ras, looping, g)
    assert 0.25 < (redrawn != 0).float().mean() < 0.55      # redrawn from the full distribution: ~40 %
    assert (sample(logits, ras, varied, g) == 0).all()       # below the threshold: nucleus as usual


def test_ras_history_starts_with_the_prompt(monkeypatch):
    """RAS judges the first tokens against the end of the prompt too (it used to start with no history)."""
    from valle.infer import decode
    from valle.infer.decode import ras_history
    prompt = torch.tensor([[5, 6, 7, 8], [9, 9, 0, 0], [0, 0, 0, 0]])
    assert ras_history(prompt, torch.tensor([4, 2, 0]), 3).tolist() == [[6, 7, 8], [-1, 9, 9], [-1, -1, -1]]
    assert ras_history(prompt, torch.tensor([4, 2, 0]), 0).shape == (3, 0)
    seen = []
    real_sample = decode.sample

    def spy(logits, cfg, history, generator):
        seen.append(history.clone())
        return real_sample(logits, cfg, history, generator)

    monkeypatch.setattr(decode, "sample", spy)
    text, tl, codes, pl, phones = batch()
    cfg = DecodeConfig(sampling=SamplingConfig(top_p=0.8, ras_window=4, ras_threshold=0.5), seed=0,
                       min_frames_per_phone=1, max_frames_per_phone=2)
    generate_ar(ar_model(), text, tl, codes, pl, phones, cfg)
    assert seen[0].tolist() == ras_history(codes, pl, 4).tolist()
    assert seen[0][2, -3:].tolist() == codes[2, :3].tolist()  # the 3-code prompt of row 2


def test_nar_fills_codebooks_2_to_8():
    torch.manual_seed(0)
    model = NARModel(SMALL).eval()
    text, tl = make_text([5, 4])
    prompt, pl = make_codes([4, 2], (8,))
    first, cl = make_codes([6, 3])
    codes = generate_nar(model, text, tl, prompt, pl, first, cl)
    assert codes.shape == (2, 6, 8)
    assert torch.equal(codes[0, :, 0], first[0]) and torch.equal(codes[1, :3, 0], first[1, :3])
    assert (codes[1, 3:] == 0).all()
    # Greedy: each codebook is the argmax given the ones before it.
    for j in range(1, 8):
        logits, _ = model(text, tl, prompt, pl, codes, cl, torch.full((2,), j))
        assert torch.equal(logits[0].argmax(-1), codes[0, :, j])
    assert torch.equal(codes, generate_nar(model, text, tl, prompt, pl, first, cl))
