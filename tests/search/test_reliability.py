"""Crashes, signals and parallel workers on real studies (SQLite, PostgreSQL, MariaDB)."""

from __future__ import annotations

import collections
import contextlib
import signal
import subprocess
import sys
import time
import uuid

import optuna
import pytest

from policysearch.search.strategy.space import SearchSpace, baseline_params

pytestmark = pytest.mark.slow

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
SERVERS = {
    "postgresql": "postgresql+psycopg2://postgres@127.0.0.1:5432/test",
    "mariadb": "mysql+pymysql://root@127.0.0.1:3306/test",
}


def _command(storage, study, trials, *extra):
    return [
        sys.executable, "-m", "policysearch", "run", "--dataset", "digits", "--model", "tiny-cnn",
        "--weights", "none", "--image-size", "16", "--train-size", "200", "--val-size", "100",
        "--batch-size", "32", "--trials", str(trials), "--study", study, "--storage", storage,
        "--no-final", "--rung-candidates", "0", *extra,  # the rung's extra trial would blur the counts here
    ]


def _trials(storage, study):
    return optuna.load_study(study_name=study, storage=storage).get_trials()


def _wait_for(predicate, storage, study, seconds=180):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            trials = _trials(storage, study)
        except KeyError:  # the study does not exist yet
            trials = []
        if predicate(trials):
            return trials
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting; trials: {[(t.number, t.state.name) for t in trials]}")


def _mid_trial(trials):
    """At least two trials finished and one running that has reported an epoch."""
    finished = [t for t in trials if t.state in FINISHED]
    running = [t for t in trials if t.state == optuna.trial.TrialState.RUNNING and t.intermediate_values]
    return len(finished) >= 2 and running


