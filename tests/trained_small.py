"""Small AR and NAR models trained in a few seconds on a task they learn until their predictions are confident.

Random weights give near-uniform logits, where any rounding flips the argmax and the AR never emits EOS: tests that
compare two ways of computing the same decode (number formats, the static KV cache) need models that know what to
say and when to stop. Trained once per test session (``lru_cache``); callers must not modify the models.
"""
import dataclasses
import functools

import torch

from test_models import SMALL
from valle.infer.decode import generate_nar
from valle.models.valle import ARModel, NARModel, loss_and_accuracy


def task(n: int = 12, seed: int = 0):
    """Sequences a small model learns in a few hundred updates: each text is 6 random phones; codebook k of
    frame t is (31 * phone[t // 3] + 7 * k + t) mod the codebook size (three frames a phone, every codebook its own
    offset)."""
    g = torch.Generator().manual_seed(seed)
    V = SMALL.text_vocab_size
    text = torch.randint(1, V - 1, (n, 7), generator=g)
    text[:, -1] = V - 1
    t = torch.arange(18)
    phone = text[:, t // 3]
    codes = torch.stack([(31 * phone + 7 * k + t) % SMALL.codebook_size for k in range(8)], dim=-1)
    return text, torch.full((n,), 7), codes, torch.full((n,), 18)


def train(model, batch_fn, steps):
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    for _ in range(steps):
        loss_sum, _, n = loss_and_accuracy(*model(*batch_fn()))
        opt.zero_grad()
        (loss_sum / n).backward()
        opt.step()
    return model.eval()


@functools.lru_cache(maxsize=1)
def trained_small_models():
    """(AR, NAR, (text, text_lens, codes [12, 18, 8], code_lens)) after 200 updates each."""
    torch.manual_seed(0)
    cfg = dataclasses.replace(SMALL, dropout=0.0)
    text, tl, codes, cl = task()
    ar = train(ARModel(cfg), lambda: (text, tl, codes[..., 0], cl), 200)
    prompt, pl = codes[:, :6], torch.full((12,), 6)
    g = torch.Generator().manual_seed(0)   # a stage per row and update, as in training: every row learns every stage
    nar = train(NARModel(cfg), lambda: (text, tl, prompt, pl, codes[:, 6:], cl - 6,
                                        torch.randint(1, 8, (12,), generator=g)), 200)
    with torch.no_grad():
        _, hits, n = loss_and_accuracy(*ar(text, tl, codes[..., 0], cl), k=1)
    assert hits / n > 0.9, "the AR model did not learn the task: comparisons on it would be meaningless"
    with torch.no_grad():
        nar_codes = generate_nar(nar, text, tl, prompt, pl, codes[:, 6:, 0], cl - 6)
    assert (nar_codes == codes[:, 6:]).float().mean() > 0.9, "the NAR model did not learn the task"
    return ar, nar, (text, tl, codes, cl)
