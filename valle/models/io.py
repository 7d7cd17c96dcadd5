"""Model files: reading and writing checkpoints of a known kind and format version, and ``model.pt`` (what
synthesis loads: model type, config, phone table and weights; the model is rebuilt from its config)."""
from pathlib import Path
from typing import Dict, Optional

import torch

from valle.models.config import CHECKPOINT_FORMAT_VERSION, ModelConfig
from valle.utils.io import UnsafeFileError, atomic_path, load_torch_file

MODEL_KIND = "valle-model"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: unreadable, wrong kind or version, or not this run's."""


def save(obj: dict, path: Path) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load(path: Path, kind: str) -> dict:
    """Read a checkpoint of ``kind``; CheckpointError naming the file when it cannot be used."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path}: no such file")
    try:
        obj = load_torch_file(path)
    except UnsafeFileError as e:
        raise CheckpointError(f"checkpoint {e}") from e
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
