"""What training shows a person: MFU against known GPUs' peaks, and the loss/accuracy curves as a PNG."""
from pathlib import Path
from typing import Dict, Optional

import torch

from valle.utils.io import atomic_path

PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12, "A10": 125e12, "V100": 125e12}


def peak_flops(device) -> Optional[float]:
    """Dense bf16/fp16 tensor-core peak of known GPUs (for MFU); None on CPU or unknown cards."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_FLOPS.items() if k in name), None)


def plot_curves(history: Dict[str, list], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for name, style in (("train", "-"), ("valid", "o-")):
        rows = history.get(name, [])
        if rows:
            ax1.plot([r["step"] for r in rows], [r["loss"] for r in rows], style, label=name, ms=3)
            ax2.plot([r["step"] for r in rows], [r["top10"] for r in rows], style, label=name, ms=3)
    ax1.set(xlabel="step", ylabel="cross-entropy (nats)", title=f"{title}: loss")
    ax2.set(xlabel="step", ylabel="top-10 accuracy", title=f"{title}: top-10 accuracy", ylim=(0, 1))
    for ax in (ax1, ax2):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
