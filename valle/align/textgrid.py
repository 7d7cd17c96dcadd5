"""Praat TextGrid (long text format) writer and reader, and a PNG of an alignment for inspection."""
import re
from pathlib import Path
from typing import Dict, List, Tuple

from valle.utils.io import write_text_atomic

Interval = Tuple[str, float, float]  # (label, start, end), as the alignment items


def _fill_gaps(items: List[Interval], xmax: float) -> List[Interval]:
    """Praat interval tiers cover [0, xmax] without gaps: gaps become empty intervals. Returns (start, end, label)."""
    out, t = [], 0.0
    for label, start, end in sorted(items, key=lambda x: (x[1], x[2])):
        start, end = max(start, t), min(end, xmax)
        if end <= start:
            continue
        if start > t + 1e-9:
            out.append((t, start, ""))
        out.append((start, end, label))
        t = end
    if t < xmax - 1e-9:
        out.append((t, xmax, ""))
    return out


def _quote(s: str) -> str:
    return '"' + s.replace('"', '""') + '"'


def write_textgrid(path, tiers: Dict[str, List[Interval]], xmax: float) -> None:
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {xmax:.4f}",
             "tiers? <exists>", f"size = {len(tiers)}", "item []:"]
    for n, (name, items) in enumerate(tiers.items(), 1):
        ivs = _fill_gaps(items, xmax)
        lines += [f"    item [{n}]:", '        class = "IntervalTier"', f"        name = {_quote(name)}",
                  "        xmin = 0", f"        xmax = {xmax:.4f}", f"        intervals: size = {len(ivs)}"]
        for k, (s, e, label) in enumerate(ivs, 1):
            lines += [f"        intervals [{k}]:", f"            xmin = {s:.4f}", f"            xmax = {e:.4f}",
                      f"            text = {_quote(label)}"]
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_textgrid(path) -> Tuple[Dict[str, List[Interval]], float]:
    """Interval tiers of a long-format TextGrid (empty intervals dropped) and xmax."""
    text = Path(path).read_text(encoding="utf-8")
    xmax = float(re.search(r"^xmax = ([\d.]+)", text, re.M).group(1))
    tiers: Dict[str, List[Interval]] = {}
    for block in re.split(r"\n\s*item \[\d+\]:\n", text)[1:]:
        name = re.search(r'name = "((?:[^"]|"")*)"', block).group(1).replace('""', '"')
        items = []
        for m in re.finditer(r'xmin = ([\d.]+)\s+xmax = ([\d.]+)\s+text = "((?:[^"]|"")*)"', block):
            if m.group(3):
                items.append((m.group(3).replace('""', '"'), float(m.group(1)), float(m.group(2))))
        tiers[name] = items
    return tiers, xmax


def plot_alignment(path, audio, sample_rate: int, tiers: Dict[str, List[Interval]], title: str = "") -> None:
    """Waveform and spectrogram with the boundaries of each tier drawn over them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    dur = len(audio) / sample_rate
    fig, axes = plt.subplots(2 + len(tiers), 1, figsize=(max(8, dur * 2.5), 5 + len(tiers)), sharex=True,
                             gridspec_kw={"height_ratios": [2, 3] + [0.6] * len(tiers)})
    t = np.arange(len(audio)) / sample_rate
    axes[0].plot(t, audio, lw=0.4, color="k")
    axes[0].set_ylabel("wave")
    axes[1].specgram(audio, NFFT=400, Fs=sample_rate, noverlap=240, cmap="magma")
    axes[1].set_ylabel("Hz")
    for ax, (name, items) in zip(axes[2:], tiers.items()):
        for label, s, e in items:
            for a in axes[:2]:
                a.axvline(s, color="c", lw=0.5, alpha=0.6)
            ax.axvline(s, color="k", lw=0.6)
            ax.text((s + e) / 2, 0.5, label, ha="center", va="center", fontsize=7)
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center")
    axes[-1].set_xlim(0, dur)
    axes[-1].set_xlabel("seconds")
    if title:
        axes[0].set_title(title, fontsize=9)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
