"""The app factory: configuration layers and start-up with good and bad models."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from app import StartupError, create_app, samples, settings
from app.settings import ROOT, SettingsError, from_environ
from model.checkpoint import Checkpoint
from model.network import Network, SGDState
from model.preprocess import Limits
from model.shape import PIXELS

NEW_KEY = "n" * 20
OLD_KEY = "o" * 24


def test_defaults_then_environment_then_test_config(monkeypatch):
    app = create_app()
    assert app.config["MAX_BYTES"] == Limits().max_bytes and app.config["DEFAULT_MODEL"] == "digits"
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
        ("DIGITS_SECRET_KEY", "short-key", "DIGITS_SECRET_KEY is too short to sign anything \\(9 characters\\)"),
        ("DIGITS_SECRET_KEY", f"{NEW_KEY},short-key", "key 2 of 2 in DIGITS_SECRET_KEY is too short"),
        ("DIGITS_SECRET_KEY", f"{NEW_KEY},", "key 2 of 2 in DIGITS_SECRET_KEY is too short .*0 characters"),
        ("DIGITS_SAMPLE_MAX_AGE", "a day", "DIGITS_SAMPLE_MAX_AGE='a day' is not a valid int"),
        ("DIGITS_FEEDBACK_DB", ":memory:", "DIGITS_FEEDBACK_DB=':memory:' keeps nothing"),
        ("DIGITS_FEEDBACK_DB", "mysql://me@127.0.0.1/digits", "mysql:// is not a feedback database this app can use"),
        ("DIGITS_FEEDBACK_DB", "sqlite://feedback.sqlite", "give a file path, a file: URI .* or postgresql://"),
        ("DIGITS_FEEDBACK_DB", "redis://me:hunter22@127.0.0.1/0", "DIGITS_FEEDBACK_DB='redis://me:\\*\\*\\*@"),
    ],
)
def test_bad_settings_stop_start_up_with_one_line(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(StartupError, match=message) as info:
        create_app()
    assert "\n" not in str(info.value)
    assert name != "DIGITS_SECRET_KEY" or "short-key" not in str(info.value)  # a key is never echoed
    assert "hunter22" not in str(info.value)  # nor a database's password
    if name == "DIGITS_SECRET_KEY":
        assert 'python -c "import secrets; print(secrets.token_urlsafe(32))"' in str(info.value)  # how to make one


@pytest.mark.parametrize(
    ("value", "backend"),
    [
        ("postgresql://digits@127.0.0.1:9/digits", "PostgresStore"),
        ("postgres://digits@127.0.0.1:9/digits", "PostgresStore"),
        ("{tmp}/feedback.sqlite", "FeedbackStore"),
        ("file:{tmp}/feedback.sqlite?mode=rwc", "FeedbackStore"),
    ],
)
def test_the_feedback_database_is_postgresql_for_its_urls_and_sqlite_otherwise(tmp_path, monkeypatch, value, backend):
    monkeypatch.chdir(tmp_path)  # where a URL taken for a path would have made a file
    monkeypatch.setenv("DIGITS_FEEDBACK_DB", value.format(tmp=tmp_path))
    store = create_app().extensions["digits.feedback"]
    assert type(store).__name__ == backend
    assert store.database == value.format(tmp=tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing made, or connected to, before the first use


# -- settings ---------------------------------------------------------------------------------------------


def test_each_setting_is_declared_once_with_a_one_line_description():
    names = [setting.name for setting in settings.SETTINGS]
    assert len(names) == len(set(names))
    assert list(settings.DEFAULTS) == names
    assert {"SECRET_KEY", "SAMPLE_MAX_AGE", "FEEDBACK_DB", "MAX_BYTES"} <= set(names)
    for setting in settings.SETTINGS:
        assert setting.env == f"DIGITS_{setting.name}"
        assert setting.description and "\n" not in setting.description and "|" not in setting.description
        assert settings.DEFAULTS[setting.name] == setting.default and setting.shown_default
    assert settings.DEFAULTS["SAMPLE_MAX_AGE"] == 86400


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, {}),
        ({"DIGITS_MAX_BYTES": "1000", "DIGITS_MAX_SIDE": ""}, {"MAX_BYTES": 1000}),  # empty means unset
        ({"DIGITS_LOW_CONFIDENCE": "0.25"}, {"LOW_CONFIDENCE": 0.25}),
        ({"DIGITS_SAMPLE_MAX_AGE": "3600"}, {"SAMPLE_MAX_AGE": 3600}),
        ({"DIGITS_SECRET_KEY": NEW_KEY}, {"SECRET_KEY": (NEW_KEY,)}),
        ({"DIGITS_SECRET_KEY": f"{NEW_KEY}, {OLD_KEY}"}, {"SECRET_KEY": (NEW_KEY, OLD_KEY)}),
        ({"DIGITS_FEEDBACK_DB": "file:f.sqlite?mode=ro"}, {"FEEDBACK_DB": "file:f.sqlite?mode=ro"}),
        ({"MAX_BYTES": "5", "DIGITS_UNKNOWN": "x"}, {}),  # only DIGITS_ + a setting's name counts
    ],
    ids=["nothing", "int-and-empty", "float", "max-age", "one-key", "two-keys", "text", "other-variables"],
)
def test_settings_from_the_environment(environ, expected):
    assert from_environ(environ) == expected


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DIGITS_MAX_BYTES", "lots", "DIGITS_MAX_BYTES='lots' is not a valid int"),
        ("DIGITS_MAX_PIXELS", "1.5", "DIGITS_MAX_PIXELS='1.5' is not a valid int"),
        ("DIGITS_MAX_SIDE", "0", "DIGITS_MAX_SIDE='0' must be positive"),
        ("DIGITS_FEEDBACK_MAX_BYTES", "-1", "DIGITS_FEEDBACK_MAX_BYTES='-1' must be positive"),
        ("DIGITS_SAMPLE_MAX_AGE", "1d", "DIGITS_SAMPLE_MAX_AGE='1d' is not a valid int"),
        ("DIGITS_SAMPLE_MAX_AGE", "-60", "DIGITS_SAMPLE_MAX_AGE='-60' must be positive"),
        ("DIGITS_LOW_CONFIDENCE", "high", "DIGITS_LOW_CONFIDENCE='high' is not a valid float"),
        ("DIGITS_LOW_CONFIDENCE", "nan", "DIGITS_LOW_CONFIDENCE='nan' must be positive"),
    ],
)
def test_a_bad_value_is_a_settings_error_naming_the_variable(name, value, message):
    with pytest.raises(SettingsError, match=f"^{message}$"):
        from_environ({name: value})


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (["x" * 16, "y" * 15], "key 2 of 2 in DIGITS_SECRET_KEY is too short"),
        ([b"x" * 10], "DIGITS_SECRET_KEY is too short"),
        ([], "DIGITS_SECRET_KEY holds no key"),
        ([7], "must be a string or a list of strings, not int"),
    ],
    ids=["second-short", "one-short", "none", "not-a-string"],
)
def test_secret_keys_are_checked_one_by_one(given, message):
    with pytest.raises(SettingsError, match=message):
        settings.secret_keys(given)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("x" * 16, ["x" * 16]), (b"x" * 16, [b"x" * 16]), (("a" * 16, b"b" * 16), ["a" * 16, b"b" * 16])],
    ids=["str", "bytes", "several"],
)
def test_secret_keys_of_the_right_length_pass(given, expected):
    assert settings.secret_keys(given) == expected


# -- the secret keys in the app ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "test_config", "newest_first"),
    [
        ({"DIGITS_SECRET_KEY": NEW_KEY}, None, [NEW_KEY]),
        ({"DIGITS_SECRET_KEY": f"{NEW_KEY},{OLD_KEY}"}, None, [NEW_KEY, OLD_KEY]),
        ({"DIGITS_SECRET_KEY": f"{NEW_KEY},{OLD_KEY},{'z' * 16}"}, None, [NEW_KEY, OLD_KEY, "z" * 16]),
        ({"DIGITS_SECRET_KEY": OLD_KEY}, {"SECRET_KEY": NEW_KEY.encode()}, [NEW_KEY.encode()]),
        ({}, {"SECRET_KEY": [NEW_KEY, OLD_KEY]}, [NEW_KEY, OLD_KEY]),
        ({}, {"SECRET_KEY": NEW_KEY, "SECRET_KEY_FALLBACKS": ["z" * 16, OLD_KEY]}, [NEW_KEY, OLD_KEY, "z" * 16]),
    ],
    ids=["one", "two", "three", "test-config-wins", "test-config-list", "flask-fallbacks"],
)
def test_the_newest_key_is_flasks_secret_key_the_rest_fallbacks(monkeypatch, environ, test_config, newest_first):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    app = create_app(test_config)
    assert app.config["SECRET_KEY"] == newest_first[0]
    assert app.config["SECRET_KEY_FALLBACKS"] == newest_first[:0:-1]  # Flask's order: oldest first
    assert samples.keys_of(app) == newest_first


def test_without_a_key_each_app_makes_its_own_random_one():
    first, second = create_app(), create_app()
    assert isinstance(first.config["SECRET_KEY"], bytes) and len(first.config["SECRET_KEY"]) == 32
    assert first.config["SECRET_KEY"] != second.config["SECRET_KEY"]
    assert samples.keys_of(first) == [first.config["SECRET_KEY"]]


def test_rotating_keys_keeps_tokens_of_the_old_key_valid(monkeypatch):
    """A token from before the rotation verifies after it; new tokens use the new key; dropped keys fail."""
    sample = samples.new_sample(np.full(PIXELS, 0.5), 4, "digits")
    max_age = settings.DEFAULTS["SAMPLE_MAX_AGE"]
    monkeypatch.setenv("DIGITS_SECRET_KEY", OLD_KEY)
    before = samples.sign(sample, samples.keys_of(create_app()))
    monkeypatch.setenv("DIGITS_SECRET_KEY", f"{NEW_KEY},{OLD_KEY}")
    rotated = create_app()
    assert samples.verify(before, samples.keys_of(rotated), max_age).sample_id == sample.sample_id
    after = samples.sign(sample, samples.keys_of(rotated))
    monkeypatch.setenv("DIGITS_SECRET_KEY", NEW_KEY)
    dropped = create_app()
    assert samples.verify(after, samples.keys_of(dropped), max_age).sample_id == sample.sample_id
    with pytest.raises(samples.InvalidSample, match="signature does not match"):
        samples.verify(before, samples.keys_of(dropped), max_age)


def test_sample_max_age_comes_from_the_environment(monkeypatch):
    assert create_app().config["SAMPLE_MAX_AGE"] == 86400
    monkeypatch.setenv("DIGITS_SAMPLE_MAX_AGE", "600")
    assert create_app().config["SAMPLE_MAX_AGE"] == 600


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


def test_a_training_checkpoint_in_the_models_folder_is_not_a_model(tmp_path):
    """A run training with --out into the models folder keeps NAME.checkpoint.npz there meanwhile."""
    folder = copy_models(tmp_path)
    net, state = Network([784, 20, 10], seed=0), SGDState(0)
    Checkpoint.of(net, (1, 0.5, net.parameters()), state, [], 1.0, {}).save(folder / "tiny.checkpoint.npz")
    models = create_app({"MODEL_DIR": str(folder)}).extensions["digits.models"]
    assert list(models) == ["digits", "seed"]


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
