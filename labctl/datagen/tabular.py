"""The tabular and text generators: telco churn, credit-card fraud, bank marketing, and the text
ones (text.py), all written by `generate` (vectorised numpy).

`generate(name, rows=..., seed=..., out_dir=...)` writes under `out_dir`:

- `raw/<file>`: the dataset shaped like the real one, with a header;
- `train/<file>` and `validation/<file>`: the processed channels in the SageMaker built-in
  algorithm convention: CSV without a header, label first, numeric features (categoricals
  one-hot encoded); for text, BlazingText supervised lines `__label__<label> tok tok ...`;
- `schema.json`: what was written (generator, rows, seed, label, features, content_type, ...).

The split is stratified on the label, so every class (even 0.17 % fraud) reaches both channels.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from labctl.datagen.columns import Cat, Column, Dataset, Generator, Num
from labctl.datagen.text import amazon_reviews_text, docs_text, newsgroups_text
from labctl.errors import UsageError

# --------------------------------------------------------------------------- fast CSV text
# Formatting millions of floats one by one is the slow part of writing a CSV from Python, so a
# column becomes 1-2 "pieces" per row looked up in small tables of ready-made strings (integer
# part with its sign, fractional part with the separator), and the file is one "".join.


def _pieces(col: Column, sep: str) -> list[np.ndarray]:
    """Object arrays of strings that, concatenated in order, spell the column plus `sep`."""
    if isinstance(col, Cat):
        table = np.asarray([level + sep for level in col.levels], dtype=object)
        return [table[col.codes]]
    values = np.asarray(col.values)
    if col.decimals == 0 and values.dtype.kind == "U":
        return [np.strings.add(values, sep).astype(object)]
    scale = 10**col.decimals
    q = np.rint(np.abs(values.astype(np.float64)) * scale).astype(np.int64)
    whole, frac = np.divmod(q, scale)
    neg = (values < 0) & (q > 0)
    top = int(whole.max(initial=0)) + 1
    digits = [str(i) for i in range(top)]
    if col.decimals == 0:
        table = np.asarray([d + sep for d in digits] + ["-" + d + sep for d in digits], object)
        return [table[whole + top * neg]]
    head = np.asarray([d + "." for d in digits] + ["-" + d + "." for d in digits], object)
    return [head[whole + top * neg], _fractions(col.decimals, sep)[frac]]


@functools.cache
def _fractions(decimals: int, sep: str) -> np.ndarray:
    """'000,' .. '999,': every fractional part with `decimals` digits, then `sep`."""
    return np.asarray([f"{i:0{decimals}d}{sep}" for i in range(10**decimals)], dtype=object)


def _csv_text(
    columns: list[Column],
    rows: np.ndarray | None = None,
    cache: dict[tuple[int, str], list[np.ndarray]] | None = None,
) -> str:
    """The CSV body (no header) of `columns`, optionally only the row indices `rows`.

    `cache` keeps each column's pieces between calls (raw, train and validation share them).
    """
    cache = {} if cache is None else cache
    parts: list[np.ndarray] = []
    for i, col in enumerate(columns):
        sep = "\n" if i == len(columns) - 1 else ","
        key = (id(col), sep)
        if key not in cache:
            cache[key] = _pieces(col, sep)
        parts.extend(cache[key])
    count = len(parts[0]) if rows is None else len(rows)
    grid = np.empty((count, len(parts)), dtype=object)
    for j, part in enumerate(parts):
        grid[:, j] = part if rows is None else part[rows]
    return "".join(grid.ravel().tolist())


# --------------------------------------------------------------------------- telco churn

_PAYMENT = (
    "Electronic check",
    "Mailed check",
    "Bank transfer (automatic)",
    "Credit card (automatic)",
)
_ADDONS = {  # add-on -> base take-up among internet customers
    "OnlineSecurity": 0.37,
    "OnlineBackup": 0.44,
    "DeviceProtection": 0.44,
    "TechSupport": 0.37,
    "StreamingTV": 0.49,
    "StreamingMovies": 0.50,
}
_NO_YES = ("No", "Yes")


def _choice(rng: np.random.Generator, p: list[float], n: int) -> np.ndarray:
    return np.searchsorted(np.cumsum(p), rng.random(n, dtype=np.float32) * np.float32(0.99999))


def _telco_churn(rows: int, rng: np.random.Generator) -> Dataset:
    """Kaggle Telco Customer Churn columns; churn driven by contract, tenure, fiber, e-check..."""
    n = rows
    u = rng.random((n, 16), dtype=np.float32)
    ids = rng.integers(1000, 10000, size=n).astype(str)
    letters = (rng.integers(0, 26, size=(n, 5), dtype=np.uint8) + ord("A")).astype(np.uint8)
    customer_id = np.strings.add(np.strings.add(ids, "-"), letters.view("S5").ravel().astype(str))
    male = u[:, 0] < 0.505
    senior = u[:, 1] < 0.162
    partner = u[:, 2] < 0.483
    dependents = u[:, 3] < np.where(partner, 0.50, 0.10)
    contract = _choice(rng, [0.55, 0.21, 0.24], n)
    # tenure: month-to-month skews short, two-year skews long (the real U shape overall)
    mean_tenure = np.array([18.0, 42.0, 57.0])[contract]
    tenure = np.clip(rng.gamma(2.0, mean_tenure / 2.0), 0, 72).round().astype(np.int64)
    tenure[u[:, 4] < 0.0015] = 0
    phone = u[:, 5] < 0.903
    multiple = np.where(phone, (u[:, 6] < 0.47).astype(np.int64), 2)  # No, Yes, No phone service
    internet = _choice(rng, [0.344, 0.44, 0.216], n)  # DSL, Fiber optic, No
    has_net = internet < 2
    addons: dict[str, np.ndarray] = {}
    for k, (col, rate) in enumerate(_ADDONS.items()):
        # long-tenure customers buy more add-ons
        addons[col] = has_net & (u[:, 7 + k] < np.clip(rate + (tenure - 32) / 200.0, 0.02, 0.98))
    paperless = u[:, 13] < 0.592
    mtm = contract == 0
    payment = np.where(
        mtm, _choice(rng, [0.45, 0.20, 0.17, 0.18], n), _choice(rng, [0.18, 0.26, 0.28, 0.28], n)
    )
    monthly = (
        20.0
        - 0.5 * ~phone
        + 5.0 * (multiple == 1)
        + np.array([25.0, 50.0, 0.0])[internet]
        + 5.0 * sum(addons.values())
        + rng.normal(0.0, 2.5, size=n)
    )
    monthly = np.clip(monthly, 18.25, 118.75).round(2)
    total = (monthly * tenure * rng.normal(1.0, 0.04, size=n)).round(2)

    logit = (
        -2.07
        + np.array([1.35, 0.0, -1.2])[contract]
        - 0.035 * tenure
        + 0.75 * (internet == 1)
        - 0.7 * (internet == 2)
        + 0.55 * (payment == 0)
        + 0.3 * senior
        + 0.35 * (has_net & ~addons["TechSupport"])
        + 0.35 * (has_net & ~addons["OnlineSecurity"])
        + 0.3 * paperless
        - 0.15 * partner
        - 0.2 * dependents
        + 0.012 * (monthly - 65.0)
        + rng.normal(0.0, 0.6, size=n)
    )
    churn = u[:, 14] < 1.0 / (1.0 + np.exp(-logit))

    def yes_no(mask: np.ndarray) -> Cat:
        return Cat(mask.astype(np.int64), _NO_YES)

    raw: dict[str, Column] = {
        "customerID": Num(customer_id),
        "gender": Cat(male.astype(np.int64), ("Female", "Male")),
        "SeniorCitizen": Num(senior.astype(np.int64)),
        "Partner": yes_no(partner),
        "Dependents": yes_no(dependents),
        "tenure": Num(tenure),
        "PhoneService": yes_no(phone),
        "MultipleLines": Cat(multiple, ("No", "Yes", "No phone service")),
        "InternetService": Cat(internet, ("DSL", "Fiber optic", "No")),
    }
    for col, taken in addons.items():
        raw[col] = Cat(
            np.where(has_net, taken.astype(np.int64), 2), (*_NO_YES, "No internet service")
        )
    raw["Contract"] = Cat(contract, ("Month-to-month", "One year", "Two year"))
    raw["PaperlessBilling"] = yes_no(paperless)
    raw["PaymentMethod"] = Cat(payment, _PAYMENT)
    raw["MonthlyCharges"] = Num(monthly, 2)
    # the real file has a blank TotalCharges for customers with zero tenure
    total_text = np.where(tenure == 0, " ", np.char.mod("%.2f", total))
    raw["TotalCharges"] = Num(total_text.astype(str))
    raw["Churn"] = yes_no(churn)

    features: dict[str, Num] = {
        "gender_Male": Num(male.astype(np.int64)),
        "SeniorCitizen": Num(senior.astype(np.int64)),
        "Partner": Num(partner.astype(np.int64)),
        "Dependents": Num(dependents.astype(np.int64)),
        "tenure": Num(tenure),
        "PhoneService": Num(phone.astype(np.int64)),
        "PaperlessBilling": Num(paperless.astype(np.int64)),
        "MonthlyCharges": Num(monthly, 2),
        "TotalCharges": Num(np.where(tenure == 0, 0.0, total), 2),
    }
    categorical = ("MultipleLines", "InternetService", *_ADDONS, "Contract", "PaymentMethod")
    return Dataset.one_hot(raw, churn, features, *categorical)


# --------------------------------------------------------------------------- bank marketing

_JOBS = (  # UCI Bank Marketing's job levels and their shares
    ("blue-collar", 0.215),
    ("management", 0.209),
    ("technician", 0.168),
    ("admin.", 0.114),
    ("services", 0.092),
    ("retired", 0.050),
    ("self-employed", 0.035),
    ("entrepreneur", 0.033),
    ("unemployed", 0.029),
    ("housemaid", 0.027),
    ("student", 0.021),
    ("unknown", 0.007),
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_SHARE = [0.031, 0.059, 0.011, 0.065, 0.304, 0.118, 0.153, 0.138, 0.013, 0.016, 0.088, 0.004]


def _bank_marketing(rows: int, rng: np.random.Generator) -> Dataset:
    """UCI Bank Marketing (bank-full.csv) columns; ~12% subscribe, driven by the last call's
    duration, a previous success, the contact channel, the month and the customer's situation."""
    n = rows
    u = rng.random((n, 6), dtype=np.float32)
    job = _choice(rng, [p for _, p in _JOBS], n)
    retired, student = job == 5, job == 10
    age = np.where(
        retired,
        rng.normal(62, 7, n),
        np.where(student, rng.normal(25, 4, n), rng.normal(40, 9.5, n)),
    )
    age = np.clip(age, 18, 95).round().astype(np.int64)
    marital = _choice(rng, [0.602, 0.283, 0.115], n)  # married, single, divorced
    education = _choice(rng, [0.151, 0.513, 0.294, 0.042], n)  # primary..tertiary, unknown
    default = u[:, 0] < 0.018
    balance = np.round(rng.lognormal(6.6, 1.4, n) - 350.0).astype(np.int64)
    housing = u[:, 1] < np.where(retired | student, 0.2, 0.6)
    loan = u[:, 2] < 0.16
    contact = _choice(rng, [0.648, 0.064, 0.288], n)  # cellular, telephone, unknown
    day = rng.integers(1, 32, n)
    month = _choice(rng, _MONTH_SHARE, n)
    duration = np.clip(rng.lognormal(5.2, 0.9, n), 0, 4918).round().astype(np.int64)
    campaign = np.clip(rng.geometric(0.36, n), 1, 63)
    contacted = u[:, 3] < 0.18
    pdays = np.where(contacted, rng.integers(1, 871, n), -1)
    previous = np.where(contacted, rng.geometric(0.4, n), 0)
    # previous outcome among those contacted before: failure, other, success
    poutcome = np.where(contacted, _choice(rng, [0.6, 0.22, 0.18], n), 3)

    logit = (
        -2.3
        + 0.0045 * (duration - 180)
        + 2.3 * (poutcome == 2)
        - 1.1 * (contact == 2)
        + 0.9 * np.isin(month, (2, 8, 9, 11))  # mar, sep, oct, dec
        - 0.45 * (month == 4)  # may
        + 0.7 * (retired | student)
        - 0.75 * housing
        - 0.45 * loan
        + 0.25 * (education == 2)
        - 0.09 * (campaign - 1)
        + rng.normal(0.0, 0.5, size=n)
    )
    subscribed = u[:, 4] < 1.0 / (1.0 + np.exp(-logit))

    def no_yes(mask: np.ndarray) -> Cat:
        return Cat(mask.astype(np.int64), ("no", "yes"))

    raw: dict[str, Column] = {
        "age": Num(age),
        "job": Cat(job, tuple(j for j, _ in _JOBS)),
        "marital": Cat(marital, ("married", "single", "divorced")),
        "education": Cat(education, ("primary", "secondary", "tertiary", "unknown")),
        "default": no_yes(default),
        "balance": Num(balance),
        "housing": no_yes(housing),
        "loan": no_yes(loan),
        "contact": Cat(contact, ("cellular", "telephone", "unknown")),
        "day": Num(day),
        "month": Cat(month, _MONTHS),
        "duration": Num(duration),
        "campaign": Num(campaign),
        "pdays": Num(pdays),
        "previous": Num(previous),
        "poutcome": Cat(poutcome, ("failure", "other", "success", "unknown")),
        "y": no_yes(subscribed),
    }
    numeric = (age, balance, day, duration, campaign, pdays, previous, default, housing, loan)
    names = ("age", "balance", "day", "duration", "campaign", "pdays", "previous")
    names += ("default", "housing", "loan")
    features = {
        name: Num(np.asarray(v, dtype=np.int64)) for name, v in zip(names, numeric, strict=True)
    }
    categorical = ("job", "marital", "education", "contact", "month", "poutcome")
    return Dataset.one_hot(raw, subscribed, features, *categorical)


