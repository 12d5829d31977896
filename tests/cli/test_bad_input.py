"""Bad input ends in one line naming the problem, exit status 2, and an untouched study."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import optuna
import pytest

from policysearch.cli import main

pytestmark = pytest.mark.slow


def _run(tmp_path, *extra, study="bad", trials=2):
    return [
        "run", "--dataset", "digits", "--model", "tiny-cnn", "--weights", "none", "--image-size", "16",
        "--train-size", "100", "--val-size", "50", "--epochs", "1", "--trials", str(trials), "--no-final",
        "--study", study, "--storage", f"sqlite:///{tmp_path}/bad.db", "--output-dir", str(tmp_path / "out"),
        *extra,
    ]


def _one_line_error(capsys, *needles):
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith("policysearch: error: "), err
    for needle in needles:
        assert needle in err, err
    return err


@pytest.fixture(scope="module")
def existing(tmp_path_factory):
    """A study with two finished trials (each test checks it is left as it was)."""
    tmp_path = tmp_path_factory.mktemp("existing")
    assert main(_run(tmp_path)) == 0
    return tmp_path


def _snapshot(tmp_path):
    trials = optuna.load_study(study_name="bad", storage=f"sqlite:///{tmp_path}/bad.db").get_trials()
    return [(t.number, t.state, t.value, t.params) for t in trials]


@pytest.mark.parametrize("extra,needles", [
    (("--dataset", "imagefolder:/no/such/folder"), ["/no/such/folder", "does not exist"]),
    (("--model", "resnet9000"), ["resnet9000"]),
    (("--epochs", "0"), ["epochs", "0"]),
    (("--sampler", "bayes"), ["sampler", "bayes"]),
    (("--storage", "not-a-url"), ["not-a-url"]),
    (("--epochs", "2"), ["epochs=1", "epochs=2"]),  # resume with other settings
    (("--devices", "0,x"), ["devices", "0,x"]),
    (("--devices", "99"), ["devices", "[99]", "CUDA GPUs"]),  # a GPU this machine does not have
])
def test_bad_run_input_leaves_the_study_untouched(existing, capsys, extra, needles):
    before = _snapshot(existing)
    capsys.readouterr()
    assert main(_run(existing, *extra)) == 2
    _one_line_error(capsys, *needles)
    assert _snapshot(existing) == before


def test_resume_with_another_search_space_is_refused(existing, capsys):
    config = existing / "space.toml"
    config.write_text("[space]\nnum_ops = [0, 2]\n")
    before = _snapshot(existing)
    capsys.readouterr()
    assert main(_run(existing, "--config", str(config))) == 2
    _one_line_error(capsys, "space")
    assert _snapshot(existing) == before


@pytest.mark.parametrize("text,needles", [
    ("trials = 'many'\n", ["trials", "many"]),
    ("learning_rate = 0.1\n", ["unknown keys", "learning_rate"]),
    ("[space\n", ["not valid TOML"]),
])
def test_bad_config_file(tmp_path, capsys, text, needles):
    config = tmp_path / "c.toml"
    config.write_text(text)
    assert main(_run(tmp_path, "--config", str(config))) == 2
    _one_line_error(capsys, *needles, str(config))
    assert not (tmp_path / "bad.db").exists() or not optuna.get_all_study_names(f"sqlite:///{tmp_path}/bad.db")


def test_unreachable_database_server(tmp_path, capsys):
    assert main(_run(tmp_path, "--storage", "postgresql+psycopg2://nobody:pw@127.0.0.1:1/none")) == 2
    err = _one_line_error(capsys, "cannot open storage", "127.0.0.1:1")
    assert "pw@" not in err


def test_read_only_database(existing, capsys):
    url = f"sqlite:///file:{existing}/bad.db?mode=ro&uri=true"
    before = _snapshot(existing)
    capsys.readouterr()
    assert main(_run(existing, "--storage", url)) == 2
    _one_line_error(capsys, "read")
    assert _snapshot(existing) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes through file permissions")
def test_read_only_folder(tmp_path, capsys):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        assert main(_run(tmp_path, "--storage", f"sqlite:///{folder}/x.db")) == 2
        _one_line_error(capsys, "locked")
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("layout,needles", [
    ({}, ["no readable images"]),
    ({"only": 6}, ["one class", "only"]),
])
def test_bad_image_folders(tmp_path, capsys, class_folders, layout, needles):
    rng = np.random.default_rng(0)
    root = class_folders(tmp_path / "images", layout, lambda: rng.integers(0, 256, (12, 12, 3), dtype=np.uint8))
    assert main(_run(tmp_path, "--dataset", f"imagefolder:{root}")) == 2
    err = _one_line_error(capsys)
    assert any(n in err.lower() for n in needles), err


@pytest.mark.parametrize("content,needles", [
    ('{"format": "policysearch.policy", "version": 1, "augmentation": {"kind": "randaugment", ', ["not valid JSON"]),
    (json.dumps({"format": "policysearch.policy", "version": 7}), ["version", "7"]),
    (json.dumps({"format": "policysearch.policy", "version": 1,
                 "augmentation": {"kind": "randaugment", "num_ops": 1, "magnitude": 3, "ops": ["Warp"]}}),
     ["Warp"]),
    (json.dumps({"format": "policysearch.policy", "version": 1,
                 "augmentation": {"kind": "randaugment", "num_ops": 1, "magnitude": 99}}), ["magnitude", "99"]),
])
def test_bad_policy_files_in_a_subprocess(tmp_path, content, needles):
    path = tmp_path / "policy.json"
    path.write_text(content)
    result = subprocess.run([sys.executable, "-m", "policysearch", "preview", "--policy", str(path),
                             "-o", str(tmp_path / "g.png")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1
    for needle in needles:
        assert needle in result.stderr
    assert not (tmp_path / "g.png").exists()
