"""Issue 11's edges: one workspace per identity, a private LABCTL_HOME, and a ledger that is
never silently replaced (damaged, empty, newer, in memory, missing driver or folder)."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from labctl import config, naming, paths
from labctl.errors import LabctlError, Refused
from labctl.ledger import HEAD, Ledger


@pytest.mark.parametrize(
    ("one", "other"),
    [("a.b@x.io", "a@b.x.io"), ("ana@x.io", "ana@y.io"), ("a_b@x.io", "a-b@x.io")],
)
def test_lookalike_identities_get_their_own_workspace_and_cloud_names(home, one, other):
    assert paths.workspace(one, "lab", "aws") != paths.workspace(other, "lab", "aws")
    assert naming.name_prefix(one, "churn-pipeline") != naming.name_prefix(other, "churn-pipeline")
    folder = paths.engineer_folder(one)
    assert folder.startswith(paths.slug(one)) and folder == paths.engineer_folder(one)


def test_email_case_is_one_engineer(home):
    """Decided: the whole identity is lower-cased (as most identity providers treat e-mail)."""
    assert config.engineer(" Ana@X.io ") == "ana@x.io"
    assert paths.workspace("Ana@X.io", "l", "aws") == paths.workspace("ana@x.io", "l", "aws")
    with pytest.raises(LabctlError, match="empty"):
        config.engineer("   ")


def test_home_and_ledger_are_private_whatever_the_umask(home):
    old = os.umask(0o022)
    try:
        home.mkdir(mode=0o755)
        Ledger()
    finally:
        os.umask(old)
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "ledger.db").stat().st_mode) == 0o600
    log = paths.private_file(home / "x.log")
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    log.write_text("kept")
    paths.private_file(log)  # never truncates
    assert log.read_text() == "kept"


def test_workspace_paths_are_relative_and_follow_a_moved_home(home, monkeypatch, tmp_path):
    ws = paths.workspace("ana@x.io", "churn-pipeline", "local")
    run = Ledger().start_run(engineer="ana@x.io", lab="churn-pipeline", target="local",
                             workspace=str(ws))  # fmt: skip
    other = Ledger().start_run(engineer="bob", lab="l", target="aws", workspace="/elsewhere/w")
    with sqlite3.connect(home / "ledger.db") as db:
        stored = dict(db.execute("SELECT id, workspace FROM runs"))
    assert stored[run.id] == str(ws.relative_to(home)) and stored[other.id] == "/elsewhere/w"
    moved = tmp_path / "moved"
    home.rename(moved)
    monkeypatch.setenv("LABCTL_HOME", str(moved))
    assert Ledger().get_run(run.id).workspace == str(moved / ws.relative_to(home))
    assert Ledger().get_run(other.id).workspace == "/elsewhere/w"


def test_migration_0005_normalises_engineers_and_relativises_workspaces(home, db):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    engine = create_engine(db)
    cfg = Config()
    cfg.set_main_option("script_location", str(paths.PACKAGE_DIR / "migrations"))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
        conn.execute(text(
            "INSERT INTO runs (id, engineer, lab, target, status, workspace, created_at, outputs) "
            "VALUES ('r1', 'Ana@X.io', 'l', 'local', 'up', :ws, '2026-11-01 00:00:00', '{}'), "
            "('r2', 'bob', 'l', 'aws', 'up', '/other/home/w', '2026-11-01 00:00:00', '{}')"
        ), {"ws": str(home / "workspaces" / "ana-x-io" / "l" / "local")})  # fmt: skip
    engine.dispose()
    ledger = Ledger()
    (ana,) = ledger.active_runs(engineer="ana@x.io")
    assert ana.workspace == str(home / "workspaces" / "ana-x-io" / "l" / "local")  # not moved
    with ledger.session() as s:
        raw = dict(s.execute(text("SELECT id, workspace FROM runs")).all())
        version = s.execute(text("SELECT version_num FROM alembic_version")).scalar()
    assert raw == {"r1": "workspaces/ana-x-io/l/local", "r2": "/other/home/w"}
    assert version == HEAD  # 0005 ran, and every revision after it


def _workspace_left_behind(home):
    (home / "workspaces" / "ana-x-io-0123456789" / "churn-pipeline" / "local").mkdir(parents=True)


def test_zero_byte_ledger_with_workspaces_is_refused_not_replaced(home):
    _workspace_left_behind(home)
    (home / "ledger.db").write_bytes(b"")
    with pytest.raises(LabctlError) as info:
        Ledger()
    assert "empty (0 bytes)" in info.value.message and "backup" in info.value.hint
    assert (home / "ledger.db").stat().st_size == 0


def test_zero_byte_ledger_without_workspaces_starts_a_ledger(home):
    home.mkdir()
    (home / "ledger.db").write_bytes(b"")
    assert Ledger().active_runs() == []


def test_a_deleted_ledgers_wal_files_do_not_block_a_new_one(home):
    """`rm ledger.db` (then `labctl sweep`) leaves -wal/-shm behind: set aside, never replayed."""
    led = Ledger()
    run = led.start_run(engineer="ana@x.io", lab="l", target="local", workspace=str(home / "w"))
    led.engine.dispose()
    db = sqlite3.connect(home / "ledger.db")  # a WAL as a killed labctl leaves it
    db.execute("PRAGMA wal_autocheckpoint=0")
    db.execute("UPDATE runs SET status='up' WHERE id=?", (run.id,))
    db.commit()
    wal = (home / "ledger.db-wal").read_bytes()
    shm = (home / "ledger.db-shm").read_bytes()
    db.close()
    (home / "ledger.db").unlink()
    (home / "ledger.db-wal").write_bytes(wal)
    (home / "ledger.db-shm").write_bytes(shm)
    assert wal and shm
    assert Ledger().active_runs() == []  # a new, empty ledger: no disk I/O error
    assert (home / "ledger.db-wal.orphaned").read_bytes() == wal


def test_damaged_ledger_is_an_error_and_left_as_it_is(home):
    home.mkdir()
    junk = b"this is not a database" * 100
    (home / "ledger.db").write_bytes(junk)
    with pytest.raises(LabctlError) as info:
        Ledger()
    assert "never replaced" in info.value.hint and "Traceback" not in info.value.message
    assert (home / "ledger.db").read_bytes() == junk


def test_ledger_from_a_newer_labctl_says_upgrade(home):
    Ledger()
    with sqlite3.connect(home / "ledger.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    with pytest.raises(LabctlError) as info:
        Ledger()
    assert "newer labctl" in info.value.message and "upgrade labctl" in info.value.hint


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_ledger_is_refused(home, url):
    with pytest.raises(Refused, match="in memory"):
        Ledger(url)


def test_missing_driver_and_missing_folder(home, tmp_path):
    with pytest.raises(LabctlError) as info:
        Ledger("postgresql+pg8000://u@localhost/db")
    assert "pg8000" in info.value.message and "pip install" in info.value.hint
    with pytest.raises(LabctlError, match="does not exist"):
        Ledger(f"sqlite:///{tmp_path}/no/such/folder/ledger.db")


@pytest.mark.parametrize(
    ("setup", "code", "needle"),
    [
        ("zero", 1, "empty (0 bytes)"),
        ("damaged", 1, "cannot open the ledger"),
        ("newer", 1, "upgrade labctl"),
        ("memory", 3, "in memory"),
        ("driver", 1, "no database driver"),
        ("folder", 1, "does not exist"),
    ],
)
def test_bad_ledgers_end_in_one_message_and_a_hint(cli, home, tmp_path, setup, code, needle):
    env = {}
    if setup in ("zero", "damaged", "newer"):
        _workspace_left_behind(home)
        if setup == "newer":
            Ledger()
            with sqlite3.connect(home / "ledger.db") as db:
                db.execute("UPDATE alembic_version SET version_num = '0099'")
        else:
            (home / "ledger.db").write_bytes(b"" if setup == "zero" else b"\x00garbage" * 64)
    else:
        env["LABCTL_DB_URL"] = {
            "memory": "sqlite://",
            "driver": "mysql+mysqldb://u@localhost/db",
            "folder": f"sqlite:///{tmp_path}/missing/ledger.db",
        }[setup]
    res = cli("cost", "report", env=env)
    assert res.code == code, res.stderr
    assert needle in res.stderr and "hint:" in res.stderr and "Traceback" not in res.stderr
