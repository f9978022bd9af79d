"""Seeded synthetic stand-ins for the labs' public datasets: nothing is downloaded at run time.

`generate(name, rows=..., seed=..., out_dir=...)` writes under `out_dir` and returns the schema:

- `raw/`: the dataset shaped like the public one;
- `train/` and `validation/`: the channels a training job reads (format per generator);
- `schema.json`: what was written; at least `generator`, `rows`, `seed`, `label`,
  `content_type`, `files` (raw/train/validation paths), `train_rows`, `validation_rows`.

Each generator lives in the module named in `MODULES`, as a function
`generate(name, *, rows, seed, out_dir, validation_fraction, **options) -> schema`; a module is
imported only when its data is generated.
"""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any

from labctl.errors import UsageError, did_you_mean

# generator name (a data step's `generator:`) -> the module that writes it
MODULES: dict[str, str] = {
    "telco-churn": "labctl.datagen.tabular",
    "credit-card-fraud": "labctl.datagen.tabular",
    "newsgroups-text": "labctl.datagen.tabular",
    "bank-marketing": "labctl.datagen.tabular",
    "amazon-reviews-text": "labctl.datagen.tabular",
    "movielens-interactions": "labctl.datagen.movielens",
    "synthetic-images": "labctl.datagen.images",
    "synthetic-shapes-detection": "labctl.datagen.shapes",
    "store-sales": "labctl.datagen.store_sales",
    "ecommerce-transactions": "labctl.datagen.ecommerce",
    "nyc-taxi-trips": "labctl.datagen.taxi",
    "customer-records-pii": "labctl.datagen.governance",
    "loan-applications": "labctl.datagen.governance",
    "iot-sensor-telemetry": "labctl.datagen.telemetry",
}


def available(name: str) -> bool:
    """Whether this install can generate `name`."""
    module = MODULES.get(name)
    return module is not None and importlib.util.find_spec(module) is not None


def names() -> list[str]:
    return sorted(n for n in MODULES if available(n))


def refuse_options(name: str, options: dict[str, Any]) -> None:
    """For generators that take no options: name the ones given."""
    if options:
        raise UsageError(f"generator '{name}' takes no options (got {sorted(options)})")


def generate(
    name: str,
    *,
    rows: int,
    seed: int,
    out_dir: Path,
    validation_fraction: float = 0.2,
    **options: Any,
) -> dict[str, Any]:
    """Write raw/, train/, validation/ and schema.json for generator `name`; return the schema.

    `options` go to the generator (e.g. `fraud_rate=0.01` for credit-card-fraud).
    """
    if not available(name):
        raise UsageError(
            f"unknown data generator '{name}'{did_you_mean(name, names())}",
            hint="known generators: " + ", ".join(names()),
        )
    if rows < 10:
        raise UsageError(f"rows must be at least 10, got {rows}")
    if not 0.0 <= validation_fraction < 1.0:
        raise UsageError(f"validation_fraction must be in [0, 1), got {validation_fraction}")
    module = importlib.import_module(MODULES[name])
    return module.generate(
        name,
        rows=rows,
        seed=seed,
        out_dir=Path(out_dir),
        validation_fraction=validation_fraction,
        **options,
    )
