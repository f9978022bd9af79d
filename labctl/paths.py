"""Every location labctl reads or writes, resolved in one place.

Everything labctl writes lives under `LABCTL_HOME` (default `~/.labctl`) so tests can point it at
a temporary folder. Shipped files (the catalog, the Terraform modules) are found inside the
installed package (`labctl/_bundled/`, put there by the wheel build) or, in a source checkout,
at the repository's top level.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
_BUNDLED = PACKAGE_DIR / "_bundled"
_CHECKOUT = PACKAGE_DIR.parent


def home() -> Path:
    """`$LABCTL_HOME`, default `~/.labctl`."""
    return Path(os.environ.get("LABCTL_HOME") or Path.home() / ".labctl").expanduser()


def ensure_home() -> Path:
    """`LABCTL_HOME`, created (parents too) and kept at mode 0700 whatever the umask."""
    return private_dir(home())


def private_dir(path: Path) -> Path:
    """A folder only its owner can enter (0700), created if missing, tightened if not."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o777 != 0o700:
        path.chmod(0o700)
    return path


def private_file(path: Path) -> Path:
    """A file only its owner can read or write (0600): created empty if missing (never
    truncated), tightened if it exists. For the ledger, Terraform state and logs."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        if os.fstat(fd).st_mode & 0o777 != 0o600:
            os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    return path


def shipped(relative: str) -> Path:
    """A file shipped with labctl: the wheel's bundled copy, else the source checkout's."""
    bundled = _BUNDLED / relative
    return bundled if bundled.exists() else _CHECKOUT / relative


def packaged_catalog() -> Path:
    return shipped("labs.yaml")


def catalog_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """--catalog FILE, else $LABCTL_CATALOG, else ./labs.yaml, else the packaged catalog."""
    if explicit:
        return Path(explicit)
    if os.environ.get("LABCTL_CATALOG"):
        return Path(os.environ["LABCTL_CATALOG"])
    local = Path.cwd() / "labs.yaml"
    return local if local.is_file() else packaged_catalog()


def terraform_modules() -> Path:
    return shipped("terraform/modules")


def data_file(name: str) -> Path:
    """A data file inside the package (`labctl/data/`), e.g. the price catalog."""
    return PACKAGE_DIR / "data" / name


def user_config() -> Path:
    """`$LABCTL_CONFIG`, else `$XDG_CONFIG_HOME/labctl/config.toml` (`~/.config/...`)."""
    if os.environ.get("LABCTL_CONFIG"):
        return Path(os.environ["LABCTL_CONFIG"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "labctl" / "config.toml"


def ledger_url() -> str:
    """`$LABCTL_DB_URL`, else SQLite at `$LABCTL_HOME/ledger.db`."""
    return os.environ.get("LABCTL_DB_URL") or f"sqlite:///{home() / 'ledger.db'}"


def slug(text: str) -> str:
    """A name safe for folders and cloud resource names: lowercase, [a-z0-9-]."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def engineer_folder(engineer: str) -> str:
    """One engineer's folder name: a readable slug plus a hash of the normalised identity
    (`a.b@x.io` -> `a-b-x-io-<hash>`), so no two identities share a folder."""
    from labctl.naming import identity, identity_hash

    return f"{slug(identity(engineer))[:40].rstrip('-')}-{identity_hash(engineer)}"


def workspace(engineer: str, lab: str, target: str) -> Path:
    """The folder of one (engineer, lab, target): rendered Terraform, state, local bucket, logs."""
    return home() / "workspaces" / engineer_folder(engineer) / lab / target


def plugin_cache() -> Path:
    """Where the shipped Terraform providers are laid out as a `-plugin-dir`."""
    return home() / "terraform-plugins"
