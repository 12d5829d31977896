"""README.md stays short, its links lead somewhere, and every command it shows still runs.

Every ``policysearch ...`` line of README's code blocks is parsed with the real
command-line parser (:func:`policysearch.cli.main.build_parser`). The cheap ones
then run for real, in a sandbox folder laid out as the README assumes: a tiny
real study (scikit-learn's digits, ``tiny-cnn``, one-epoch trials, a verdict)
stored under the default study name in ``studies/policysearch.db``, so
``policysearch show``, ``export`` and ``report`` run exactly as printed; the
trainings (``train``, ``distill``, ``verify``) run as printed plus flags that
shrink them (given last, so they override the README's). ``policysearch run``
is minutes long: its line must parse and its configuration load, and the bare
``policysearch run`` must load the shipped default, studies/fashion-mnist.toml.
``dashboard`` starts a server: its lines must parse.

Links: every relative link of README.md and of docs/*.md must name a file that
exists and, with ``#anchor``, a heading of that file (GitHub's anchors).
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

import pytest

from policysearch.cli.main import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
MAX_LINES = 300
STUDY = "fashion-mnist-efficientnet-lite0"  # the default run's study: `show`, `export`, `report` read it
POLICY = f"studies/{STUDY}/best_policy.json"

# A tiny search stored where the default run stores its own: digits, tiny-cnn, a verdict of 2 seeds.
TINY_DATA = ["--dataset", "digits", "--model", "tiny-cnn", "--weights", "none", "--image-size", "8", "--device", "cpu"]
SANDBOX_RUN = ["run", *TINY_DATA, "--train-size", "200", "--val-size", "100", "--epochs", "1", "--trials", "5",
               "--rung-candidates", "0", "--target-train-size", "200", "--target-epochs", "1", "--final-seeds", "2",
               "--study", STUDY]
# Appended to README's training commands: the same command, a few seconds long.
SHRINK = {
    "train": ["--train-size", "200", "--val-size", "100", "--test-size", "200", "--epochs", "1", "--device", "cpu"],
    "distill": ["--train-size", "200", "--val-size", "100", "--test-size", "200", "--epochs", "1", "--device", "cpu"],
    "verify": ["--target-train-size", "200", "--target-epochs", "1", "--seeds", "2", "--device", "cpu"],
}
RUN_AS_PRINTED = {"show", "export", "report", "preview"}
PARSE_ONLY = {"dashboard"}  # starts a server
CONFIG_ONLY = {"run"}  # minutes long: parses, and its configuration loads


# ---------------------------------------------------------------- reading the markdown


def code_blocks(text: str) -> list[tuple[int, list[str]]]:
    """The fenced code blocks of ``text``: (line number of the first line, its lines).

    Example:
        >>> code_blocks("a\\n```bash\\nx\\ny\\n```\\nb")
        [(3, ['x', 'y'])]
    """
    blocks, current, start = [], None, 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("```"):
            if current is None:
                current, start = [], number + 1
            else:
                blocks.append((start, current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def commands(text: str) -> list[tuple[int, str]]:
    """Every ``policysearch ...`` command of the code blocks: (line number, the command without its comment).

    Lines ending in ``\\`` continue on the next one.

    Example:
        >>> commands("```bash\\npolicysearch run --trials 3   # three\\npolicysearch show \\\\\\n  --study s\\n```")
        [(2, 'policysearch run --trials 3'), (3, 'policysearch show --study s')]
    """
    found = []
    for start, lines in code_blocks(text):
        joined, first = "", None
        for number, line in enumerate(lines, start):
            if first is None:
                first = number
            joined += line.rstrip()
            if joined.endswith("\\"):
                joined = joined[:-1].rstrip() + " "
                continue
            stripped = joined.strip().removeprefix("$ ")
            if stripped.startswith("policysearch ") or stripped == "policysearch":
                found.append((first, " ".join(shlex.split(stripped, comments=True))))
            joined, first = "", None
    return found


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but ``-`` and ``_`` dropped, spaces to ``-``.

    Example:
        >>> slug("Time budget: `--budget 5m`")
        'time-budget---budget-5m'
    """
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of a markdown file's headings (outside code blocks; repeats get ``-1``, ``-2``)."""
    found: set[str] = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line):
            base = slug(line.lstrip("#"))
            name, repeat = base, 0
            while name in found:
                repeat += 1
                name = f"{base}-{repeat}"
            found.add(name)
    return found


