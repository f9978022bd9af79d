"""`labctl validate` rejects what later commands reject, each with file:line; bad flags and
files end in one message, a hint and exit 1 or 2, never a traceback (issue 11 items 4 and 5).

Run in-process through `labctl.cli.main` (no subprocess per case) to stay fast."""

from __future__ import annotations

import contextlib
import io
import sys
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labctl import paths

SHIPPED = paths.packaged_catalog().read_text(encoding="utf-8")
TEAM_AT = SHIPPED.index("\nteam:\n") + 1


def run(*args: str) -> tuple[int, str]:
    """`labctl ARGS` in this process: (exit code, stderr)."""
    from labctl import cli

    stderr = io.StringIO()
    argv = sys.argv
    sys.argv = ["labctl", *args]
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            cli.main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, stderr.getvalue()


def team_section(body: str) -> str:
    """The shipped catalog with its `team:` section replaced by `body` (indented lines)."""
    end = SHIPPED.index("\n\n", TEAM_AT) if "\n\n" in SHIPPED[TEAM_AT:] else len(SHIPPED)
    rest = SHIPPED[end:]
    nxt = [i for i, line in enumerate(rest.splitlines(True)) if line[:1].isalpha()]
    tail = "".join(rest.splitlines(True)[nxt[0] :]) if nxt else ""
    return SHIPPED[:TEAM_AT] + "team:\n" + body + "\n" + tail


@pytest.fixture
def write(home, tmp_path):
    def put(text: str | bytes, name: str = "labs.yaml"):
        path = tmp_path / name
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
        return path

    return put


def test_the_shipped_catalog_validates(write):
    code, err = run("validate", str(write(SHIPPED)))
    assert code == 0, err


@pytest.mark.parametrize(
    ("team", "needle"),
    [
        ("  monthly_budget_usd: -5", "team.monthly_budget_usd: Input should be greater than 0"),
        ("  monthly_budget_usd: 0", "greater than 0"),
        ("  monthly_budget_usd: three hundred", "valid number"),
        ("  alert_thresholds: [75, 50]", "strictly increasing"),
        ("  alert_thresholds: [50, 5000]", "team.alert_thresholds.1"),
        ("  alerts: {smtp: {host: mail.example.com, password: hunter2}}",
         "must not be in a file"),
        ("  engineers: {ana: {monthly_budget_usd: -1}}", "team.engineers.ana"),
    ],
)  # fmt: skip
def test_team_section_problems_fail_validate_with_file_line(write, team, needle):
    path = write(team_section(team))
    code, err = run("validate", str(path))
    assert code == 1 and needle in err and f"{path}:" in err, err
    assert "hunter2" not in err


def test_team_file_is_validated_too(write, monkeypatch):
    team = write("team:\n  monthly_budget_usd: '300'\n", "team.yaml")
    monkeypatch.setenv("LABCTL_TEAM", str(team))
    code, err = run("validate", str(write(SHIPPED)))
    assert code == 1 and f"{team}:2: team.monthly_budget_usd" in err, err


def test_duplicate_labs_and_keys_are_refused_with_both_lines(write):
    start = SHIPPED.index("\n  churn-pipeline:\n") + 1
    end = SHIPPED.index("\n  fraud-detection:\n") + 1
    doubled = SHIPPED[:end] + SHIPPED[start:end] + SHIPPED[end:]
    code, err = run("validate", str(write(doubled)))
    line = doubled[:end].count("\n") + 1
    assert code == 1 and f":{line}: duplicate key 'churn-pipeline'" in err, err
    code, err = run("validate", str(write("labs:\n  a: {title: x}\n  a: {title: y}\n")))
    assert code == 1 and "labs.yaml:3: duplicate key 'a' (first at line 2)" in err


def test_absurd_sizes_are_refused(write):
    text = SHIPPED.replace("rows: 10000\n", "rows: 1.0e+30\n", 1)
    code, err = run("validate", str(write(text)))
    assert code == 1 and ".rows:" in err, err


