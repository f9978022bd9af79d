"""E-commerce customers, products and transactions with a purchase-propensity label (seeded).

`generate("ecommerce-transactions", rows=..., seed=..., out_dir=...)` writes:

- `raw/transactions.parquet`: one product view per row (event_id, event_ts, customer_id,
  product_id, device, session_views, discount_pct, price, quantity, purchased); about 0.5 % of
  the rows are dirty as real bronze data is (a missing customer_id, a non-positive price), for the
  feature pipeline's expectations to catch;
- `raw/customers.parquet`, `raw/products.parquet`: the dimension tables;
- `train/part-0.parquet`, `validation/part-0.parquet`: clean rows, label `purchased` first, then
  numeric features (customer, product and event features joined);
- `schema.json`.

Purchase odds rise with the customer's past purchases, the discount and the session's views,
and fall with price relative to the category and on mobile.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from labctl.datagen import refuse_options

LABEL = "purchased"
CATEGORIES = ("electronics", "fashion", "home", "beauty", "sports", "books", "toys", "grocery")
DEVICES = ("desktop", "mobile", "tablet")
FEATURES = [
    "customer_age",
    "customer_tenure_days",
    "customer_past_purchases",
    "customer_avg_order_value",
    "product_price",
    "product_category",
    "product_rating",
    "event_hour",
    "device",
    "session_views",
    "discount_pct",
]
DIRTY_FRACTION = 0.005
START = np.datetime64("2024-01-01T00:00:00")


def _tables(rows: int, rng: np.random.Generator) -> dict[str, dict[str, np.ndarray]]:
    n_customers = max(10, rows // 20)
    n_products = max(10, min(5000, rows // 50))
    customers = {
        "customer_id": np.arange(1, n_customers + 1, dtype=np.int64),
        "age": np.clip(rng.normal(38, 12, n_customers), 18, 90).round().astype(np.int64),
        "tenure_days": rng.integers(0, 2000, n_customers),
        "past_purchases": rng.poisson(3.0, n_customers),
        "avg_order_value": np.round(rng.lognormal(3.8, 0.5, n_customers), 2),
    }
    category = rng.integers(0, len(CATEGORIES), n_products)
    base = np.array([300.0, 60.0, 80.0, 30.0, 70.0, 20.0, 35.0, 10.0])[category]
    products = {
        "product_id": np.arange(1, n_products + 1, dtype=np.int64),
        "category": np.asarray(CATEGORIES, dtype=object)[category],
        "category_code": category,
        "list_price": np.round(base * rng.lognormal(0, 0.4, n_products), 2),
        "rating": np.round(np.clip(rng.normal(4.0, 0.6, n_products), 1, 5), 1),
    }
    cust = rng.integers(0, n_customers, rows)
    prod = rng.integers(0, n_products, rows)
    seconds = np.sort(rng.integers(0, 180 * 86400, rows))
    device = rng.choice(len(DEVICES), rows, p=[0.45, 0.45, 0.10])
    views = 1 + rng.poisson(3.0, rows)
    discount = np.where(rng.random(rows) < 0.3, rng.choice([5, 10, 20, 30], rows), 0)
    price = np.round(products["list_price"][prod] * (1 - discount / 100), 2)
    hour = (seconds // 3600) % 24
    logit = (
        -2.6
        + 0.18 * np.minimum(customers["past_purchases"][cust], 10)
        + 0.04 * discount
        + 0.12 * np.minimum(views, 10)
        - 0.6 * np.log(products["list_price"][prod] / base[prod])
        - 0.35 * (device == 1)
        + 0.4 * (products["rating"][prod] - 4.0)
        + 0.2 * ((hour >= 19) & (hour <= 22))
        + rng.normal(0, 0.5, rows)
    )
    purchased = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    events = {
        "event_id": np.arange(1, rows + 1, dtype=np.int64),
        "event_ts": START + seconds.astype("timedelta64[s]"),
        "customer_id": customers["customer_id"][cust].astype(np.float64),  # nullable when dirty
        "product_id": products["product_id"][prod],
        "device": np.asarray(DEVICES, dtype=object)[device],
        "session_views": views,
        "discount_pct": discount,
        "price": price,
        "quantity": np.where(purchased == 1, 1 + rng.poisson(0.3, rows), 0),
        "purchased": purchased,
        "_cust": cust,
        "_prod": prod,
        "_device": device,
        "_hour": hour,
    }
    return {"customers": customers, "products": products, "events": events}


def generate(
    name: str,
    *,
    rows: int,
    seed: int,
    out_dir: Path,
    validation_fraction: float = 0.2,
    **options: Any,
) -> dict[str, Any]:
    """Write raw/ (three tables), train/, validation/ (Parquet), schema.json; return the schema."""
    import pandas as pd

    refuse_options(name, options)
    rng = np.random.default_rng(seed)
    t = _tables(rows, rng)
    c, p, e = t["customers"], t["products"], t["events"]
    dirty = rng.random(rows) < DIRTY_FRACTION
    half = rng.random(rows) < 0.5
    raw_events = {k: v for k, v in e.items() if not k.startswith("_")}
    raw_events["customer_id"] = np.where(dirty & half, np.nan, e["customer_id"])
    raw_events["price"] = np.where(dirty & ~half, -e["price"], e["price"])
    out_dir = Path(out_dir)
    for sub in ("raw", "train", "validation"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    pd.DataFrame(raw_events).to_parquet(out_dir / "raw" / "transactions.parquet", index=False)
    pd.DataFrame(c).to_parquet(out_dir / "raw" / "customers.parquet", index=False)
    pd.DataFrame({k: v for k, v in p.items() if k != "category_code"}).to_parquet(
        out_dir / "raw" / "products.parquet", index=False
    )
    cust, prod = e["_cust"], e["_prod"]
    table = pd.DataFrame(
        {
            LABEL: e["purchased"].astype(np.float64),
            "customer_age": c["age"][cust].astype(np.float64),
            "customer_tenure_days": c["tenure_days"][cust].astype(np.float64),
            "customer_past_purchases": c["past_purchases"][cust].astype(np.float64),
            "customer_avg_order_value": c["avg_order_value"][cust],
            "product_price": e["price"],
            "product_category": p["category_code"][prod].astype(np.float64),
            "product_rating": p["rating"][prod],
            "event_hour": e["_hour"].astype(np.float64),
            "device": e["_device"].astype(np.float64),
            "session_views": e["session_views"].astype(np.float64),
            "discount_pct": e["discount_pct"].astype(np.float64),
        }
    )
    clean = np.flatnonzero(~dirty)
    order = rng.permutation(clean)
    k = round(len(clean) * validation_fraction)
    val_idx, train_idx = np.sort(order[:k]), np.sort(order[k:])
    table.iloc[train_idx].to_parquet(out_dir / "train" / "part-0.parquet", index=False)
    table.iloc[val_idx].to_parquet(out_dir / "validation" / "part-0.parquet", index=False)
    schema: dict[str, Any] = {
        "generator": name,
        "rows": rows,
        "seed": seed,
        "label": LABEL,
        "features": FEATURES,
        "content_type": "application/x-parquet",
        "files": {
            "raw": "raw/transactions.parquet",
            "customers": "raw/customers.parquet",
            "products": "raw/products.parquet",
            "train": "train/part-0.parquet",
            "validation": "validation/part-0.parquet",
        },
        "train_rows": len(train_idx),
        "validation_rows": len(val_idx),
        "dirty_rows": int(dirty.sum()),
        "positive_rate": round(float(e["purchased"].mean()), 6),
        "keys": {"customer": "customer_id", "product": "product_id", "timestamp": "event_ts"},
    }
    (out_dir / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    return schema