def links(path: Path) -> list[tuple[int, str]]:
    """The relative link targets of a markdown file (outside code blocks): (line number, target)."""
    found, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        for target in re.findall(r"\]\(([^)\s]+)\)", re.sub(r"`[^`]*`", "", line)):
            if not re.match(r"[a-z]+:", target):
                found.append((number, target))
    return found


def broken_links(path: Path) -> list[str]:
    """Each relative link of ``path`` whose file or anchor does not exist, as ``FILE:LINE: target (why)``."""
    broken = []
    for number, target in links(path):
        name, _, anchor = target.partition("#")
        linked = (path.parent / name).resolve() if name else path
        where = f"{path.relative_to(ROOT)}:{number}: {target}"
        if not linked.exists():
            broken.append(f"{where} (no such file)")
        elif anchor and (linked.suffix != ".md" or anchor not in anchors(linked)):
            broken.append(f"{where} (no heading with that anchor in {linked.relative_to(ROOT)})")
    return broken


README_COMMANDS = commands(README.read_text(encoding="utf-8"))


def argv_of(command: str) -> list[str]:
    return shlex.split(command)[1:]


# ---------------------------------------------------------------- the README itself


def test_readme_is_short():
    lines = len(README.read_text(encoding="utf-8").splitlines())
    assert lines < MAX_LINES, f"README.md has {lines} lines; move detail to docs/ (at most {MAX_LINES - 1})"


def test_readme_keeps_the_ci_test_command_and_every_command_of_the_tool():
    """.ci/run calls README's test command; the README shows each command of the tool at least once."""
    text = README.read_text(encoding="utf-8")
    assert "bash setup.sh && python3 -m pytest -q\n" in text
    assert "python3 -m pytest -q" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    shown = {argv_of(command)[0] for _, command in README_COMMANDS if argv_of(command)}
    assert {"run", "show", "export", "report", "dashboard", "train", "distill", "verify", "preview"} <= shown
    assert any(command == "policysearch run" for _, command in README_COMMANDS)


def test_every_link_of_the_readme_and_the_docs_leads_to_a_file_and_a_heading():
    pages = [README, *sorted(DOCS.glob("*.md"))]
    assert len(pages) > 1, "docs/ holds the README's detail"
    broken = [entry for page in pages for entry in broken_links(page)]
    assert not broken, "\n".join(broken)


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / target.partition("#")[0]).resolve() for _, target in links(README)}
    unlinked = [page.name for page in sorted(DOCS.glob("*.md")) if page.resolve() not in linked]
    assert not unlinked, f"docs pages the README does not link: {unlinked}"


