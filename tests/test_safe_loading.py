"""Files are loaded as plain data only: a torch file that carries a pickled callable is refused, naming the file,
and the callable never runs (models, training checkpoints, codec files, stage-3 models)."""
import os

import pytest
import torch

from valle.utils.io import UnsafeFileError, load_torch_file


class RunsCode:
    """Unpickling this calls os.system: what a malicious checkpoint does."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


@pytest.fixture
def evil(tmp_path):
    """(path of a checkpoint-shaped file with a pickled callable inside, the file its code would create)."""
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pt"
    torch.save({"kind": "valle-model", "format_version": 1, "state_dict": {"w": torch.zeros(2)},
                "payload": RunsCode(marker)}, path)
    return path, marker


def test_plain_data_loads_and_code_is_refused(evil, tmp_path):
    plain = tmp_path / "plain.pt"
    torch.save({"w": torch.ones(3), "n": 3, "names": ["a", "b"], "t": (1, 2.0, None)}, plain)
    assert load_torch_file(plain)["names"] == ["a", "b"]
    path, marker = evil
    with pytest.raises(UnsafeFileError, match=r"evil\.pt holds more than tensors and plain data \(.*system.*\)"):
        load_torch_file(path)
    assert not marker.exists()
    # The same file through torch.load without the guard would have run it: the test payload is real.
    torch.load(path, weights_only=False)
    assert marker.exists()


def test_every_loader_refuses_it(evil):
    from valle.align.dnn import load_dnn
    from valle.codec.encodec import load_codec
    from valle.models.io import CheckpointError, load, load_model

    path, marker = evil
    with pytest.raises(CheckpointError, match=r"checkpoint .*evil\.pt holds more than tensors"):
        load_model(path)
    with pytest.raises(CheckpointError, match="refused"):
        load(path, "valle-train-state")
    with pytest.raises(UnsafeFileError, match="refused"):
        load_codec(path)
    with pytest.raises(RuntimeError, match=r"evil\.pt holds more than tensors"):
        load_dnn(path)
    assert not marker.exists()


def test_training_checkpoints_are_plain_data(tmp_path):
    """What training saves (numpy's RNG state included) loads under the guard, and restores the RNGs."""
    import random

    import numpy as np

    from valle.train import checkpoint as ckpt

    random.seed(1), np.random.seed(2), torch.manual_seed(3)
    ckpt.save({"rng": [ckpt.rng_state()]}, tmp_path / "s.pt")
    expected = (random.random(), np.random.rand(), torch.rand(1).item())
    ckpt.set_rng_state(load_torch_file(tmp_path / "s.pt")["rng"][0])
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == expected
