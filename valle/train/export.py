"""``model.pt`` from training checkpoints: one ``step-N`` checkpoint, or the average of the last ``avg`` of them
(icefall's ``--avg``: the weights of several checkpoints near the end of training, averaged, usually score better
than the last one alone)."""
import logging
from pathlib import Path
from typing import List, Optional

import torch

from valle.models.config import ModelConfig
from valle.models.io import CheckpointError, load, save_model
from valle.train.checkpoint import TRAIN_KIND, check_compatible, checkpoint_step, list_train_checkpoints


def choose_checkpoints(ckpt_dir: Path, step: Optional[int] = None, avg: int = 1) -> List[Path]:
    """The ``avg`` newest ``step-N.pt`` under ``ckpt_dir`` with N <= ``step`` (default: the newest), oldest first;
    the one named ``step`` must exist. CheckpointError naming what there is otherwise."""
    if avg < 1:
        raise ValueError(f"--avg must be at least 1, got {avg}")
    found = list_train_checkpoints(ckpt_dir)
    have = ", ".join(p.name for p in found) or "none"
    if step is not None:
        if not (Path(ckpt_dir) / f"step-{step}.pt").is_file():
            raise CheckpointError(f"{ckpt_dir}: no step-{step}.pt (there are: {have})")
        found = [p for p in found if checkpoint_step(p) <= step]
    if len(found) < avg:
        raise CheckpointError(f"{ckpt_dir}: --avg {avg} needs {avg} checkpoints up to "
                              f"{'step ' + str(step) if step is not None else 'the newest'}, there are {len(found)} "
                              f"({have}); training keeps the last --keep-last of them")
    return found[-avg:]


def average_state_dicts(states: List[dict]) -> dict:
    """Element-wise mean of floating-point tensors (summed in float64, returned in their own dtype); other tensors
    (counters, integer buffers) are taken from the last state."""
    out = {}
    for key, last in states[-1].items():
        if torch.is_floating_point(last):
            total = sum(s[key].double() for s in states)
            out[key] = (total / len(states)).to(last.dtype)
        else:
            out[key] = last.clone()
    return out


def export_model(ckpt_dir: Path, out: Path, step: Optional[int] = None, avg: int = 1) -> dict:
    """Write ``out`` (a model file, as training's own ``model.pt``) from the chosen checkpoints; returns its extra
    fields (step, averaged steps)."""
    paths = choose_checkpoints(ckpt_dir, step, avg)
    states, first = [], None
    for path in paths:
        state = load(path, TRAIN_KIND)
        identity = {k: state.get(k) for k in ("model_type", "config", "phones")}
        if first is None:
            first = identity
        else:
            check_compatible(path, state, first)
        states.append(state["model"])
        last = state
    weights = states[0] if len(states) == 1 else average_state_dicts(states)
    steps = [checkpoint_step(p) for p in paths]
    crop_max = float(last.get("train_config", {}).get("crop_max", 20.0))
    extra = {"step": steps[-1], "averaged_steps": steps, "train_crop_max": crop_max, "codec": last.get("codec")}
    save_model(out, first["model_type"], ModelConfig.from_dict(first["config"]), first["phones"], weights, extra)
    logging.info(f"wrote {out}: {first['model_type']} model, "
                 + (f"average of steps {steps}" if len(steps) > 1 else f"step {steps[0]}"))
    return extra
