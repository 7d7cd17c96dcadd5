"""Checkpoints: training state (resumable) and final models, each with the full config and a format version.

A training checkpoint holds the model, optimizer, scheduler, loss scaler, step, epoch and batches
consumed in that epoch (the sampler is replayed to that point), every rank's RNG states and the curves
so far. ``model.pt`` (valle/models/io.py) holds what synthesis needs: model type, config, phone table and weights.
"""
import random
import re
from pathlib import Path
from typing import List, Optional

import numpy as np
import torch

from valle.models.io import MODEL_KIND, CheckpointError, load, load_model, save, save_model  # noqa: F401 (re-exported)

TRAIN_KIND = "valle-train-state"


def rng_state() -> dict:
    """Every RNG's state as plain data (numpy's key as a tensor): checkpoints load with ``weights_only=True``."""
    name, key, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = (name, torch.from_numpy(key.astype(np.int64)), int(pos), int(has_gauss), float(gauss))
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    name, key, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, key.numpy().astype(np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def checkpoint_step(path: Path) -> Optional[int]:
    """N of a ``step-<N>.pt`` file; None for any other name."""
    m = re.fullmatch(r"step-(\d+)\.pt", Path(path).name)
    return int(m.group(1)) if m else None


def list_train_checkpoints(ckpt_dir: Path) -> List[Path]:
    """step-<N>.pt files, oldest first."""
    found = [(checkpoint_step(p), p) for p in Path(ckpt_dir).glob("step-*.pt")]
    return [p for n, p in sorted(f for f in found if f[0] is not None)]


def check_compatible(path: Path, saved: dict, expected: dict) -> None:
    """Fail naming every field where a checkpoint differs from this run (model, phones, data, ranks)."""
    diffs = []
    for key, want in expected.items():
        have = saved.get(key)
        if isinstance(want, dict) and isinstance(have, dict):
            for k in sorted(set(want) | set(have)):
                if want.get(k) != have.get(k):
                    diffs.append(f"{key}.{k}: checkpoint {have.get(k)!r}, this run {want.get(k)!r}")
        elif have != want:
            if isinstance(want, (list, tuple)) and len(str(want)) > 80:
                diffs.append(f"{key}: differs ({len(have or [])} vs {len(want)} entries)")
            else:
                diffs.append(f"{key}: checkpoint {have!r}, this run {want!r}")
    if diffs:
        raise CheckpointError(f"checkpoint {path} does not match this run: " + "; ".join(diffs)
                              + ". Use the same settings, or start over (run.sh --force).")
