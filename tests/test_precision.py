"""Decoding in bfloat16 and with int8 weights against float32, on small models trained here until their
predictions are confident (random weights give near-uniform logits, where any rounding flips the argmax).

What is required, and why:
- Teacher-forced logits: the largest difference stays under a share of the logit range: 2 % for bfloat16 (8 bits
  of mantissa, 0.4 % per rounding, compounded through the layers), 6 % for int8 (each weight within 1/254 of its
  row's largest one, and each layer's input rounded to 1/255 of its range on the fly).
- The top-1 token agrees wherever float32's top two are more than MARGIN apart: a rounding error must not flip a
  decision the model is sure of. Near-ties may flip either way, so overall agreement is required at 98 %.
- Greedy decoding (AR codebook 1, NAR codebooks 2-8) gives the same tokens at 95 % of the steps or more; a flip at
  a near-tie changes what follows in the AR, so exact equality is not the contract.
"""
import copy

import pytest
import torch

from test_models import SMALL
from trained_small import trained_small_models
from valle.infer.decode import DecodeConfig, generate_ar, generate_nar
from valle.infer.sampling import SamplingConfig
from valle.models.valle import ARModel
from valle.utils.precision import inference_model

MARGIN = 1.0
# dtype, int8, max |logit difference| / logit range: 2-3 x what was measured here for the AR (bfloat16 0.5-0.7 %,
# int8 3.1 %; the NAR 0.3 % and 0.5 %)
FORMATS = {"bfloat16": ("bfloat16", False, 0.02), "int8": ("float32", True, 0.06)}
GREEDY = DecodeConfig(sampling=SamplingConfig(top_k=1), min_frames_per_phone=3, max_frames_per_phone=3)


@pytest.fixture(scope="module")
def trained():
    return trained_small_models()


def agreement(ref: torch.Tensor, other: torch.Tensor):
    """(share of equal argmaxes, equal where the reference is sure, max |difference| / reference range)."""
    top2 = ref.topk(2, dim=-1).values
    sure = (top2[..., 0] - top2[..., 1]) > MARGIN
    same = ref.argmax(-1) == other.argmax(-1)
    return same.float().mean().item(), bool(same[sure].all()), ((ref - other).abs().max() / (ref.max() - ref.min())).item()


@pytest.mark.parametrize("fmt", FORMATS)
def test_teacher_forced_logits_agree(trained, fmt):
    ar, nar, (text, tl, codes, cl) = trained
    dtype, int8, tolerance = FORMATS[fmt]
    ref_ar = ar(text, tl, codes[..., 0], cl)[0]
    got_ar = inference_model(copy.deepcopy(ar), dtype, int8)(text, tl, codes[..., 0], cl)[0].float()
    stages = torch.arange(12) % 7 + 1
    nar_in = (text, tl, codes[:, :6], torch.full((12,), 6), codes[:, 6:], cl - 6, stages)
    ref_nar = nar(*nar_in)[0]
    got_nar = inference_model(copy.deepcopy(nar), dtype, int8)(*nar_in)[0].float()
    for ref, got in ((ref_ar, got_ar), (ref_nar, got_nar)):
        share, sure_equal, diff = agreement(ref, got)
        assert sure_equal and share >= 0.98 and 0 < diff <= tolerance, (fmt, share, sure_equal, diff)  # > 0: applied


@pytest.mark.parametrize("fmt", FORMATS)
def test_greedy_decoding_agrees(trained, fmt):
    ar, nar, (text, tl, codes, cl) = trained
    dtype, int8, _ = FORMATS[fmt]
    prompt, pl = codes[:, :6], torch.full((12,), 6)
    phones = torch.full((12,), 4)   # 12 frames after the 6-frame prompt: the rest of the sequence
    outs = {}
    for name, (d, q) in (("ref", ("float32", False)), (fmt, (dtype, int8))):
        a = inference_model(copy.deepcopy(ar), d, q)
        n = inference_model(copy.deepcopy(nar), d, q)
        first = torch.stack(generate_ar(a, text, tl, prompt[..., 0], pl, phones, GREEDY).codes)
        outs[name] = generate_nar(n, text, tl, prompt, pl, first, torch.full((12,), first.shape[1]), GREEDY)
    assert outs["ref"].shape == outs[fmt].shape == (12, 12, 8)
    assert (outs["ref"][..., 0] == codes[:, 6:, 0]).float().mean() > 0.9   # the reference decodes the task
    for k, what in ((slice(0, 1), "AR"), (slice(1, 8), "NAR")):
        share = (outs["ref"][..., k] == outs[fmt][..., k]).float().mean().item()
        assert share >= 0.95, (fmt, what, share)


def test_formats_that_do_not_fit_the_device_are_refused():
    with pytest.raises(ValueError, match="float16 is for GPUs"):
        inference_model(ARModel(SMALL), "float16")
    with pytest.raises(ValueError, match="dtype must be one of"):
        inference_model(ARModel(SMALL), "int4")
    with pytest.raises(ValueError, match="int8 layers take float32 activations"):
        inference_model(ARModel(SMALL), "bfloat16", int8=True)
    with pytest.raises(ValueError, match="int8 layers take float32 activations"):
        DecodeConfig(dtype="bfloat16", int8=True)
    m = inference_model(ARModel(SMALL), "auto", int8=True)
    assert not any(type(x) is torch.nn.Linear for x in m.modules())
    assert sum(isinstance(x, torch.ao.nn.quantized.dynamic.Linear) for x in m.modules()) == 2 * 4  # qkv, out, 2 ffn
