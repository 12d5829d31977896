"""`policysearch dashboard` serves a real study over HTTP on loopback: trials, previews, the verdict note."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import optuna
import pytest


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get_json(url: str, deadline: float):
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def _listening_addresses(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/tcp* has them) listening on ``port``."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, state = row.split()[1], row.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.fixture
def study_url(tmp_path):
    url = f"sqlite:///{tmp_path}/dash.db"
    study = optuna.create_study(study_name="dash", storage=url, direction="maximize")
    for i in range(3):
        trial = study.ask({"num_ops": optuna.distributions.IntDistribution(0, 4)})
        trial.report(0.5 + 0.1 * i, step=1)
        trial.set_user_attr("device", "cpu")
        study.tell(trial, 0.6 + 0.1 * i)
    return url


def test_dashboard_serves_the_study_and_its_trials(study_url):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "policysearch", "dashboard", "--storage", study_url, "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 90
        listing = _get_json(f"http://127.0.0.1:{port}/api/studies", deadline)
        studies = listing.get("study_summaries", listing.get("studies"))
        assert [s["study_name"] for s in studies] == ["dash"]
        detail = _get_json(f"http://127.0.0.1:{port}/api/studies/{studies[0]['study_id']}", deadline)
        trials = detail["trials"]
        assert len(trials) == 3
        assert [t["values"][0] for t in trials] == pytest.approx([0.6, 0.7, 0.8])
        assert all(t["intermediate_values"] for t in trials)
        assert all(any(a["key"] == "device" for a in t["user_attrs"]) for t in trials)
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in out


def test_dashboard_binds_to_loopback_only(study_url):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "policysearch", "dashboard", "--storage", study_url, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        _get_json(f"http://127.0.0.1:{port}/api/meta", time.monotonic() + 90)
        addresses = _listening_addresses(port)
        assert addresses == {"0100007F"}, addresses  # 127.0.0.1 only, as the kernel lists it
    finally:
        server.terminate()
        server.wait(timeout=30)


def _get_bytes(url: str, deadline: float) -> tuple[str, bytes]:
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.headers.get("Content-Type", ""), response.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    """A tiny real search (two trials and a tiny verdict) on a temporary SQLite file: its URL."""
    folder = tmp_path_factory.mktemp("searched")
    url = f"sqlite:///{folder}/search.db"
    result = subprocess.run(
        [sys.executable, "-m", "policysearch", "run", "--dataset", "digits", "--model", "tiny-cnn", "--weights",
         "none", "--image-size", "16", "--train-size", "100", "--val-size", "50", "--epochs", "1", "--trials", "2",
         "--target-train-size", "100", "--target-epochs", "1", "--final-seeds", "1", "--test-size", "50",
         "--study", "pics", "--storage", url, "--output-dir", str(folder / "out")],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert (folder / "artifacts").is_dir()  # beside the SQLite file, where the dashboard looks
    return url


@pytest.mark.slow
def test_dashboard_serves_each_trials_preview_and_the_verdict_note(searched):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "policysearch", "dashboard", "--storage", searched, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 90
        study = _get_json(f"http://127.0.0.1:{port}/api/studies", deadline)["study_summaries"][0]
        detail = _get_json(f"http://127.0.0.1:{port}/api/studies/{study['study_id']}", deadline)
        trials = [t for t in detail["trials"] if t["state"] == "Complete"]
        assert len(trials) == 2
        for trial in trials:
            [artifact] = trial["artifacts"]
            assert artifact["filename"] == f"preview-trial-{trial['number']}.png"
            kind, body = _get_bytes(f"http://127.0.0.1:{port}/artifacts/{study['study_id']}/{trial['trial_id']}/"
                                    f"{artifact['artifact_id']}", deadline)
            assert kind == "image/png"
            image = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_UNCHANGED)
            # 4 rows (one class each) x (original + 5 draws); 16 px tiles upscaled 6x to 96, 2 px padding.
            assert image.shape == (4 * 98 + 2, 6 * 98 + 2, 3)
        note = detail["note"]["body"]
        assert note.startswith("## Verdict: trial ") and "test acc" in note and "no_augmentation" in note
    finally:
        server.terminate()
        server.wait(timeout=30)
