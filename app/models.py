"""The models the app serves: every weights file of the models folder, loaded once at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from model.checkpoint import is_checkpoint
from model.network import Network, WeightsError
from model.shape import CLASSES, PIXELS, SIDE


class ModelLoadError(RuntimeError):
    """The models cannot be served; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class Model:
    name: str
    network: Network
    path: Path

    def describe(self) -> dict[str, Any]:
        """What ``GET /api/models`` says of the model."""
        meta = self.network.metadata
        return {
            "name": self.name,
            "sizes": self.network.sizes,
            "activation": self.network.activation,
            "cost": self.network.cost,
            "parameters": self.network.parameter_count,
            "test_accuracy": meta.get("test_accuracy"),
            "trained": meta.get("trained") or meta.get("saved"),
        }


def load_models(directory: str | Path, default: str) -> dict[str, Model]:
    """Load every ``*.npz`` in ``directory``, keyed by file stem, the default first; training
    checkpoints (``*.checkpoint.npz``, which a run training into the folder leaves) are not models.

    Raises ``ModelLoadError`` when the folder is missing or empty, when any file cannot be
    loaded or is not a 784-input, 10-output network, or when ``default`` is not among them.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelLoadError(f"{directory}: models folder not found (set DIGITS_MODEL_DIR)")
    paths = sorted(path for path in directory.glob("*.npz") if not is_checkpoint(path))
    if not paths:
        raise ModelLoadError(f"{directory}: no *.npz weights files in the models folder")
    models = {}
    for path in paths:
        try:
            network = Network.load(path)
        except WeightsError as e:
            raise ModelLoadError(str(e)) from None
        if network.sizes[0] != PIXELS or network.sizes[-1] != CLASSES:
            raise ModelLoadError(
                f"{path}: layer sizes {network.sizes} do not take {SIDE}x{SIDE} images to {CLASSES} digits"
            )
        models[path.stem] = Model(path.stem, network, path)
    if default not in models:
        raise ModelLoadError(
            f"{directory / (default + '.npz')}: default model {default!r} not found among {sorted(models)}"
        )
    return {default: models.pop(default), **models}