def test_sigkill_mid_trial_loses_nothing_and_resume_retries_it(tmp_path):
    storage, study = f"sqlite:///{tmp_path}/crash.db", "crash"
    extra = ("--epochs", "8", "--heartbeat", "1", "--output-dir", str(tmp_path))
    process = subprocess.Popen(_command(storage, study, 6, *extra), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        before = _wait_for(_mid_trial, storage, study)
    finally:
        process.kill()
        process.wait(timeout=30)
    before = _trials(storage, study)
    killed = [t for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert len(killed) == 1
    done = {t.number: (t.state, t.value, t.params, t.intermediate_values) for t in before if t.state in FINISHED}
    time.sleep(8)  # longer than 6 missed heartbeats of 1 s: the trial is now stale

    result = subprocess.run(_command(storage, study, 3, *extra), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    after = {t.number: t for t in _trials(storage, study)}
    assert after[killed[0].number].state == optuna.trial.TrialState.FAIL
    for number, (state, value, params, curve) in done.items():  # finished work is intact
        assert (after[number].state, after[number].value, after[number].params) == (state, value, params)
        assert after[number].intermediate_values == curve
    # The resume ran 3 trials: any baseline still waiting when the kill came (four are enqueued), then the
    # killed trial's parameters (enqueued anew, so numbered after every earlier trial), then new points.
    resumed = [t for n, t in sorted(after.items()) if n not in done and n != killed[0].number]
    assert len(resumed) == 3 and all(t.state in FINISHED for t in resumed)
    retried = [t for t in resumed if t.number > max(t.number for t in before)]
    assert retried[0].params == killed[0].params, "the killed trial's parameters are retried before new points"
    assert not [t for t in after.values() if t.state == optuna.trial.TrialState.RUNNING]


def test_sigkill_then_an_immediate_resume_leaves_no_trial_running(tmp_path):
    # The default heartbeat's grace period (a minute) has not passed when the
    # resume starts: the killed trial is recognised by its host and pid instead.
    storage, study = f"sqlite:///{tmp_path}/kill.db", "kill"
    extra = ("--epochs", "8", "--output-dir", str(tmp_path))
    process = subprocess.Popen(_command(storage, study, 6, *extra), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        _wait_for(_mid_trial, storage, study)
    finally:
        process.kill()
        process.wait(timeout=30)
    before = _trials(storage, study)
    killed = [t for t in before if t.state == optuna.trial.TrialState.RUNNING]
    assert len(killed) == 1 and killed[0].user_attrs["pid"] == process.pid

    result = subprocess.run(_command(storage, study, 2, *extra), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    after = {t.number: t for t in _trials(storage, study)}
    assert after[killed[0].number].state == optuna.trial.TrialState.FAIL
    assert "was gone" in after[killed[0].number].user_attrs["failure"]
    new = [t for n, t in after.items() if n > max(t.number for t in before)]
    assert new[0].params == killed[0].params, "the killed trial's parameters are retried first"
    assert not [t for t in after.values() if t.state == optuna.trial.TrialState.RUNNING]


def _early_in_a_trial(trials, epochs):
    """A trial RUNNING that has reported an epoch and has many left: a signal now lands inside it."""
    return [t for t in trials if t.state == optuna.trial.TrialState.RUNNING
            and 1 <= len(t.intermediate_values) <= epochs // 4]


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_ends_the_trial_cleanly_and_says_how_to_resume(tmp_path, signum):
    # No race: far more trials than can finish, no pruning, and the signal only
    # once a trial is running with three quarters of its epochs still ahead.
    storage, study, epochs = f"sqlite:///{tmp_path}/sig.db", "sig", 40
    command = _command(storage, study, 500, "--epochs", str(epochs), "--pruner", "none", "--output-dir", str(tmp_path))
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    interrupted = _wait_for(lambda trials: _early_in_a_trial(trials, epochs), storage, study)
    process.send_signal(signum)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 130, err[-2000:]
    assert "Run the same command again to resume" in err and "Traceback" not in err
    after = {t.number: t for t in _trials(storage, study)}
    assert optuna.trial.TrialState.RUNNING not in {t.state for t in after.values()}
    assert after[_early_in_a_trial(interrupted, epochs)[0].number].state == optuna.trial.TrialState.FAIL


def _repeated_points(trials):
    """Numbers of the sampled trials (not enqueued) whose parameters are exactly another trial's."""
    points = collections.Counter(tuple(sorted(t.params.items())) for t in trials)
    return [t.number for t in trials
            if "fixed_params" not in t.system_attrs and points[tuple(sorted(t.params.items()))] > 1]


def _server(name):
    """The URL of the database server ``name``; the test is skipped where none answers."""
    import sqlalchemy

    url = SERVERS[name]
    try:
        sqlalchemy.create_engine(url).connect().close()
    except Exception as exc:  # noqa: BLE001 - any reason the server is not there
        pytest.skip(f"no {name} server at {url}: {str(exc).splitlines()[0]}")
    return url


@contextlib.contextmanager
def _study_on_server(name):
    """A fresh study name on the server ``name``, and the study deleted afterwards."""
    url, study = _server(name), f"par-{name}-{uuid.uuid4().hex[:8]}"
    try:
        yield url, study
    finally:
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=study, storage=url)


def _check_parallel_study(storage, study, trials, tmp_path):
    result = subprocess.run(_command(storage, study, trials, "--epochs", "2", "--jobs", "4",
                                     "--output-dir", str(tmp_path)),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "locked" not in result.stderr
    all_trials = _trials(storage, study)
    assert len(all_trials) == trials
    assert all(t.state in FINISHED for t in all_trials), [(t.number, t.state.name, t.user_attrs.get("failure"))
                                                          for t in all_trials]
    baselines = sorted(t.user_attrs["baseline"] for t in all_trials if t.user_attrs.get("baseline"))
    assert baselines == sorted(baseline_params(SearchSpace()))
    assert {t.user_attrs["worker"] for t in all_trials} == {0, 1, 2, 3}  # each trial says which worker ran it
    # Workers that opened the study together once drew the same start-up points (6 of 9 sampled).
    assert _repeated_points(all_trials) == [], [(t.number, t.params) for t in all_trials]


def test_four_workers_on_one_sqlite_study(tmp_path):
    _check_parallel_study(f"sqlite:///{tmp_path}/par.db", "par", 10, tmp_path)


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_four_workers_on_a_database_server(server, tmp_path):
    with _study_on_server(server) as (url, study):
        _check_parallel_study(url, study, 10, tmp_path)


def test_two_machines_running_the_same_command_on_one_postgresql_study(tmp_path):
    # Two run commands started together, as on two hosts: each opens the study with the same
    # --seed and starts its own 2 workers; together they run 10 trials, none a repeat.
    with _study_on_server("postgresql") as (url, study):
        commands = [subprocess.Popen(_command(url, study, 5, "--epochs", "1", "--jobs", "2",
                                              "--output-dir", str(tmp_path / host)),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                    for host in ("a", "b")]
        errors = [command.communicate(timeout=600)[1] for command in commands]
        assert [command.returncode for command in commands] == [0, 0], [e[-2000:] for e in errors]
        trials = _trials(url, study)
        assert len(trials) == 10 and all(t.state in FINISHED for t in trials)
        assert len({t.user_attrs["pid"] for t in trials}) == 4  # both commands' workers ran trials
        assert _repeated_points(trials) == [], [(t.number, t.params) for t in trials]


def test_one_worker_with_the_same_seed_runs_the_same_trials(tmp_path):
    def run(study, seed):
        storage = f"sqlite:///{tmp_path}/{study}.db"
        command = _command(storage, study, 10, "--epochs", "1", "--seed", str(seed), "--output-dir", str(tmp_path))
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-2000:]
        return [(t.params, t.state) for t in _trials(storage, study)]

    first, again, other = run("first", 3), run("again", 3), run("other", 4)
    assert first == again  # TPE's model-based proposals included: 10 trials, 8 start-up
    assert [params for params, _ in first] != [params for params, _ in other]


def test_password_never_reaches_logs_json_or_attributes(tmp_path):
    from policysearch.search.study.storage import redact

    url = "postgresql+psycopg2://postgres:hunter2@127.0.0.1:5432/test"
    assert redact(url) == "postgresql+psycopg2://postgres:***@127.0.0.1:5432/test"
    study = f"pw-{uuid.uuid4().hex[:8]}"
    try:
        result = subprocess.run(_command(url, study, 2, "--epochs", "1", "--output-dir", str(tmp_path)),
                                capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        pytest.fail("run did not finish")
    if "cannot open storage" in result.stderr:
        pytest.skip("no PostgreSQL server here")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "hunter2" not in result.stdout + result.stderr
    assert "hunter2" not in (tmp_path / study / "best_policy.json").read_text()
    attrs = optuna.load_study(study_name=study, storage=url).user_attrs
    assert "hunter2" not in repr(attrs) and "***" in attrs["storage"]


@pytest.mark.cuda
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA GPU")
def test_workers_share_one_gpu_and_say_which(tmp_path):
    storage = f"sqlite:///{tmp_path}/gpu.db"
    command = _command(storage, "gpu", 4, "--epochs", "1", "--jobs", "2", "--devices", "0", "--device", "cuda")
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = _trials(storage, "gpu")
    assert all(t.state in FINISHED for t in trials) and len(trials) == 4
    assert {(t.user_attrs["gpu"], t.user_attrs["device"]) for t in trials} == {(0, "cuda")}
    assert {t.user_attrs["worker"] for t in trials} == {0, 1}
