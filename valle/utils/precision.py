"""Number formats of training and inference: which dtype to compute in, and a model made ready for it.

``resolve_dtype("auto", device)`` picks bfloat16 where the hardware computes in it, else float32.
``inference_model(model, "bfloat16")`` casts weights (and so activations) to the dtype;
``inference_model(model, int8=True)`` swaps every ``nn.Linear`` for a dynamically quantized one
(``torch.ao.quantization.quantize_dynamic``): int8 weights with a scale per output channel, activations quantized
to 8 bits on the fly per call, int8 products accumulated in int32 (fbgemm / oneDNN), CPU only. A cached decoding
step of the paper-size AR model reads all its weights once per token, so its time is mostly the bytes read: 4 per
weight in float32, 2 in bfloat16, 1 in int8. Measured against the alternative, weight-only int8 (torch's
``_weight_int8pack_mm``, the kernel gpt-fast uses, activations in bfloat16): 3.0 s for 150 paper-size AR steps
against 1.9 s for dynamic quantization and 7.2-7.8 s in float32; with float32 activations that kernel took 13 s.
"""
import contextlib
import warnings

import torch
import torch.nn as nn

TORCH_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
# int8 weights with one scale per output channel (torch's default dynamic qconfig has one per tensor).
PER_CHANNEL_INT8 = torch.ao.quantization.per_channel_dynamic_qconfig


def resolve_dtype(dtype: str, device: torch.device) -> str:
    """``auto``: bfloat16 where the hardware computes in it (a GPU that supports it; a CPU with AVX-512 BF16 or
    AMX), else float32. Without such instructions torch emulates bf16 on the CPU: measured 76 tokens/s for
    mini's AR model on an AVX2-only CPU, against thousands in float32."""
    if dtype != "auto":
        return dtype
    if device.type == "cuda":
        fast = torch.cuda.is_bf16_supported()
    else:
        fast = any(getattr(torch.cpu, f, lambda: False)() for f in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return "bfloat16" if fast else "float32"


def inference_model(model: nn.Module, dtype: str = "float32", int8: bool = False) -> nn.Module:
    """``model`` (on its device, in eval mode) in ``dtype`` (auto: resolve_dtype), or with int8 linear layers
    (``int8``: CPU, float32 activations; auto then means float32)."""
    device = next(model.parameters()).device
    if int8:
        if device.type != "cpu":
            raise ValueError("int8 weights are for the CPU; on a GPU use bfloat16 or float16")
        if dtype not in ("float32", "auto"):
            raise ValueError(f"int8 layers take float32 activations (quantized on the fly): dtype must be float32, "
                             f"got {dtype}")
        with warnings.catch_warnings():  # torch.ao's eager quantization is deprecated for torchao; torch is pinned
            warnings.filterwarnings("ignore", message=".*(deprecated|torchao).*")
            return torch.ao.quantization.quantize_dynamic(model.eval().float(), {nn.Linear: PER_CHANNEL_INT8})
    dtype = resolve_dtype(dtype, device)
    if dtype not in TORCH_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(TORCH_DTYPES)} or auto, got {dtype!r}")
    if dtype == "float16" and device.type == "cpu":
        raise ValueError("float16 is for GPUs (CPUs compute it slowly or not at all); on a CPU use bfloat16")
    return model.eval().to(TORCH_DTYPES[dtype])


def autocast_to(dtype: str, device: torch.device):
    """A context computing ``float32`` modules in ``dtype`` (auto: resolve_dtype) through ``torch.autocast``: for the
    codec decoder, whose weights stay float32 so that prompt encoding (stage 4's codes) is not changed. Measured on 2
    CPU cores (AVX-512 BF16), EnCodec decoding 10 s of codes: 0.74 s in float32, 0.35 s in bfloat16, the waveform 46 dB
    above its difference to float32's."""
    dtype = resolve_dtype(dtype, device)
    if dtype == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=TORCH_DTYPES[dtype])
