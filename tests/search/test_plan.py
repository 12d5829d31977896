"""``--budget``: the plan's arithmetic on made-up rates, the duration parser, calibration on a fake clock, a
budget too small refused by the real command line with nothing written, and real tiny runs whose plan, trial
count and trial-phase timeout follow from the rates they calibrated (on a fake clock: no test reads the time).

Real parts throughout: scikit-learn's digits, the tiny-cnn backbone, Optuna studies on temporary SQLite files.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import datetime

import optuna
import pytest

from policysearch.cli import main
from policysearch.errors import ConfigError
from policysearch.policy import Policy
from policysearch.search.budget import FIRST_TRIALS, apply_plan, budgeted_trials, stored_baselines
from policysearch.search.configuration.config import SEARCH_KEYS, RunConfig, format_duration, load_config, parse_duration
from policysearch.search.configuration.plan import (
    MIN_TRIALS,
    PREFERRED_TRIALS,
    SAFETY,
    Facts,
    Rates,
    make_plan,
    replan_rung,
    rung_phase,
    trial_estimate,
    verdict_phase,
)
from policysearch.search.run import run_search
from policysearch.search.trials.objective import ABLATION_OF
from policysearch.search.trials.progress import Progress
from policysearch.search.verdict.target_results import RESULTS_STUDY
from policysearch.training import TrainConfig, time_training

RATES = Rates(setup_seconds=1.0, train_seconds_per_image=0.001, eval_seconds_per_image=0.0001)
FACTS = Facts(pool=60000, test_images=10000, cached=0, baselines=4)
# The arithmetic below is worked by hand for these sizes (the default run before it was made smaller).
SIZED = RunConfig(train_size=1000, target_train_size=2000, target_epochs=4, rung_candidates=3)
TINY = dict(dataset="digits", model="tiny-cnn", weights=None, image_size=8, device="cpu")

optuna.logging.set_verbosity(optuna.logging.ERROR)


def _plan(config=None, budget=600.0, spent=10.0, facts=FACTS, rates=RATES, target=None):
    return make_plan(config or SIZED, rates, target or rates, budget=budget, spent=spent, facts=facts)


# --- the arithmetic ---------------------------------------------------------------------------------------


def test_the_plan_follows_from_the_rates_by_hand():
    # default run: 1,000 x 4 epochs a trial, 500 validated each epoch; rung 3 + ablation, 2 seeds, 2,000 x 4,
    # 2,000 validated; verdict 6 policies x 3 seeds at 2,000 x 4, 10,000 test images each
    plan = _plan()
    assert plan.trial_seconds == pytest.approx(1 + 4.0 + 0.2)
    assert plan.verdict.trainings == 18 and plan.verdict.seconds == pytest.approx(18 * (1 + 8.0 + 1.0))
    assert plan.rung_candidates == 3 and plan.rung.trainings == 8
    assert plan.rung.seconds == pytest.approx(5.2 + 8 * (1 + 8.0 + 0.2))  # its ablation's proxy trial too
    assert plan.margin == pytest.approx(SAFETY * 600)
    phase = 600 - 10 - 60 - plan.verdict.seconds - plan.rung.seconds
    assert plan.trial_phase == pytest.approx(phase)
    assert plan.trials == plan.trials_fit == int(phase // 5.2) == 52
    assert plan.trial_timeout == pytest.approx(phase - 5.2)  # the last trial started still ends in its phase
    assert plan.expected_end == pytest.approx(10 + 52 * 5.2 + plan.rung.seconds + plan.verdict.seconds)
    assert plan.expected_end <= 600 - plan.margin


def test_the_printed_plan_names_each_phase_its_seconds_the_rate_and_the_end():
    lines = _plan().lines(SIZED, datetime(2026, 1, 2, 12, 0, 0))
    assert lines[0].startswith("budget 10m: 1,000 training images/s measured (efficientnet-lite0, 32 px")
    assert lines[1] == "  trials:  52 x ~5.2 s = ~270 s (none starts after 266 s)"
    assert lines[2].startswith("  rung:    3 candidates + the leader's ablation x 2 seeds, 8 trainings of 2000 ")
    assert lines[3].startswith("  verdict: 18 trainings of 2000 images x 4 epochs (6 policies x 3 seeds)")
    assert lines[3].endswith("~180 s")
    # 10 + 270.4 + 78.8 + 180 = 539.2 s after 12:00:00
    assert lines[4].endswith("expected end 12:08:59 (~8m59s of 10m)")


def test_stored_baselines_make_the_verdict_cheaper_and_leave_more_trials():
    fresh, stored = _plan(), _plan(facts=replace(FACTS, cached=12))
    assert stored.verdict.trainings == fresh.verdict.trainings - 12 == 6
    assert stored.verdict.cached == 12 and stored.verdict.seconds == pytest.approx(60)
    assert stored.trial_phase == pytest.approx(fresh.trial_phase + 120)  # the 12 stored trainings' time
    assert stored.trials == int(stored.trial_phase // 5.2) == 75 > fresh.trials
    # the answer and its ablation are never stored: at most the baselines are free
    assert _plan(facts=replace(FACTS, cached=99)).verdict.trainings == 6


def test_a_larger_budget_runs_more_trials():
    counts = [_plan(budget=budget).trials for budget in (420, 600, 1200, 2400)]
    assert counts == sorted(counts) and len(set(counts)) == 4


def test_the_rung_shrinks_before_the_verdict_and_never_the_verdicts_seeds():
    config = replace(SIZED, final_seeds=3)
    seen = []
    for budget in (600, 340, 320, 300, 270):
        plan = _plan(config, budget=budget)
        seen.append((plan.rung_candidates, plan.rung_train_size))
        assert plan.verdict.trainings == 18  # the verdict keeps its 3 seeds whatever the budget
        assert plan.trials >= (PREFERRED_TRIALS if plan.rung_candidates else MIN_TRIALS)
    # fewer candidates first, then half the default training size (2,000 -> 1,000), then no rung
    assert seen == [(3, None), (2, None), (1, None), (1, 1000), (0, None)]


def test_a_budget_too_small_says_what_it_needs_in_one_line():
    with pytest.raises(ConfigError) as caught:
        _plan(budget=200)
    message = str(caught.value)
    assert "\n" not in message and message.startswith("budget 3m20s is too small for this run")
    assert "the verdict alone needs ~180 s (18 trainings)" in message and "4 trials" in message
    needed = float(re.search(r"give --budget (\S+) or more", message)[1].replace("m", "")) * 60
    assert _plan(budget=needed).trials >= MIN_TRIALS  # the budget it asks for is enough
    # the least search is the baselines' trials, or --trials when fewer
    few = replace(SIZED, trials=1, explicit=("trials",), rung_candidates=0)
    assert _plan(few, budget=260).trials == 1


def test_trials_cap_the_count_and_timeout_the_phase():
    capped = _plan(replace(SIZED, trials=10, explicit=("trials",)))
    assert capped.trials == 10 and capped.trials_fit == 52
    assert "--trials 10 caps the 52 that fit" in capped.lines(replace(SIZED, trials=10), datetime(2026, 1, 1))[1]
    assert capped.trial_timeout == _plan().trial_timeout  # the phase's time is the budget's either way
    # the default of --trials does not cap a budgeted run: the budget decides
    assert _plan(replace(SIZED, trials=20)).trials == 52
    applied = apply_plan(replace(SIZED, timeout=30.0), _plan())
    assert applied.timeout == 30.0 and applied.trials == 52  # --timeout, when sooner, wins
    applied = apply_plan(SIZED, _plan(budget=400))
    assert (applied.rung_candidates, applied.rung_train_size) == (_plan(budget=400).rung_candidates,
                                                                  _plan(budget=400).rung_train_size)


def test_no_final_plans_no_verdict_and_a_different_target_uses_its_own_rates():
    assert verdict_phase(replace(SIZED, final=False), RATES, FACTS).trainings == 0
    slow = replace(RATES, train_seconds_per_image=0.004)
    plan = _plan(target=slow, budget=1200)
    assert plan.verdict.seconds == pytest.approx(18 * (1 + 32.0 + 1.0))
    assert plan.rung.seconds == _plan(budget=1200).rung.seconds  # the rung trains the search's model
    assert "the target's" in plan.lines(replace(SIZED, target_model="resnet18"), datetime(2026, 1, 1))[0]


def test_after_the_trials_the_rung_follows_their_pace():
    plan = _plan()
    same = replan_rung(SIZED, plan, pace=1.0, left=600 - 10 - 52 * 5.2)
    assert (same.rung_candidates, same.pace) == (3, 1.0)
    slow = replan_rung(SIZED, plan, pace=1.6, left=600 - 10 - 52 * 5.2)
    assert slow.rung_candidates < 3 and slow.verdict == plan.verdict
    assert replan_rung(SIZED, plan, pace=5.0, left=100).rung_candidates == 0
    # what a trial costs besides its training is paid by the rung's one proxy trial too
    left = 60 + 180 + plan.rung.seconds
    assert replan_rung(SIZED, plan, pace=1.0, left=left).rung_candidates == 3
    assert replan_rung(SIZED, plan, pace=1.0, left=left, overhead=1.0).rung_candidates == 2
    assert rung_phase(SIZED, RATES, FACTS, 0, None, 5.2).seconds == 0
    # a pruned trial ran fewer epochs: it is expected to take less
    assert trial_estimate(SIZED, RATES, 2) < trial_estimate(SIZED, RATES, 4) == pytest.approx(5.2)


class Counted:
    """What run's progress callback offers budgeted_trials: the trials done so far, and the total it shows."""

    def __init__(self) -> None:
        self.done, self.total = 0, None


