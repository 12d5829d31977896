"""The default run's time, phase by phase, against a named earlier release, back to back on this machine.

``policysearch run`` with no arguments is what a newcomer waits for. This
bench runs it as they would (a fresh directory, so a fresh study and no
stored target results) for this checkout and for a reference commit (by
default cabdf10, the release the time issue measured: 963 s on a 2-core
machine), alternating which goes first, ``--repeats`` times each, and prints
each run's phases from the moment its output lines appeared:

* trials: from the start to the first line after the trials (the leader's
  ablation or the rung);
* rung: to the first verdict line;
* verdict: to the end (the verdict's trainings and the summary).

Then the medians and the ratio of this checkout's to the reference's. The
first line is the machine's plain training rate (``bench/train_speed.py
--case lite0-32 --quick --no-compile``'s), the figure README quotes beside
the times. The reference is checked out in a temporary git worktree and run
from it (``PYTHONPATH``); both use whatever torch threads the environment
gives (set ``OMP_NUM_THREADS`` for both alike).

    python bench/default_run.py                       # 3 runs each (about an hour on 2 idle cores)
    python bench/default_run.py --reference-repeats 1   # the reference once
    python bench/default_run.py --repeats 1 --reference none   # this checkout once
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PHASES = ("trials", "rung", "verdict")


def plain_rate() -> str:
    """The machine's plain training rate line, from train_speed's quick run."""
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "train_speed.py"), "--case", "lite0-32", "--quick",
                          "--no-compile"], capture_output=True, text=True, check=True).stdout
    return next((line for line in out.splitlines() if line.startswith("plain training rate")), out.strip())


def worktree(commit: str, into: Path) -> Path:
    """``commit`` checked out (detached) under ``into``."""
    path = into / f"ref-{commit}"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(path), commit],
                   check=True, capture_output=True)
    return path


def timed_run(code: Path, workdir: Path, log: Path | None = None) -> dict[str, float | str]:
    """``policysearch run`` from ``code``, in the fresh ``workdir``: phase seconds, total, and its last line
    (its whole output written to ``log`` when given)."""
    workdir.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(code)}
    start = time.perf_counter()
    marks: dict[str, float] = {}
    last, lines = "", []
    with subprocess.Popen([sys.executable, "-m", "policysearch", "run"], cwd=workdir, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as process:
        for line in process.stdout:
            now = time.perf_counter() - start
            text = line.strip()
            if "trials" not in marks and (text.startswith("ablation") or "rung" in text):
                marks["trials"] = now
            if "rung" not in marks and "verdict" in text:
                marks["rung"] = now
            last = text or last
            lines.append(line)
    total = time.perf_counter() - start
    if log is not None:
        log.write_text("".join(lines))
    if process.returncode != 0:
        raise SystemExit(f"policysearch run from {code} failed ({process.returncode}): {last}")
    trials = marks.get("trials", total)
    rung = marks.get("rung", trials)
    return {"trials": trials, "rung": rung - trials, "verdict": total - rung, "total": total, "last": last}


def row(label: str, run: dict) -> str:
    return f"{label:<26} " + " ".join(f"{run[p]:>8.0f}" for p in (*PHASES, "total"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference", default="cabdf10", help="a commit to compare with, or none")
    parser.add_argument("--reference-repeats", type=int, help="runs of the reference (default: --repeats)")
    parser.add_argument("--logs", type=Path, help="a directory to keep each run's output in")
    args = parser.parse_args()
    print(plain_rate(), f"({os.environ.get('OMP_NUM_THREADS', 'default')} OMP threads)", flush=True)
    with tempfile.TemporaryDirectory(prefix="default-run-") as tmp:
        codes = {"this checkout": ROOT}
        if args.reference != "none":
            codes[args.reference] = worktree(args.reference, Path(tmp))
        runs: dict[str, list[dict]] = {label: [] for label in codes}
        print(f"{'run (seconds)':<26} " + " ".join(f"{p:>8}" for p in (*PHASES, "total")), flush=True)
        for k in range(args.repeats):
            order = list(codes) if k % 2 == 0 else list(reversed(codes))  # neither always runs first
            for label in order:
                if label != "this checkout" and k >= (args.reference_repeats or args.repeats):
                    continue
                name = f"{label.replace(' ', '-')}-{k + 1}"
                log = None
                if args.logs is not None:
                    args.logs.mkdir(parents=True, exist_ok=True)
                    log = args.logs / f"{name}.txt"
                run = timed_run(codes[label], Path(tmp) / name, log)
                runs[label].append(run)
                print(row(f"{label} #{k + 1}", run), flush=True)
                print(f"    {run['last']}", flush=True)
        medians = {label: {p: statistics.median(r[p] for r in rs) for p in (*PHASES, "total")}
                   for label, rs in runs.items()}
        for label, median in medians.items():
            print(row(f"{label} (median)", median))
        if args.reference != "none":
            ratio = medians["this checkout"]["total"] / medians[args.reference]["total"]
            print(f"this checkout / {args.reference}: {ratio:.2f}x the time (medians of {len(runs['this checkout'])} "
                  f"and {len(runs[args.reference])} runs)")
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                            str(codes[args.reference])], check=False, capture_output=True)


if __name__ == "__main__":
    main()
