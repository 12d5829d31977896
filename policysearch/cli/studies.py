"""``policysearch show``, ``export``, ``report`` and ``dashboard``: reading studies that exist.

Example:
    >>> from policysearch.cli import main
    >>> import io, contextlib
    >>> with contextlib.redirect_stdout(io.StringIO()) as out:
    ...     status = main(["show", "--study", tiny_study().study_name, "--storage", tiny_config().storage_url])
    >>> status, out.getvalue().splitlines()[0].startswith("study 'doctest'")
    (0, True)
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["study_arguments", "run_show", "export_arguments", "run_export", "report_arguments", "run_report",
           "dashboard_arguments", "run_dashboard"]


def study_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--study", help="study name (default: the default run's study)")
    parser.add_argument("--storage", help="storage URL (default sqlite:///studies/policysearch.db)")


def _open_existing(args: argparse.Namespace) -> Any:
    from policysearch.search.configuration.config import RunConfig
    from policysearch.search.study.storage import load_existing_study

    default = RunConfig()
    return load_existing_study(args.study or default.study_name, args.storage or default.storage_url)


def run_show(args: argparse.Namespace) -> int:
    from policysearch.search.outputs.report import describe_study

    print(describe_study(_open_existing(args)))
    return 0


def export_arguments(parser: argparse.ArgumentParser) -> None:
    study_arguments(parser)
    parser.add_argument("--format", default="json", metavar="FORMAT",
                        help="json (default), torchvision, timm, albumentations or kornia; README lists which are exact")
    parser.add_argument("--policy", metavar="FILE", help="convert this policy JSON instead of a study's best")
    parser.add_argument("-o", "--output", metavar="FILE",
                        help="default studies/<study>/best_policy.json (best_policy_<format>.py/.json for others)")


def run_export(args: argparse.Namespace) -> int:
    from policysearch.errors import ConfigError
    from policysearch.policy import EXPORT_FORMATS, load_policy, write_export
    from policysearch.search.outputs.export import best_policy, export_study

    if args.format not in EXPORT_FORMATS:
        raise ConfigError(f"--format should be one of {list(EXPORT_FORMATS)}, but got {args.format!r}")
    if args.policy is None:
        study = _open_existing(args)
        policy = best_policy(study)
        written = export_study(study, args.output, fmt=args.format)
    elif args.output is None:
        raise ConfigError("--policy needs -o/--output: where to write the converted policy")
    else:
        policy = load_policy(args.policy)
        try:
            written = write_export(policy, args.format, args.output)
        except OSError as exc:
            raise ConfigError(f"cannot write {args.output!r}: {exc.strerror or exc}") from None
    print(f"wrote {written} ({args.format}, {EXPORT_FORMATS[args.format].fidelity_for(policy)})")
    return 0


def report_arguments(parser: argparse.ArgumentParser) -> None:
    study_arguments(parser)
    parser.add_argument("-o", "--output", metavar="DIR", help="default studies/<study>/report")


def run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from policysearch.search.outputs.report import write_report

    study = _open_existing(args)
    folder = Path(args.output or Path("studies") / study.study_name / "report")
    written = write_report(study, folder)
    drawn = [p.name for p in written.values() if isinstance(p, Path)]
    print(f"wrote {folder}: {', '.join(drawn)}")
    for name, reason in written.items():
        if not isinstance(reason, Path):  # a plot the study cannot give yet: say why, the rest still stand
            print(f"  {name}: not drawn ({reason})")
    return 0


def dashboard_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--storage", help="storage URL (default sqlite:///studies/policysearch.db)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--artifacts", metavar="DIR",
                        help="the trials' previews (default: artifacts/ beside the SQLite or journal file)")


def run_dashboard(args: argparse.Namespace) -> int:
    from policysearch.errors import ConfigError
    from policysearch.search.configuration.config import RunConfig
    from policysearch.search.outputs.artifacts import artifact_dir, artifact_store
    from policysearch.search.study.storage import make_storage, redact

    try:
        from optuna_dashboard import run_server
    except ImportError:
        raise ConfigError("the dashboard needs optuna-dashboard: pip install optuna-dashboard") from None
    url = args.storage or RunConfig().storage_url
    storage = make_storage(url)
    folder = args.artifacts or artifact_dir(url, RunConfig().output_dir)
    try:
        store = artifact_store(folder)
    except OSError as exc:
        raise ConfigError(f"cannot use {str(folder)!r} for artifacts: {exc.strerror or exc}") from None
    print(f"Optuna dashboard for {redact(url)} at http://{args.host}:{args.port}/ (Ctrl-C stops it)", flush=True)
    try:
        run_server(storage, host=args.host, port=args.port, artifact_store=store)
    except OSError as exc:
        raise ConfigError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from None
    except KeyboardInterrupt:
        pass
    return 0
