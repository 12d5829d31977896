"""The run configuration: defaults, a TOML file, then flags; the settings a study stores."""

from __future__ import annotations

from pathlib import Path

import pytest

from policysearch.errors import ConfigError
from policysearch.search.config import RunConfig, load_config


def test_config_file_then_flags(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('dataset = "digits"\nepochs = 5\n[space]\nnum_ops = [1, 2]\n')
    config = load_config(path, {"epochs": 2, "trials": None})
    assert config.dataset == "digits" and config.epochs == 2 and config.trials == RunConfig().trials
    assert config.space.num_ops == (1, 2)
    assert config.study_name == "digits-efficientnet-lite0"


@pytest.mark.parametrize("text,pattern", [
    ("epochs = 'three'\n", "epochs.*three"),
    ("colour = 1\n", "unknown keys.*colour"),
    ("[space]\nmagnitudes = [1, 2]\n", "unknown keys.*magnitudes"),
    ("trials = \n", "not valid TOML"),
    ("sampler = 'cmaes'\n", "sampler.*cmaes"),
    ("space = 3\n", "space should be a table"),
])
def test_bad_config_files_name_the_key(tmp_path, text, pattern):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=pattern):
        load_config(path)


def test_shipped_default_config_is_the_builtin_default():
    shipped = load_config(Path(__file__).resolve().parents[2] / "studies" / "fashion-mnist.toml")
    assert shipped == RunConfig()


def test_studies_without_a_teacher_store_the_settings_they_always_did():
    settings = RunConfig().search_settings()
    assert "teacher" not in settings and "temperature" not in settings["space"]
    with_teacher = RunConfig(teacher="runs/t").search_settings()
    assert with_teacher["teacher"] == "runs/t" and with_teacher["space"]["temperature"] == [1.0, 10.0]
