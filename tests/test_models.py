"""VALL-E AR/NAR models: causality, the KV cache, tied output layers, AdaLN stages, overfitting a batch."""
import dataclasses

import pytest
import torch

from valle.models.config import CONFIGS, ModelConfig, get_config
from valle.models.transformer import AdaptiveLayerNorm
from valle.models.valle import IGNORE, ARModel, NARModel, loss_and_accuracy

SMALL = ModelConfig(d_model=64, num_heads=4, num_layers=2, ffn_dim=128, dropout=0.0, codebook_size=32,
                    num_codebooks=8, text_vocab_size=20)


def make_text(lengths, vocab=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    text = torch.randint(1, vocab - 1, (len(lengths), int(lengths.max())), generator=g)
    text[torch.arange(len(lengths)), lengths - 1] = vocab - 1        # EOS last
    text[torch.arange(text.shape[1])[None] >= lengths[:, None]] = 0  # padding
    return text, lengths


def make_codes(lengths, shape_tail=(), size=32, seed=1):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    return torch.randint(0, size, (len(lengths), int(lengths.max()), *shape_tail), generator=g), lengths


def test_configs():
    paper = get_config("paper")
    assert (paper.num_layers, paper.num_heads, paper.d_model, paper.ffn_dim, paper.dropout) == (12, 16, 1024, 4096, 0.1)
    assert (paper.codebook_size, paper.num_codebooks) == (1024, 8)
    assert set(CONFIGS) >= {"paper", "tiny"}
    with pytest.raises(ValueError, match="unknown model config 'huge'"):
        get_config("huge")
    with pytest.raises(ValueError, match="multiple"):
        ModelConfig(d_model=100, num_heads=16)
    assert ModelConfig.from_dict(SMALL.to_dict()) == SMALL
    with pytest.raises(ValueError, match="unknown model config fields"):
        ModelConfig.from_dict({**SMALL.to_dict(), "bogus": 1})


def ar_targets_checked(model):
    """Logits and targets of 5 and 3 codes: the codes, EOS, then IGNORE to the longest (for G = 2 also the end of
    the last group: 6 positions either way)."""
    text, tl = make_text([6, 4])
    codes, cl = make_codes([5, 3])
    logits, targets = model(text, tl, codes, cl)
    assert logits.shape == (2, 6, SMALL.codebook_size + 1)
    assert targets[0].tolist() == codes[0].tolist() + [model.eos]
    assert targets[1].tolist() == codes[1, :3].tolist() + [model.eos, IGNORE, IGNORE]
    return logits, targets


def test_ar_targets_and_tied_head():
    torch.manual_seed(0)
    model = ARModel(SMALL)
    logits, targets = ar_targets_checked(model)
    # Tied: the output layer is the acoustic embedding itself, and gets gradient through both uses.
    assert model.output_weight().data_ptr() == model.audio_emb.weight.data_ptr()
    assert not any(n.startswith("head") or "lm_head" in n for n, _ in model.named_parameters())
    loss, _, n = loss_and_accuracy(logits, targets)
    loss.backward()
    assert n == 5 + 1 + 3 + 1
    assert model.audio_emb.weight.grad[model.eos].abs().sum() > 0  # EOS row only reached via the head


def test_ar_causal_over_audio_and_text_is_a_prefix():
    torch.manual_seed(0)
    model = ARModel(SMALL).eval()
    text, tl = make_text([6, 6])
    codes, cl = make_codes([8, 8])
    logits, _ = model(text, tl, codes, cl)
    k = 4
    changed = codes.clone()
    changed[:, k:] = (changed[:, k:] + 7) % SMALL.codebook_size
    logits2, _ = model(text, tl, changed, cl)
    # Index t predicts code t from codes < t: indices 0..k see no change, k+1 on do.
    torch.testing.assert_close(logits[:, : k + 1], logits2[:, : k + 1])
    assert (logits[:, k + 1] - logits2[:, k + 1]).abs().max() > 1e-4
    # The text is one prefix: even the first prediction sees every phone.
    text2 = text.clone()
    text2[:, 1] = (text2[:, 1] % 17) + 1
    logits3, _ = model(text2, tl, codes, cl)
    assert (logits[:, 0] - logits3[:, 0]).abs().max() > 1e-4
    # Padding is invisible: extra padded text/audio does not change real positions.
    pad_text = torch.cat([text, torch.zeros(2, 3, dtype=text.dtype)], dim=1)
    pad_codes = torch.cat([codes, torch.full((2, 5), 3)], dim=1)
    logits4, targets4 = model(pad_text, tl, pad_codes, cl)
    torch.testing.assert_close(logits4[:, :9], logits, atol=1e-5, rtol=1e-5)
    assert (targets4[:, 9:] == IGNORE).all()


@pytest.mark.parametrize("G", [1, 2, 3])
def test_ar_kv_cache_matches_full_recompute(G):
    torch.manual_seed(0)
    model = ARModel(dataclasses.replace(SMALL, ar_group_size=G)).eval()
    text, tl = make_text([7, 4, 5])
    codes, cl = make_codes([9 * G, 9 * G, 9 * G])
    full, _ = model(text, tl, codes, cl)
    full = full.unflatten(1, (-1, G))                            # [B, groups, G, V]
    prompt_lens = torch.tensor([0, 2, 3]) * G
    logits, state = model.prefill(text, tl, codes[:, : 3 * G], prompt_lens)
    torch.testing.assert_close(logits, full[torch.arange(3), prompt_lens // G], atol=1e-5, rtol=1e-5)
    for s in range(5):
        nxt = torch.stack([codes[b, p + s * G: p + (s + 1) * G] for b, p in enumerate(prompt_lens.tolist())])
        logits = model.step(nxt, state)
        torch.testing.assert_close(logits, full[torch.arange(3), prompt_lens // G + s + 1], atol=1e-5, rtol=1e-5)
    assert state["cache"].length == text.shape[1] + 3 + 5
    if G > 1:
        with pytest.raises(ValueError, match="multiples of ar_group_size"):
            model.prefill(text, tl, codes[:, :3], torch.tensor([0, 1, 2]))


def test_grouped_ar_targets_and_causality():
    """G = 2: targets are the codes, EOS, then IGNORE to the group's end; the prediction of a code never sees it or a
    later code (not even in its own group); G = 1 has no group layers (VALL-E's model, parameter for parameter)."""
    assert not any("group" in n for n, _ in ARModel(SMALL).named_parameters())
    torch.manual_seed(0)
    model = ARModel(dataclasses.replace(SMALL, ar_group_size=2)).eval()
    assert {n.split(".")[0] for n, _ in model.named_parameters() if "group" in n} == {"group_in", "group_out"}
    ar_targets_checked(model)
    text, tl = make_text([6, 4])
    codes, cl = make_codes([10, 10])
    ref, _ = model(text, tl, codes, cl)
    for k in (3, 4):
        changed = codes.clone()
        changed[:, k] = (changed[:, k] + 7) % SMALL.codebook_size
        got, _ = model(text, tl, changed, cl)
        seen_from = (k // 2 + 1) * 2         # the first code predicted from the group holding code k
        torch.testing.assert_close(got[:, :seen_from], ref[:, :seen_from])
        assert (got[:, seen_from:seen_from + 2] - ref[:, seen_from:seen_from + 2]).abs().max() > 1e-4


def test_nar_tied_layers_and_stage_inputs():
    torch.manual_seed(0)
    model = NARModel(SMALL).eval()
    text, tl = make_text([5, 4])
    prompt, pl = make_codes([4, 0], (8,))
    codes, cl = make_codes([6, 3], (8,), seed=2)
    stages = torch.tensor([1, 5])
    logits, targets = model(text, tl, prompt, pl, codes, cl, stages)
    assert logits.shape == (2, 6, SMALL.codebook_size)
    assert targets[0].tolist() == codes[0, :, 1].tolist()
    assert targets[1].tolist() == codes[1, :3, 5].tolist() + [IGNORE] * 3
    # Prediction layer j is acoustic embedding j+1 (0-based index j).
    w = model.output_weight(stages)
    assert torch.equal(w[0], model.audio_embs[1].weight) and torch.equal(w[1], model.audio_embs[5].weight)
    # The answer never leaks: codebooks >= stage of the target frames do not change the logits ...
    leak = codes.clone()
    leak[0, :, 1:] = (leak[0, :, 1:] + 5) % SMALL.codebook_size
    leak[1, :, 5:] = (leak[1, :, 5:] + 5) % SMALL.codebook_size
    logits2, _ = model(text, tl, prompt, pl, leak, cl, stages)
    torch.testing.assert_close(logits2, logits)
    # ... while the codebooks below the stage, and the prompt's codebook 8, do.
    below = codes.clone()
    below[1, :, 4] = (below[1, :, 4] + 5) % SMALL.codebook_size
    assert (model(text, tl, prompt, pl, below, cl, stages)[0][1, :3] - logits[1, :3]).abs().max() > 1e-4
    p8 = prompt.clone()
    p8[0, :, 7] = (p8[0, :, 7] + 5) % SMALL.codebook_size
    assert (model(text, tl, p8, pl, codes, cl, stages)[0][0] - logits[0]).abs().max() > 1e-4
    with pytest.raises(ValueError, match="stages must be in 1..7"):
        model(text, tl, prompt, pl, codes, cl, torch.tensor([0, 1]))


def test_nar_adaln_stage_conditioning():
    torch.manual_seed(0)
    norm = AdaptiveLayerNorm(16)
    x = torch.randn(2, 3, 16)
    stage = torch.randn(2, 16)
    # Starts as a plain LayerNorm whatever the stage ...
    torch.testing.assert_close(norm(x, stage), torch.nn.functional.layer_norm(x, (16,)))
    # ... and once trained, the stage embedding sets a gain and a bias per sequence.
    torch.nn.init.normal_(norm.proj.weight)
    y = norm(x, stage)
    gain, bias = norm.proj(stage).chunk(2, dim=-1)
    torch.testing.assert_close(y, gain[:, None] * torch.nn.functional.layer_norm(x, (16,)) + bias[:, None])
    # In the model: same input, different stage -> different hidden states once AdaLN is trained.
    model = NARModel(SMALL).eval()
    for m in model.modules():
        if isinstance(m, AdaptiveLayerNorm):
            torch.nn.init.normal_(m.proj.weight, std=0.1)
    x = torch.randn(1, 4, 64)
    out = [model.transformer(x, None, stage_emb=model.stage_emb(torch.tensor([j]))) for j in range(7)]
    assert all((out[0] - o).abs().max() > 1e-3 for o in out[1:])


@pytest.mark.parametrize("model_type", ["ar", "nar"])
def test_overfits_one_batch(model_type):
    torch.manual_seed(0)
    cfg = dataclasses.replace(SMALL, dropout=0.1)
    model = ARModel(cfg) if model_type == "ar" else NARModel(cfg)
    text, tl = make_text([6, 5, 4])
    if model_type == "ar":
        codes, cl = make_codes([12, 10, 8])
        batch = (text, tl, codes, cl)
    else:
        prompt, pl = make_codes([4, 3, 0], (8,))
        codes, cl = make_codes([12, 10, 8], (8,), seed=3)
        batch = (text, tl, prompt, pl, codes, cl, torch.tensor([1, 4, 7]))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss_sum, _, n = loss_and_accuracy(*model(*batch))
        loss = loss_sum / n
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses[::10]
    model.eval()
    _, hits, n = loss_and_accuracy(*model(*batch), k=1)
    assert hits / n > 0.9


def test_kv_cache_grows_and_selects_like_concatenation():
    from valle.models.transformer import KVCache
    torch.manual_seed(0)
    cache = KVCache(num_layers=2, capacity=2)
    ref = [[None, None], [None, None]]
    for t in (3, 1, 1, 4, 1):           # a prefill of 3, then steps; the buffer doubles past 2, 4, 8
        for layer in range(2):
            k, v = torch.randn(3, 2, t, 4), torch.randn(3, 2, t, 4)
            ref[layer] = [k, v] if ref[layer][0] is None else [torch.cat([ref[layer][0], k], 2),
                                                              torch.cat([ref[layer][1], v], 2)]
            got_k, got_v = cache.update(layer, k, v)
            assert torch.equal(got_k, ref[layer][0]) and torch.equal(got_v, ref[layer][1])
    assert cache.length == 10 and cache.keys[0].shape[2] == 16
    cache.select(torch.tensor([2, 0]))
    k, v = torch.randn(2, 2, 1, 4), torch.randn(2, 2, 1, 4)
    got_k, _ = cache.update(0, k, v)
    assert torch.equal(got_k, torch.cat([ref[0][0][[2, 0]], k], 2))
