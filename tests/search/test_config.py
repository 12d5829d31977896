"""The run configuration: defaults, a TOML file, then flags; the settings a study stores."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest

from policysearch import load_policy
from policysearch.augment.ops import TORCHVISION_OPS
from policysearch.cli import main
from policysearch.errors import ConfigError
from policysearch.search.configuration.config import RunConfig, load_config
from policysearch.search.strategy.space import SearchSpace

FIXTURE = Path(__file__).resolve().parents[1] / "data_files" / "legacy_v2.db"


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


# ---------------------------------------------------------------- the [space] table: groups, ops, bounds
def test_the_space_table_sets_groups_ops_and_bounds(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[space]\ngroups = ["flips", "geometric"]\nop_bins = {Rotate = [0, 10]}\n')
    space = load_config(path).space
    assert space.groups == ("flips", "geometric") and space.ops is None and space.op_bins == {"Rotate": (0, 10)}
    path.write_text('[space]\nops = ["Identity", "Rotate", "Solarize"]\n')
    fixed = load_config(path).space
    assert fixed.groups == () and fixed.ops == ("Identity", "Rotate", "Solarize")
    assert RunConfig().space.groups == ("flips", "crop", "geometric", "colour", "histogram", "cutout")


@pytest.mark.parametrize("text, pattern", [
    ('groups = ["flips", "warps"]', "space.groups has an unknown group 'warps'"),
    ('groups = "flips"', "space.groups should be a list of op groups, but got 'flips'"),
    ('ops = ["Identity", "Smudge"]', "space.ops.*'Smudge'"),
    ('op_bins = {Rotate = [12, 4]}', r"space.op_bins.Rotate should be \[low, high\] .*but got \[12, 4\]"),
    ('op_bins = {Rotate = [0, 31]}', r"space.op_bins.Rotate .*\[0, 31\]"),
    ('op_bins = {Rotate = 3}', r"space.op_bins.Rotate .*3"),
    ('op_bins = {Smudge = [0, 3]}', "space.op_bins bounds 'Smudge', which is not among the operations"),
    ('ops = ["Identity", "Rotate"]\nop_bins = {Solarize = [0, 3]}', "space.op_bins bounds 'Solarize'"),
    ('ops = ["Identity", "Rotate"]\ngroups = ["geometric"]', r"space.ops fixes the op set.*\['geometric'\]"),
])
def test_bad_space_tables_are_one_line_errors_naming_the_key_and_value(tmp_path, text, pattern):
    path = tmp_path / "bad.toml"
    path.write_text(f"[space]\n{text}\n")
    with pytest.raises(ConfigError, match=pattern) as info:
        load_config(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_new_studies_store_settings_format_4_with_groups():
    settings = RunConfig().search_settings()
    assert settings["format"] == 4 and settings["space"]["groups"][0] == "flips" and settings["space"]["ops"] is None


def test_format_3_studies_resume_with_that_releases_default_run_unless_the_user_set_a_key():
    old = RunConfig().with_legacy_defaults(3)
    assert (old.train_size, old.target_train_size, old.target_epochs, old.rung_candidates, old.test_size) == \
        (1000, 2000, 4, 3, None)
    assert old.settings_as(3)["format"] == 3 and old.settings_as(3)["train_size"] == 1000
    assert old.space == RunConfig().space  # format 3 had the op groups
    assert RunConfig(train_size=500, explicit=("train_size",)).with_legacy_defaults(3).train_size == 500
    # A config built in code names no key: a value other than today's default was set, and is kept.
    coded = RunConfig(train_size=600, target_train_size=5000).with_legacy_defaults(3)
    assert (coded.train_size, coded.target_train_size, coded.test_size) == (600, 5000, None)
    assert RunConfig().with_legacy_defaults(4) == RunConfig()


def test_format_2_settings_are_the_old_space_unless_the_user_set_its_keys():
    old = RunConfig().with_legacy_defaults(2)
    assert old.space.groups == () and old.space.ops == TORCHVISION_OPS and old.space.num_ops == (0, 4)
    settings = old.settings_as(2)
    assert settings["format"] == 2 and "groups" not in settings["space"] and "op_bins" not in settings["space"]
    chose = RunConfig(space=SearchSpace(groups=("flips",)), explicit=("space.groups",)).with_legacy_defaults(2)
    assert chose.space.groups == ("flips",) and "groups" in chose.settings_as(2)["space"]
    assert RunConfig().with_legacy_defaults(2).train_size == 1000  # and that release's default run


@pytest.mark.slow
def test_a_study_stored_by_the_previous_release_resumes_shows_and_exports(tmp_path, capsys):
    # tests/data_files/legacy_v2.db: 4 trials of `policysearch run --dataset digits --model tiny-cnn --weights none
    # --train-size 200 --val-size 100 --epochs 1 --trials 4 --no-final --study legacy-v2`, made by the release
    # before op groups (settings format 2, three baselines).
    db = tmp_path / "legacy_v2.db"
    shutil.copy(FIXTURE, db)
    storage = f"sqlite:///{db}"
    before = optuna.load_study(study_name="legacy-v2", storage=storage)
    old_params = [t.params for t in before.trials]
    assert before.user_attrs["settings"]["format"] == 2 and len(old_params) == 4
    flags = ["--storage", storage, "--output-dir", str(tmp_path), "--study", "legacy-v2"]
    status = main(["run", "--dataset", "digits", "--model", "tiny-cnn", "--weights", "none", "--train-size", "200",
                   "--val-size", "100", "--epochs", "1", "--trials", "2", "--no-final", "--rung-candidates", "0",
                   "--device", "cpu", *flags])
    assert status == 0, capsys.readouterr().err
    after = optuna.load_study(study_name="legacy-v2", storage=storage)
    assert [t.params for t in after.trials[:4]] == old_params and len(after.trials) == 6
    assert after.user_attrs["settings"]["format"] == 2  # the stored settings are left as they were
    new = after.trials[4:]
    assert all(not any(k.startswith("group_") for k in t.params) for t in new)  # the old space, no groups
    assert all(set(load_policy(t.user_attrs["policy"]).ops) == set(TORCHVISION_OPS) for t in new)
    baselines = sorted(t.user_attrs["baseline"] for t in after.trials if t.user_attrs.get("baseline"))
    assert baselines == ["no_augmentation", "randaugment_n2_m9", "trivialaugment_wide"]  # no standard added
    capsys.readouterr()
    assert main(["show", *flags[:2], "--study", "legacy-v2"]) == 0
    assert "trials: 6" in capsys.readouterr().out
    out = tmp_path / "best.py"
    assert main(["export", *flags[:2], "--study", "legacy-v2", "--format", "torchvision", "-o", str(out)]) == 0
    assert "v2.RandAugment(" in out.read_text() or "v2.TrivialAugmentWide(" in out.read_text()
    # A run that names groups on this study is refused in one line: its trials mean another space.
    status = main(["run", "--dataset", "digits", "--model", "tiny-cnn", "--weights", "none", "--train-size", "200",
                   "--val-size", "100", "--epochs", "1", "--trials", "1", "--no-final", "--device", "cpu",
                   "--config", str(_toml(tmp_path, '[space]\ngroups = ["flips"]\n')), *flags])
    err = capsys.readouterr().err.strip()
    assert status == 2 and "space" in err and len(err.splitlines()) == 1


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "space.toml"
    path.write_text(text)
    return path