def test_alias_bomb_fails_fast(write):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = "\n".join(lines) + "\n"
    assert len(bomb) < 450
    started = time.monotonic()
    code, err = run("validate", str(write(bomb)))
    assert code == 1 and "aliases expand" in err and time.monotonic() - started < 2


def test_small_aliases_and_merge_keys_still_work(home):
    from labctl import safe_yaml

    assert safe_yaml.load_yaml("base: &b {x: 1}\nuse: {<<: *b, y: 2}\n", "f") == {
        "base": {"x": 1},
        "use": {"x": 1, "y": 2},
    }


@pytest.mark.parametrize("name", ["labs.yaml", "team.yaml", "config.toml"])
def test_non_utf8_files_are_named_with_their_line(write, monkeypatch, name):
    bad = write(b"# ok\nx: \xff\xfe\n", name)
    catalog = str(write(SHIPPED, "good.yaml"))
    if name == "team.yaml":
        monkeypatch.setenv("LABCTL_TEAM", str(bad))
    if name == "config.toml":
        monkeypatch.setenv("LABCTL_CONFIG", str(bad))
        from labctl import config

        config.settings.cache_clear()
        code, err = run("status")
    else:
        code, err = run("validate", catalog if name == "team.yaml" else str(bad))
    assert code == 1 and f"{bad}:2: not UTF-8" in err and "hint:" in err, err


@pytest.mark.parametrize(
    "args",
    [
        ("plan", "churn-pipeline", "--autostop", "99999999999d"),
        ("cost", "report", "--month", "0000-01"),
        ("cost", "report", "--month", "9999-12"),
        ("cost", "sync", "--month", "9999-12"),
        ("cost", "report", "--html", "{folder}"),
        ("cost", "report", "--html", "{folder}/missing/r.html"),
    ],
)
def test_bad_flags_end_in_one_message_a_hint_and_exit_2(home, tmp_path, args):
    code, err = run(*(a.format(folder=tmp_path) for a in args))
    assert code == 2 and "error:" in err and "hint:" in err and "Traceback" not in err, err


# --- property: mutate labs.yaml and the team section --------------------------------------------

LINES = SHIPPED.splitlines()
VALUES = st.one_of(
    st.integers(-(10**40), 10**40).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=20),
    st.sampled_from(
        [
            "&x [1]",
            "*x",
            "*nope",
            "{",
            "[",
            "~",
            "- a",
            "1.0e+30",
            "'",
            "\t",
            "!!python/object:os.system ls",
        ]
    ),
)
TEAM_KEYS = ["monthly_budget_usd", "alert_thresholds", "engineers", "alerts", "billing", "smtp",
             "password", "settle_days", "emails", "webhook"]  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    st.lists(st.tuples(st.integers(0, len(LINES) - 1), VALUES, st.booleans()), max_size=3),
    st.lists(st.tuples(st.sampled_from(TEAM_KEYS), VALUES), max_size=3),
)
def test_mutated_catalogs_never_trace_back_or_hang(tmp_path_factory, lines, team):
    """Replace or duplicate a few lines' values, and fill the team section with junk:
    validate answers within 5 s with exit 0 (still valid), 1 or 2, and never a traceback."""
    text = list(LINES)
    for i, value, duplicate in lines:
        key, sep, _ = text[i].partition(":")
        new = f"{key}: {value}" if sep else value
        text[i:i + 1] = [text[i], new] if duplicate else [new]  # fmt: skip
    mutated = "\n".join(text) + "\n"
    if team:
        body = "\n".join(f"  {k}: {v}" for k, v in team)
        mutated = team_section(body) if mutated == SHIPPED else mutated + "\nteam:\n" + body + "\n"
    path = tmp_path_factory.mktemp("mut") / "labs.yaml"
    path.write_bytes(mutated.encode("utf-8", "surrogatepass"))
    started = time.monotonic()
    code, err = run("validate", str(path))
    assert time.monotonic() - started < 5
    assert code in (0, 1, 2) and "Traceback" not in err, err
    if code:
        assert "error:" in err and (f"{path}:" in err or "--" in err), err