# --------------------------------------------------------------------------- credit card fraud

_FRAUD_SHIFT = {  # component -> mean shift for fraud (signs as in the real V columns)
    "V3": -3.0,
    "V4": 2.5,
    "V10": -3.0,
    "V11": 2.0,
    "V12": -3.5,
    "V14": -4.0,
    "V16": -2.0,
    "V17": -3.5,
}
MIN_FRAUD = 10
"""At least this many frauds whatever the row count, so both channels get some."""


def _credit_card_fraud(rows: int, rng: np.random.Generator, fraud_rate: float = 0.0017) -> Dataset:
    """Kaggle creditcard.csv: Time, V1..V28, Amount, Class; fraud shifted on a few components."""
    if not 0.0 < fraud_rate < 0.5:
        raise UsageError(f"fraud_rate must be in (0, 0.5), got {fraud_rate}")
    n = rows
    n_fraud = min(max(math.ceil(n * fraud_rate), MIN_FRAUD), n // 2)
    is_fraud = np.zeros(n, dtype=bool)
    is_fraud[rng.choice(n, size=n_fraud, replace=False)] = True
    time = np.sort(rng.uniform(0.0, 172_792.0, size=n)).round()
    v = rng.standard_normal((n, 28), dtype=np.float32).astype(np.float64)
    # each fraud is "strong" to a different degree; about one in twelve looks entirely normal
    strength = rng.uniform(0.5, 1.6, size=n_fraud) * (rng.random(n_fraud) > 0.08)
    for name, shift in _FRAUD_SHIFT.items():
        j = int(name[1:]) - 1
        v[is_fraud, j] = (v[is_fraud, j] + shift * strength) * (1.0 + 0.5 * strength)
    amount = rng.lognormal(3.0, 1.4, size=n)
    amount[is_fraud] = np.where(
        rng.random(n_fraud) < 0.4,
        rng.choice([0.0, 1.0, 0.76, 99.99], n_fraud),
        rng.lognormal(4.0, 1.5, n_fraud),
    )
    amount = np.minimum(amount, 25_691.16)
    labels = is_fraud.astype(np.int64)
    features = [Num(time), *(Num(v[:, j], 5) for j in range(28)), Num(amount, 2)]
    names = ["Time", *(f"V{i}" for i in range(1, 29)), "Amount"]
    raw: dict[str, Column] = dict(zip(names, features, strict=True))
    raw["Class"] = Num(labels)
    return Dataset(raw=raw, labels=labels, features=features, feature_names=names)


# --------------------------------------------------------------------------- registry

GENERATORS: dict[str, Generator] = {
    g.name: g
    for g in (
        Generator(
            "telco-churn",
            "Kaggle Telco Customer Churn (7,043 customers, 21 columns), ~26% churn",
            "Churn",
            "telco-churn.csv",
            "telco-churn.csv",
            "text/csv",
            _telco_churn,
        ),
        Generator(
            "credit-card-fraud",
            "Kaggle creditcard.csv (Time, V1..V28, Amount, Class), 0.17% fraud",
            "Class",
            "creditcard.csv",
            "creditcard.csv",
            "text/csv",
            _credit_card_fraud,
        ),
        Generator(
            "bank-marketing",
            "UCI Bank Marketing (bank-full.csv, 17 columns), ~12% subscribe",
            "y",
            "bank-full.csv",
            "bank-marketing.csv",
            "text/csv",
            _bank_marketing,
        ),
        Generator(
            "amazon-reviews-text",
            "Amazon Reviews Polarity-like reviews, negative/positive, BlazingText format",
            "polarity",
            "reviews.csv",
            "reviews.txt",
            "text/plain",
            amazon_reviews_text,
        ),
        Generator(
            "newsgroups-text",
            "20-Newsgroups-like corpus, 8 topics, BlazingText supervised format",
            "newsgroup",
            "newsgroups.csv",
            "newsgroups.txt",
            "text/plain",
            newsgroups_text,
        ),
    )
}


def stratified_split(
    labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices (train, validation), sorted; each class with >= 2 rows lands in both."""
    train: list[np.ndarray] = []
    val: list[np.ndarray] = []
    for cls in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == cls))
        k = round(len(idx) * fraction)
        if len(idx) >= 2 and fraction > 0:
            k = min(max(k, 1), len(idx) - 1)
        val.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def _write(path: Path, text: str, header: list[str] | None = None) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        if header is not None:
            fh.write(",".join(header) + "\n")
        fh.write(text)


def generate(
    name: str,
    *,
    rows: int,
    seed: int,
    out_dir: Path,
    validation_fraction: float = 0.2,
    generator: Generator | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Write raw/, train/, validation/ and schema.json for generator `name`; return the schema.

    `options` go to the generator (e.g. `fraud_rate=0.01` for credit-card-fraud); `generator`
    is a `Generator` defined in another module (default: this module's `GENERATORS[name]`).
    """
    gen = generator or GENERATORS[name]
    rng = np.random.default_rng(seed)
    try:
        data = gen.build(rows, rng, **options)
    except TypeError as exc:
        raise UsageError(f"generator '{name}' does not take these options: {exc}") from None
    train_idx, val_idx = stratified_split(data.labels, validation_fraction, rng)

    out_dir = Path(out_dir)
    for sub in ("raw", "train", "validation"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    header = list(data.raw)
    if data.token_ids is not None:
        labels = np.asarray(data.classes, dtype=object)[data.labels]
        _write(out_dir / "raw" / gen.raw_file, docs_text(data, labels + ","), [*header, "text"])
        prefix = "__label__" + labels + " "
        for sub, idx in (("train", train_idx), ("validation", val_idx)):
            _write(out_dir / sub / gen.channel_file, docs_text(data, prefix, idx))
    else:
        cache: dict[tuple[int, str], list[np.ndarray]] = {}
        raw_text = _csv_text(list(data.raw.values()), cache=cache)
        _write(out_dir / "raw" / gen.raw_file, raw_text, header)
        del raw_text
        columns: list[Column] = [Num(data.labels), *data.features]
        for sub, idx in (("train", train_idx), ("validation", val_idx)):
            _write(out_dir / sub / gen.channel_file, _csv_text(columns, idx, cache))

    schema: dict[str, Any] = {
        "generator": name,
        "rows": rows,
        "seed": seed,
        "label": gen.label,
        "features": data.feature_names,
        "content_type": gen.content_type,
        "files": {
            "raw": f"raw/{gen.raw_file}",
            "train": f"train/{gen.channel_file}",
            "validation": f"validation/{gen.channel_file}",
        },
        "train_rows": len(train_idx),
        "validation_rows": len(val_idx),
        "positive_rate": None if data.classes else round(float(data.labels.mean()), 6),
    }
    if data.classes:
        schema["classes"] = data.classes
    if options:
        schema["options"] = options
    (out_dir / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    return schema
