"""Does ``policysearch run --budget`` end within its budget, with its verdict, and run more trials given more?

Each run is ``policysearch run --budget B`` on the default dataset and model,
in a fresh directory (a fresh study, no stored target results, so every run
pays its whole verdict), with the extra flags given after ``--``. Per run it
prints the planned trials (the plan's first count), the trials that ran,
whether the verdict line came, the wall-clock seconds, and that time over
the budget; then per budget the worst ratio and the median trials.

    python bench/budget_runs.py --budgets 4m,8m --repeats 3 -- --target-train-size 500 --target-epochs 2
    python bench/budget_runs.py --budgets 1m                 # too small: one line, exit 2

The must-show reads: every ratio at most 1.10, every run with its verdict,
and the larger budget's median trials above the smaller's.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from policysearch.search.configuration.config import parse_duration

ROOT = Path(__file__).resolve().parent.parent


def one_run(budget: str, extra: list[str], workdir: Path) -> dict:
    """One budgeted run in ``workdir``: its exit status, plan, trials, verdict and seconds."""
    workdir.mkdir(parents=True)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "policysearch", "run", "--budget", budget, *extra], cwd=workdir,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    out = done.stdout + done.stderr
    planned = re.search(r"^\s+trials:\s+(\d+) x", out, re.M)
    return {"status": done.returncode, "seconds": seconds, "planned": int(planned.group(1)) if planned else None,
            "trials": len(re.findall(r"^\[\s*\d+/\d+\] trial #", out, re.M)),
            "verdict": bool(re.search(r"^verdict: ", out, re.M)), "last": out.strip().splitlines()[-1] if out else ""}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="4m,8m", help="comma-separated durations")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("extra", nargs="*", help="flags for every run (after --)")
    args = parser.parse_args()
    budgets = args.budgets.split(",")
    print(f"{'budget':>7} {'run':>4} {'exit':>5} {'planned':>8} {'trials':>7} {'verdict':>8} {'seconds':>8} "
          f"{'/budget':>8}", flush=True)
    results: dict[str, list[dict]] = {b: [] for b in budgets}
    with tempfile.TemporaryDirectory(prefix="budget-runs-") as tmp:
        for k in range(args.repeats):
            for budget in budgets:
                run = one_run(budget, args.extra, Path(tmp) / f"{budget}-{k}")
                results[budget].append(run)
                ratio = run["seconds"] / parse_duration(budget)
                print(f"{budget:>7} {k + 1:>4} {run['status']:>5} {run['planned'] or '-':>8} {run['trials']:>7} "
                      f"{'yes' if run['verdict'] else 'no':>8} {run['seconds']:>8.1f} {ratio:>8.2f}", flush=True)
                if run["status"] != 0:
                    print(f"    {run['last']}", flush=True)
    for budget, runs in results.items():
        worst = max(r["seconds"] for r in runs) / parse_duration(budget)
        print(f"{budget}: worst {worst:.2f}x the budget, median {statistics.median(r['trials'] for r in runs):.0f} "
              f"trials, verdict in {sum(r['verdict'] for r in runs)}/{len(runs)} runs")


if __name__ == "__main__":
    main()