def _phase(plan, seconds_a_trial, limit=None, pace=1.0):
    """budgeted_trials over a fake trial phase: each trial takes ``seconds_a_trial`` on a fake clock."""
    state, calls, progress = {"now": 0.0}, [], Counted()

    def run(n, timeout):
        calls.append((n, timeout))
        started = state["now"]
        for _ in range(n):  # Optuna's rule: no trial starts once the timeout has passed (the first always does)
            if progress.done and state["now"] - started > timeout:
                break
            state["now"] += seconds_a_trial
            progress.done += 1

    said = []
    ran, line = budgeted_trials(plan, run, progress, limit=limit, pace=lambda: pace, clock=lambda: state["now"],
                                say=lambda text: said.append((text, progress.done)))
    assert said == [(line, min(plan.trials, FIRST_TRIALS))]  # said once, after the first trials, before the rest
    return ran, line, calls, progress, state["now"]


def test_the_count_is_planned_again_from_what_the_first_trials_took():
    plan = _plan()  # 52 trials of 5.2 s in a phase of 271.2 s
    ran, line, calls, progress, end = _phase(plan, 5.2)
    assert calls[0] == (FIRST_TRIALS, plan.trial_timeout) and ran == 52 and progress.total == 52
    assert end <= plan.trial_phase + 1e-9
    # trials that take twice their calibrated time: half as many, and the phase still ends on time
    ran, line, calls, progress, end = _phase(plan, 10.4)
    assert calls[1][0] == int((plan.trial_phase - 4 * 10.4) // 10.4) == 22 and ran == progress.total == 26
    assert end <= plan.trial_phase + 1e-9
    assert line == ("after 4 trials: 10.4 s a trial here, 5.2 s calibrated, training at 1.00x the calibrated "
                    "time: 22 more (of 48 planned)")
    # trials that trained twice as slow as calibrated: the verdict will too, and the phase leaves it its time
    ran, line, calls, progress, end = _phase(plan, 10.4, pace=2.0)
    assert calls[1][0] == int((plan.trial_phase - 4 * 10.4 - plan.verdict.seconds) // 10.4) == 4
    assert end + 2.0 * plan.verdict.seconds <= plan.trial_phase + plan.verdict.seconds + 1e-9
    assert _phase(plan, 5.2, pace=0.5)[0] == 52  # faster training never adds trials
    # faster than calibrated: never more than planned; --timeout still wins when sooner
    assert _phase(plan, 1.0)[0] == 52
    ran, _, calls, _, end = _phase(plan, 5.2, limit=50.0)
    assert calls[0][1] == 50.0 and calls[1][1] == pytest.approx(50.0 - 4 * 5.2) and end <= 50 + 5.2


# --- durations and the configuration -----------------------------------------------------------------------


@pytest.mark.parametrize("text, seconds", [("5m", 300), ("90s", 90), ("1h", 3600), ("1h30m", 5400),
                                           ("2.5m", 150), (" 10M ", 600), ("1h0m5s", 3605), ("45", 45),
                                           (45, 45), (1.5, 1.5)])
def test_durations_parse(text, seconds):
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == round(seconds)


@pytest.mark.parametrize("bad", ["", "5 minutes", "m", "1m1h", "-5m", "0s", "0", "inf", "nan", "1e3", "5d",
                                 True, None, -3, [5]])
def test_bad_durations_are_one_line_quoting_the_value(bad):
    with pytest.raises(ConfigError) as caught:
        RunConfig(budget=bad) if bad is not None else parse_duration(bad, "budget")
    message = str(caught.value)
    assert "\n" not in message and message.startswith("budget should be a duration such as 90s, 5m, 1h or 1h30m")
    assert message.endswith(f"but got {bad!r}")


def test_budget_from_a_toml_key_and_a_flag_and_not_a_search_key(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text('budget = "10m"\n')
    assert load_config(toml).budget == 600.0
    assert load_config(toml, {"budget": "1h30m"}).budget == 5400.0
    toml.write_text('budget = "ten minutes"\n')
    with pytest.raises(ConfigError, match=r"budget should be a duration .* but got 'ten minutes' in .*run\.toml"):
        load_config(toml)
    # a study run with or without a budget resumes either way
    assert "budget" not in SEARCH_KEYS
    assert RunConfig(budget=60).search_settings() == RunConfig().search_settings()
    assert RunConfig.from_dict(RunConfig(budget="2m").to_dict()).budget == 120.0  # as workers receive it


# --- calibration and progress on a fake clock --------------------------------------------------------------


def _ticking(step: float = 1.0):
    """A fake clock: each reading is ``step`` seconds after the one before."""
    state = {"now": 0.0}

    def clock() -> float:
        state["now"] += step
        return state["now"]

    return clock


def test_calibration_times_setup_steps_and_an_evaluation_on_the_clock_it_is_given():
    from policysearch.data import load_source
    from policysearch.models import model_factory

    source = load_source("digits", image_size=8)
    factory = model_factory("tiny-cnn", 10, image_size=8, weights=None)
    timing = time_training(factory, Policy(num_ops=2, magnitude=9), source.train.images[:50],
                           source.train.labels[:50], TrainConfig(batch_size=16, device="cpu"), steps=3,
                           clock=_ticking(2.0))
    assert (timing.setup_seconds, timing.train_seconds, timing.eval_seconds) == (2.0, 2.0, 2.0)
    assert (timing.train_images, timing.eval_images) == (48, 256)
    rates = Rates.from_timing(timing)
    assert rates.train_seconds_per_image == 2.0 / 48 and rates.images_per_second == 24.0


def test_progress_lines_show_the_budgets_time_left_then_how_far_over():
    study = optuna.create_study(direction="maximize")
    out = io.StringIO()
    progress = Progress(3, None, out, deadline=25.0, clock=_ticking(10.0))  # starts at 10; lines at 20, 30, 40
    study.optimize(lambda t: 0.5, n_trials=3, callbacks=[progress])
    lines = out.getvalue().splitlines()
    assert [line.split(" | ")[-1] for line in lines] == [
        "0m05s of the budget left", "0m05s over the budget", "0m15s over the budget"]
    assert all("elapsed, ~" in line for line in lines)
    plain = io.StringIO()
    optuna.create_study().optimize(lambda t: 0.5, n_trials=1, callbacks=[Progress(1, None, plain)])
    assert "budget" not in plain.getvalue()


# --- the real command line and real runs --------------------------------------------------------------------


def _cli_args(tmp_path, storage, *extra):
    return ["run", "--dataset", "digits", "--model", "tiny-cnn", "--weights", "none", "--image-size", "8",
            "--train-size", "200", "--val-size", "100", "--epochs", "1", "--target-train-size", "300",
            "--target-epochs", "1", "--study", "tight", "--storage", storage,
            "--output-dir", str(tmp_path / "out"), *extra]


@pytest.mark.slow
def test_a_budget_too_small_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    # a storage that exists, with another study in it: no study is added, no results study either
    path = tmp_path / "kept.db"
    optuna.create_study(study_name="other", storage=f"sqlite:///{path}")
    # A target whose verdict alone needs far more than a second on any machine (18 trainings of 1,000 x 50):
    # a warm process on a fast machine calibrates tiny-cnn's 300 x 1 verdict to under a second.
    big_target = ("--target-train-size", "1000", "--target-epochs", "50")
    assert main(_cli_args(tmp_path, f"sqlite:///{path}", *big_target, "--budget", "1s")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "budget 1s is too small for this run" in err
    names = [s.study_name for s in optuna.get_all_study_summaries(f"sqlite:///{path}")]
    assert names == ["other"] and RESULTS_STUDY not in names
    assert not (tmp_path / "out").exists()
    # a storage file that does not exist yet is not created
    fresh = tmp_path / "fresh" / "new.db"
    assert main(_cli_args(tmp_path, f"sqlite:///{fresh}", *big_target, "--budget", "2s")) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert not fresh.exists() and not (tmp_path / "out").exists()


def _budgeted(tmp_path, budget, **overrides):
    values = dict(TINY, train_size=200, val_size=100, epochs=1, batch_size=32, trials=20, target_train_size=150,
                  target_epochs=1, final_seeds=3, rung_candidates=1, rung_train_size=100, rung_val_size=50,
                  rung_seeds=1, study="budgeted", storage=f"sqlite:///{tmp_path / 'b.db'}",
                  output_dir=str(tmp_path / "out"), budget=budget)
    return RunConfig(**{**values, **overrides})


class OptimizeSpy:
    """Records what Optuna's real ``Study.optimize`` is asked for (it still runs)."""

    def __init__(self, monkeypatch) -> None:
        self.calls: list[dict] = []
        real = optuna.Study.optimize

        def optimize(study, func, *args, **kwargs):
            self.calls.append(dict(kwargs))
            return real(study, func, *args, **kwargs)

        monkeypatch.setattr(optuna.Study, "optimize", optimize)


@pytest.mark.slow
def test_a_real_run_follows_the_plan_its_calibration_makes(tmp_path, monkeypatch):
    spy = OptimizeSpy(monkeypatch)
    config = _budgeted(tmp_path, budget=1150.0)
    out = io.StringIO()
    # Each reading of the fake clock is 10 s on: the calibration's setup, 4 steps of 32 images and its
    # evaluation of 256 images each take one reading's 10 s, whatever the machine does.
    outcome = run_search(config, out, clock=_ticking(10.0))
    plan = outcome.plan
    assert plan.rates == Rates(10.0, 10.0 / 128, 10.0 / 256) and plan.target_rates == plan.rates
    facts = Facts(pool=1438, test_images=359, cached=0, baselines=4)
    assert plan.facts == facts
    expected = make_plan(config, plan.rates, plan.rates, budget=1150.0, spent=plan.spent, facts=facts)
    assert (plan.trials, plan.trial_timeout, plan.verdict) == (expected.trials, expected.trial_timeout,
                                                               expected.verdict)
    assert plan.trials >= PREFERRED_TRIALS and plan.verdict.trainings == 18 and expected.rung_candidates == 1
    # the trial phase: Optuna was given the phase's timeout for the first trials, then the rest of the phase
    # for as many more as their time per trial leaves room for, never more than planned
    first, rest = spy.calls[0], spy.calls[1]
    assert first["n_trials"] == FIRST_TRIALS and first["timeout"] == plan.trial_timeout
    assert FIRST_TRIALS + rest["n_trials"] <= plan.trials and rest["timeout"] <= plan.trial_timeout
    study = optuna.load_study(study_name="budgeted", storage=config.storage_url)
    sampled = [t for t in study.trials if ABLATION_OF not in t.user_attrs]
    assert len(sampled) == first["n_trials"] + rest["n_trials"]
    text = out.getvalue()
    assert text.startswith("budget 19m10s: 13 training images/s measured (tiny-cnn, 8 px, 32 a batch")
    assert f"  trials:  {plan.trials} x ~{expected.trial_seconds:.0f} s" in text
    assert re.search(r"\| \d+m\d\ds (of the budget left|over the budget)$", text.splitlines()[6])
    assert "after 4 trials: " in text and "after the trials: they trained at " in text
    assert outcome.verdict is not None


@pytest.mark.slow
def test_stored_baselines_are_counted_as_the_verdict_keys_them_and_leave_more_trials(tmp_path):
    config = _budgeted(tmp_path, budget=950.0, rung_candidates=0)
    assert stored_baselines(config, pool=1438) == 0 and not (tmp_path / "b.db").exists()
    first = run_search(config, io.StringIO(), clock=_ticking(10.0))
    # the verdict stored its 4 baselines x 3 seeds under its own keys; the plan finds every one of them
    assert stored_baselines(config, pool=1438) == 12
    again = run_search(replace(config, study="again"), io.StringIO(), clock=_ticking(10.0))
    assert again.plan.facts.cached == 12 and again.plan.verdict.trainings == 6
    assert again.verdict["table"]["no_augmentation"]["cached"] == 3
    assert again.plan.trials > first.plan.trials >= MIN_TRIALS
