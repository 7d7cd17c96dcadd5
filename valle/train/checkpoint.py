"""Checkpoints: training state (resumable) and final models, each with the full config and a format version.

A training checkpoint holds the model, optimizer, scheduler, loss scaler, step, epoch and batches
consumed in that epoch (the sampler is replayed to that point), every rank's RNG states and the curves
so far. ``model.pt`` holds what synthesis needs: model type, config, phone table and weights.
"""
import random
import re
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from valle.models.config import CHECKPOINT_FORMAT_VERSION, ModelConfig
from valle.utils.io import atomic_path

TRAIN_KIND = "valle-train-state"
MODEL_KIND = "valle-model"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, wrong kind or version, or not this run's."""


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load(path: Path, kind: str) -> dict:
    """Read a checkpoint of ``kind``; CheckpointError naming the file when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # truncated zip, pickle garbage, ...
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(e).__name__}: {e}); "
                              f"it is corrupt or truncated: delete it to resume from an earlier one") from e
    if not isinstance(obj, dict) or obj.get("kind") != kind:
        found = obj.get("kind") if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"checkpoint {path}: expected a '{kind}' checkpoint, found '{found}'")
    version = obj.get("format_version")
    if version != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {path}: format version {version}, this code reads "
                              f"version {CHECKPOINT_FORMAT_VERSION}")
    return obj


def list_train_checkpoints(ckpt_dir: Path) -> List[Path]:
    """step-<N>.pt files, oldest first."""
    found = []
    for p in Path(ckpt_dir).glob("step-*.pt"):
        m = re.fullmatch(r"step-(\d+)\.pt", p.name)
        if m:
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


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


def save_model(path: Path, model_type: str, config: ModelConfig, phones: Dict[str, int], state_dict: dict,
               extra: Optional[dict] = None) -> None:
    save({"kind": MODEL_KIND, "format_version": CHECKPOINT_FORMAT_VERSION, "model_type": model_type,
          "config": config.to_dict(), "phones": phones, "state_dict": state_dict, **(extra or {})}, path)


def load_model(path: Path, expect_type: Optional[str] = None):
    """-> (model in eval mode, checkpoint dict). Rebuilds the model from the config it carries."""
    from valle.models.valle import build_model

    obj = load(path, MODEL_KIND)
    if expect_type is not None and obj["model_type"] != expect_type:
        raise CheckpointError(f"checkpoint {path}: a '{obj['model_type']}' model, expected '{expect_type}'")
    try:
        config = ModelConfig.from_dict(obj["config"])
        model = build_model(obj["model_type"], config)
        model.load_state_dict(obj["state_dict"])
    except (ValueError, RuntimeError, KeyError) as e:
        raise CheckpointError(f"checkpoint {path}: weights do not fit its config: {e}") from e
    return model.eval(), obj
