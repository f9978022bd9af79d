"""What `labctl list` shows, cached by the catalog's content so `list` stays fast.

Validating a catalog builds and runs some 25 pydantic models (about 0.2 s on a small machine);
`list` needs one row per lab. The rows are kept in `$LABCTL_HOME/cache/` under a hash of the
catalog file's bytes and of labctl's own schema, so an edited catalog is validated again (and its
errors shown) by the next `list`. A row also says whether the lab runs on the local target and
what one study session costs on its cloud, so the key covers the price catalog in use and the
optional packages the local target needs. A cache that cannot be read or written is not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from labctl import __version__, paths

if TYPE_CHECKING:
    from labctl.catalog import Catalog, Lab

LOCAL_OPTIONAL = ("pyspark", "mlflow")  # what the local target needs for some labs' steps


def lab_row(name: str, lab: Lab) -> dict[str, Any]:
    """The JSON shape of a lab in `labctl list --json`. `runs_locally`: the local target can run
    every step it needs; `session_usd`: one study session on the lab's cloud (None: unpriced)."""
    from labctl import cost
    from labctl.backends.base import get_backend
    from labctl.errors import LabctlError
    from labctl.prices import PriceBook

    try:
        session = cost.estimate(lab, lab.cloud, None, PriceBook.load())
        usd = None if session.unpriced else round(session.total_usd, 2)
    except LabctlError:
        usd = None  # `list` still lists it; `plan` says why it cannot be priced
    try:
        local: bool | None = not any(f.fatal for f in get_backend("local").check(lab))
    except LabctlError:
        local = None
    return {
        "name": name,
        "title": lab.title,
        "cloud": lab.cloud,
        "certs": lab.certs,
        "domains": lab.domain_ids(),
        "hours": {"min": lab.hours.min, "max": lab.hours.max},
        "steps": [s.kind for s in lab.steps],
        "runs_locally": local,
        "session_usd": usd,
    }


def index(explicit: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """`{"team": {...} | None, "certifications": [ids], "labs": [rows]}` of the catalog, from the
    cache when it has it."""
    entry = _entry(explicit)
    found = _read(entry)
    if found is not None:
        return found
    from labctl import catalog

    cat = catalog.load(explicit)
    result = {
        "team": cat.team,  # raw; validated by labctl.cost.team()
        "certifications": list(cat.certifications),
        "labs": [lab_row(name, lab) for name, lab in cat.labs.items()],
    }
    if entry is not None:
        _write(entry, result)
    return result


def _entry(explicit: str | os.PathLike[str] | None) -> Path | None:
    try:
        return _cache_file(paths.catalog_path(explicit).read_bytes())
    except OSError:
        return None  # catalog.load() reports an unreadable file


def _read(entry: Path | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    with contextlib.suppress(OSError, ValueError):
        return json.loads(entry.read_text(encoding="utf-8"))
    return None


@dataclass(frozen=True)
class TeamOnly:
    """The part of a Catalog that `cost.team()` reads, from the cache: `cost report` and `status`
    need the budgets, not 14 validated labs."""

    team: dict[str, Any] | None


def team_catalog(explicit: str | os.PathLike[str] | None = None) -> Catalog:
    """The budgets from the cache; without a cache entry the catalog itself (building the entry
    prices every lab, which `list` does, not a report)."""
    found = _read(_entry(explicit))
    if found is not None:
        return cast("Catalog", TeamOnly(found.get("team")))
    from labctl import catalog

    return catalog.load(explicit)


def _cache_file(content: bytes) -> Path:
    """The cache entry of this catalog content under this labctl (its version and schema)."""
    code = [paths.PACKAGE_DIR / "catalog.py", paths.PACKAGE_DIR / "safe_yaml.py", Path(__file__)]
    stamp = f"{__version__}:" + ":".join(str(p.stat().st_mtime_ns) for p in code)
    # every file PriceBook.load() may read: $LABCTL_PRICES, the refreshed copy, the shipped one
    prices = [os.environ.get("LABCTL_PRICES", ""), paths.home() / "prices.csv",
              paths.data_file("prices.csv")]  # fmt: skip
    stamp += ":" + ":".join(_mtime(p) for p in prices if p)
    stamp += ":" + ",".join(m for m in LOCAL_OPTIONAL if find_spec(m) is not None)
    digest = hashlib.sha256(content + stamp.encode()).hexdigest()[:32]
    return paths.home() / "cache" / f"catalog-{digest}.json"


def _mtime(path: str | os.PathLike[str]) -> str:
    try:
        return str(os.stat(path).st_mtime_ns)
    except OSError:
        return "-"


def _write(file: Path, data: dict[str, Any]) -> None:
    """Atomically, keeping only this catalog's entry; a read-only home is fine."""
    with contextlib.suppress(OSError):
        file.parent.mkdir(parents=True, exist_ok=True)
        for old in file.parent.glob("catalog-*.json"):
            old.unlink(missing_ok=True)
        tmp = file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, file)
