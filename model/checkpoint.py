"""Training checkpoints: what a run needs to go on exactly where it stopped.

The trainer writes ``NAME.checkpoint.npz`` beside ``--out NAME.npz`` after every epoch and
removes it when the run has finished; ``python -m model.train ... --resume NAME.checkpoint.npz``
goes on from it. Like a weights file it is an ``.npz`` of arrays and one JSON entry, read
without pickle, and written whole or not at all:

- ``current_w0``.., ``current_b0``..: the weights as the last epoch left them;
- ``best_w0``.., ``best_b0``..: those of the best epoch so far (the ones a finished run keeps);
- ``state`` and ``velocity_*``: the optimiser's state (``SGDState.state_dict``: step and epoch
  counts, momentum velocities, the generator that shuffles and distorts the data);
- ``metadata``: JSON with the format, the network's architecture, the best epoch and its
  accuracy, the history of the epochs done, the training time so far and the run's
  configuration, which ``--resume`` compares with the command's.

``Network.load`` refuses a checkpoint (its format is ``CHECKPOINT_FORMAT``), so it is never served
or evaluated as a model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.fileio import UnreadableArchive, atomic_write, read_npz
from model.network import CHECKPOINT_FORMAT, EpochRecord, Network, SGDState

CHECKPOINT_VERSION = 1
SUFFIX = ".checkpoint.npz"


class CheckpointError(ValueError):
    """A checkpoint that cannot be resumed; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(f"{path}: {problem}")


def path_for(out: str | Path) -> Path:
    """Where a run with ``--out NAME.npz`` keeps its checkpoint: ``NAME.checkpoint.npz`` beside it."""
    out = Path(out)
    return out.with_name(out.stem + SUFFIX)


def is_checkpoint(path: str | Path) -> bool:
    """Whether ``path`` is named as a checkpoint is (``*.checkpoint.npz``)."""
    return Path(path).name.endswith(SUFFIX)


@dataclass
class Checkpoint:
    """A run after its ``len(history)``-th epoch."""

    architecture: dict[str, Any]  # sizes, cost, activation, dtype: what ``Network(...)`` takes
    parameters: dict[str, np.ndarray]  # w0.., b0.. (as ``Network.parameters()``) after the last epoch
    best_parameters: dict[str, np.ndarray]  # the same for the best epoch so far
    best_epoch: int  # 1-based
    best_accuracy: float
    state: dict[str, np.ndarray]  # ``SGDState.state_dict()``
    history: list[dict[str, Any]]  # ``EpochRecord.as_dict()`` of every epoch done
    seconds: float  # training time so far
    config: dict[str, Any]  # what the trainer compares on --resume; JSON values

    @classmethod
    def of(
        cls,
        net: Network,
        best: tuple[int, float, dict[str, np.ndarray]],
        state: SGDState,
        history: list[EpochRecord],
        seconds: float,
        config: dict[str, Any],
    ) -> Checkpoint:
        """The checkpoint of ``net`` as it is now, ``best = (epoch, accuracy, parameters)``, and
        the optimiser's ``state``."""
        epoch, accuracy, parameters = best
        return cls(
            architecture={"sizes": net.sizes, "cost": net.cost, "activation": net.activation, "dtype": net.dtype.name},
            parameters=net.parameters(),
            best_parameters=parameters,
            best_epoch=epoch,
            best_accuracy=accuracy,
            state=state.state_dict(),
            history=[r.as_dict() for r in history],
            seconds=seconds,
            config=config,
        )

    def network(self) -> Network:
        """A network of the checkpoint's architecture with its current weights."""
        net = Network(self.architecture["sizes"], **{k: self.architecture[k] for k in ("cost", "activation", "dtype")})
        net.set_parameters(self.parameters)
        return net

    def sgd_state(self) -> SGDState:
        """The optimiser's state as the checkpoint left it."""
        state = SGDState()
        state.load_state_dict(self.state)
        return state

    def records(self) -> list[EpochRecord]:
        return [EpochRecord(**r) for r in self.history]

    def save(self, path: str | Path) -> None:
        """Write the checkpoint to ``path`` atomically: the old one stays until the new one is whole."""
        meta = {
            "format": CHECKPOINT_FORMAT,
            "format_version": CHECKPOINT_VERSION,
            "architecture": self.architecture,
            "best_epoch": self.best_epoch,
            "best_accuracy": self.best_accuracy,
            "history": self.history,
            "seconds": self.seconds,
            "config": self.config,
        }
        arrays = {
            **{f"current_{k}": v for k, v in self.parameters.items()},
            **{f"best_{k}": v for k, v in self.best_parameters.items()},
            **self.state,
            "metadata": np.array(json.dumps(meta)),
        }
        with atomic_write(path) as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        """Read a checkpoint written by ``save``; raises ``CheckpointError`` for a file that is
        missing, unreadable, not a checkpoint, or whose arrays do not fit its architecture."""
        path = Path(path)
        arrays = _read_npz(path)
        try:
            meta = json.loads(str(arrays.pop("metadata")))
        except KeyError:
            raise CheckpointError(path, "has no 'metadata' entry: not a training checkpoint") from None
        except (json.JSONDecodeError, TypeError) as e:
            raise CheckpointError(path, f"has unreadable metadata ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT:
            raise CheckpointError(path, "is not a training checkpoint (a weights file goes to --init, not --resume)")
        if meta.get("format_version") != CHECKPOINT_VERSION:
            raise CheckpointError(
                path, f"has format version {meta.get('format_version')!r}; this code reads {CHECKPOINT_VERSION}"
            )
        try:
            checkpoint = cls(
                architecture=dict(meta["architecture"]),
                parameters=_prefixed(arrays, "current_"),
                best_parameters=_prefixed(arrays, "best_"),
                best_epoch=int(meta["best_epoch"]),
                best_accuracy=float(meta["best_accuracy"]),
                state={k: v for k, v in arrays.items() if k == "state" or k.startswith("velocity_")},
                history=list(meta["history"]),
                seconds=float(meta["seconds"]),
                config=dict(meta["config"]),
            )
            # What resuming will do, done once here so that a bad file fails before any data is read.
            checkpoint.network().set_parameters(checkpoint.best_parameters)
            checkpoint.sgd_state()
            checkpoint.records()
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(path, f"does not hold a consistent training state ({e!r})") from None
        return checkpoint


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        return read_npz(path)
    except UnreadableArchive as e:
        raise CheckpointError(path, e.problem) from None


def _prefixed(arrays: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    return {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}
