"""The app factory: configuration layers and start-up with good and bad models."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from app import StartupError, create_app
from app.settings import ROOT
from model.network import Network


def test_defaults_then_environment_then_test_config(monkeypatch):
    app = create_app()
    assert app.config["MAX_BYTES"] == 2 * 1024 * 1024 and app.config["DEFAULT_MODEL"] == "digits"
    monkeypatch.setenv("DIGITS_MAX_BYTES", "1000")
    monkeypatch.setenv("DIGITS_DEFAULT_MODEL", "seed")
    app = create_app()
    assert app.config["MAX_BYTES"] == 1000 and app.config["DEFAULT_MODEL"] == "seed"
    app = create_app({"MAX_BYTES": 5000})
    assert app.config["MAX_BYTES"] == 5000 and app.config["DEFAULT_MODEL"] == "seed"
    assert list(app.extensions["digits.models"]) == ["seed", "digits"]  # the default first


def test_default_model_answers_predict(monkeypatch):
    monkeypatch.setenv("DIGITS_DEFAULT_MODEL", "seed")
    from tests.support.canvas import drawn_digit

    response = create_app().test_client().post("/predict", data=drawn_digit(), content_type="image/png")
    assert response.status_code == 200
    assert response.get_json()["model"] == "seed"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DIGITS_MAX_BYTES", "lots", "DIGITS_MAX_BYTES='lots' is not a valid int"),
        ("DIGITS_MAX_SIDE", "-5", "must be positive"),
        ("DIGITS_DEFAULT_MODEL", "nope", "default model 'nope' not found"),
        ("DIGITS_MODEL_DIR", "/no/such/folder", "/no/such/folder: models folder not found"),
        ("DIGITS_SECRET_KEY", "short-key", "DIGITS_SECRET_KEY is too short"),
        ("DIGITS_FEEDBACK_DB", ":memory:", "DIGITS_FEEDBACK_DB=':memory:' keeps nothing"),
    ],
)
def test_bad_settings_stop_start_up_with_one_line(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(StartupError, match=message) as info:
        create_app()
    assert "\n" not in str(info.value)
    assert name != "DIGITS_SECRET_KEY" or value not in str(info.value)  # a key is never echoed


def copy_models(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("digits.npz", "seed.npz"):
        shutil.copy(ROOT / "model" / name, folder / name)
    return folder


def test_models_come_from_the_models_folder(tmp_path):
    folder = copy_models(tmp_path)
    Network([784, 20, 10], seed=0).save(folder / "tiny.npz")
    models = create_app({"MODEL_DIR": str(folder)}).extensions["digits.models"]
    assert list(models) == ["digits", "seed", "tiny"]
    assert models["tiny"].network.sizes == [784, 20, 10]


@pytest.mark.parametrize(
    ("break_it", "message"),
    [
        (lambda f: (f / "seed.npz").write_bytes(b"not a zip file"), "seed.npz: is truncated or not an .npz"),
        (lambda f: (f / "digits.npz").write_bytes((f / "digits.npz").read_bytes()[:1000]), "digits.npz: is truncated"),
        (lambda f: Network([100, 10, 10], seed=0).save(f / "odd.npz"), "odd.npz: layer sizes [100, 10, 10]"),
        (lambda f: np.savez(f / "foreign.npz", a=np.zeros(3)), "foreign.npz: has no 'metadata' entry"),
        (lambda f: [p.unlink() for p in f.glob("*.npz")], "no *.npz weights files"),
    ],
)
def test_a_bad_model_file_stops_start_up(tmp_path, break_it, message):
    folder = copy_models(tmp_path)
    break_it(folder)
    with pytest.raises(StartupError, match=message.replace("[", r"\[").replace("]", r"\]").replace("*", r"\*")):
        create_app({"MODEL_DIR": str(folder)})