def test_the_link_check_finds_a_missing_file_and_a_missing_anchor(tmp_path, monkeypatch):
    """The checker itself: a good link passes, a missing file and a missing heading are each named."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Time budget: `--budget 5m`\n\n## Again\n\n## Again\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/a.md#time-budget---budget-5m) [ok](docs/a.md#again-1) [web](https://x.org/#y)\n"
                    "`[in code](docs/none.md)`\n"
                    "[gone](docs/none.md) [bad](docs/a.md#nothing-here)\n```\n[in a block](docs/none.md)\n```\n")
    broken = broken_links(page)
    assert broken == ["README.md:3: docs/none.md (no such file)",
                      "README.md:3: docs/a.md#nothing-here (no heading with that anchor in docs/a.md)"]


# ---------------------------------------------------------------- every command parses


@pytest.mark.parametrize("command", [command for _, command in README_COMMANDS])
def test_readme_command_parses_with_the_real_parser(command, capsys):
    argv = argv_of(command)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        assert exc.code == 0 and {"-h", "--help", "--version"} & set(argv), (
            f"`{command}` does not parse: {capsys.readouterr().err.strip().splitlines()[-1:]}")
        return
    assert args.command in RUN_AS_PRINTED | PARSE_ONLY | CONFIG_ONLY | set(SHRINK), (
        f"`{command}`: say in tests/test_readme.py how its command is checked")


@pytest.mark.parametrize("command", [c for _, c in README_COMMANDS if argv_of(c)[:1] == ["run"]])
def test_readme_run_command_loads_its_configuration(command, monkeypatch):
    from policysearch.cli.run import RUN_FLAGS
    from policysearch.search.configuration.config import RunConfig, load_config

    monkeypatch.chdir(ROOT)  # --config paths are relative to the repository, as README's are
    args = build_parser().parse_args(argv_of(command))
    overrides = {flag.replace("-", "_"): getattr(args, flag.replace("-", "_")) for flag in RUN_FLAGS}
    config = load_config(args.config, {**overrides, "final": args.final})
    if command == "policysearch run":  # the default run: exactly the shipped default file
        assert config == load_config(ROOT / "studies" / "fashion-mnist.toml") == RunConfig()
        assert config.study_name == STUDY and config.trials == 20


def test_the_command_extraction_reads_continued_lines_and_skips_output_and_comments():
    text = ("```bash\npolicysearch distill --teacher t \\\n    --student s -o r   # comment\n"
            "# policysearch show\npolicysearch: error: budget 1m30s is too small\n```\n"
            "policysearch show outside a block\n```\n$ policysearch --help\n```\n")
    assert commands(text) == [(2, "policysearch distill --teacher t --student s -o r"), (9, "policysearch --help")]


# ---------------------------------------------------------------- the cheap commands run


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    """A folder laid out as README assumes: a real tiny study under the default study name and storage."""
    folder = tmp_path_factory.mktemp("readme")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        assert main(SANDBOX_RUN) == 0
    assert (folder / POLICY).exists()
    return folder


def _teacher_for(argv: list[str]) -> None:
    """A distill command's teachers, trained tiny where README's own `train` line has not made them yet."""
    for index, arg in enumerate(argv[:-1]):
        if arg == "--teacher" and not Path(argv[index + 1], "model.pt").exists():
            assert main(["train", "--policy", POLICY, "-o", argv[index + 1], *SHRINK["train"]]) == 0


RUNNABLE = [c for _, c in README_COMMANDS
            if argv_of(c)[:1] and argv_of(c)[0] in RUN_AS_PRINTED | set(SHRINK) or argv_of(c)[:1] == ["--help"]]


@pytest.mark.slow
@pytest.mark.parametrize("command", RUNNABLE)
def test_readme_command_runs(command, sandbox, monkeypatch, capsys):
    monkeypatch.chdir(sandbox)
    argv = argv_of(command)
    if argv[0] == "distill":
        _teacher_for(argv)
    status = main([*argv, *SHRINK.get(argv[0], [])])
    out, err = capsys.readouterr()
    assert status == 0, f"`{command}` exited {status}: {err.strip()}"
    for flag in ("-o", "--output"):
        if flag in argv:
            assert Path(argv[argv.index(flag) + 1]).exists(), f"`{command}` wrote nothing at its -o"
    if argv[0] == "show":
        assert f"study '{STUDY}'" in out
    if argv[0] == "verify":
        assert "no_augmentation" in out and "verdict" in out.lower()


def test_some_readme_commands_really_run():
    """The run test above must cover the commands a user would try first, not only parse them."""
    ran = {argv_of(c)[0] for c in RUNNABLE}
    assert {"show", "export", "report", "train", "verify"} <= ran
