"""The governance labs' tabular data: customer records with PII, multi-tenant loan applications.

Both are written like the other tabular generators (labctl.datagen.tabular): `raw/` carries every
column, personal data included (names, e-mail addresses, phone numbers, tax ids, tenants), and
the `train/`/`validation/` channels carry only the numeric and one-hot features, label first, with
no header: the personal columns never reach a training job, as in the security labs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from labctl.datagen.columns import Cat, Column, Dataset, Generator, Num
from labctl.datagen.tabular import generate as write_dataset

_FIRST = ("ana", "ben", "chen", "dana", "eli", "fatima", "gus", "hana", "ivan", "jo", "kai", "lea")
_LAST = ("garcia", "smith", "nguyen", "okafor", "muller", "rossi", "tanaka", "silva", "khan", "lee")


def _choice(rng: np.random.Generator, p: list[float], n: int) -> np.ndarray:
    return np.searchsorted(np.cumsum(p), rng.random(n) * 0.99999)


def _ids(prefix: str, n: int) -> np.ndarray:
    return np.strings.add(prefix, np.char.zfill(np.arange(1, n + 1).astype("U"), 7))


def _digits(rng: np.random.Generator, n: int, width: int) -> np.ndarray:
    return np.char.zfill(rng.integers(0, 10**width, n).astype("U"), width)


def _customer_records_pii(rows: int, rng: np.random.Generator) -> Dataset:
    """Bank customers with direct identifiers; ~15% leave (`churned`), driven by tenure,
    complaints, the product count and balance."""
    n = rows
    first = np.asarray(_FIRST)[rng.integers(0, len(_FIRST), n)]
    last = np.asarray(_LAST)[rng.integers(0, len(_LAST), n)]
    ids = _ids("C", n)
    name = np.strings.add(np.strings.add(first, " "), last)
    email = np.strings.add(np.strings.add(np.strings.add(first, "."), ids), "@example.com")
    phone = np.strings.add("+1-555-", _digits(rng, n, 7))
    ssn = np.strings.add(np.strings.add(_digits(rng, n, 3), "-"), _digits(rng, n, 6))
    age = np.clip(rng.normal(44, 13, n), 18, 92).round().astype(np.int64)
    tenure = np.clip(rng.exponential(6.0, n), 0, 40).round().astype(np.int64)
    products = np.clip(rng.poisson(1.6, n), 1, 6)
    balance = np.round(np.maximum(rng.lognormal(8.5, 1.3, n) - 2000.0, 0.0), 2)
    credit_score = np.clip(rng.normal(660, 90, n), 300, 850).round().astype(np.int64)
    complaints = rng.poisson(0.3, n)
    segment = _choice(rng, [0.7, 0.25, 0.05], n)  # retail, premium, private
    logit = (
        -1.2
        - 0.25 * tenure
        + 1.6 * complaints
        + 1.2 * (products >= 3)
        - 0.4 * (segment > 0)
        - 0.2 * np.log1p(balance) / 5
        + rng.normal(0.0, 0.5, n)
    )
    churned = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    raw: dict[str, Column] = {
        "customer_id": Num(ids),
        "full_name": Num(name),
        "email": Num(email),
        "phone": Num(phone),
        "tax_id": Num(ssn),
        "age": Num(age),
        "tenure_years": Num(tenure),
        "products": Num(products),
        "balance": Num(balance, 2),
        "credit_score": Num(credit_score),
        "complaints": Num(complaints),
        "segment": Cat(segment, ("retail", "premium", "private")),
        "churned": Num(churned.astype(np.int64)),
    }
    features = {
        "age": Num(age),
        "tenure_years": Num(tenure),
        "products": Num(products),
        "balance": Num(balance, 2),
        "credit_score": Num(credit_score),
        "complaints": Num(complaints),
    }
    return Dataset.one_hot(raw, churned, features, "segment")


_PURPOSES = ("debt_consolidation", "credit_card", "home_improvement", "small_business", "car")


def _loan_applications(rows: int, rng: np.random.Generator) -> Dataset:
    """Lending-Club-like applications of two tenants; ~20% default, driven by grade, debt-to-
    income, income and term."""
    n = rows
    tenant = _choice(rng, [0.6, 0.4], n)  # team-a, team-b
    income = np.round(rng.lognormal(11.0, 0.5, n), -2)
    amount = np.round(np.clip(rng.lognormal(9.4, 0.6, n), 1000, 40000), -2)
    term = np.where(rng.random(n) < 0.7, 36, 60)
    grade = _choice(rng, [0.18, 0.29, 0.28, 0.15, 0.07, 0.03], n)  # A..F
    rate = np.round(6.0 + 3.2 * grade + rng.normal(0, 1.0, n), 2)
    dti = np.round(np.clip(rng.normal(18, 8, n), 0, 45), 2)
    emp_years = np.clip(rng.poisson(5, n), 0, 10)
    home = _choice(rng, [0.45, 0.40, 0.15], n)  # mortgage, rent, own
    purpose = _choice(rng, [0.55, 0.2, 0.1, 0.05, 0.1], n)
    logit = (
        -3.4
        + 0.8 * grade
        + 0.06 * (dti - 18)
        + 0.9 * (term == 60)
        - 1.2 * (np.log(income) - 11.0)
        + 0.4 * (purpose == 3)
        + rng.normal(0.0, 0.4, n)
    )
    default = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    raw: dict[str, Column] = {
        "application_id": Num(_ids("L", n)),
        "tenant_id": Cat(tenant, ("team-a", "team-b")),
        "applicant_email": Num(np.strings.add(_ids("a", n), "@example.com")),
        "loan_amnt": Num(amount),
        "term": Num(term),
        "int_rate": Num(rate, 2),
        "grade": Cat(grade, tuple("ABCDEF")),
        "annual_inc": Num(income),
        "dti": Num(dti, 2),
        "emp_length": Num(emp_years),
        "home_ownership": Cat(home, ("MORTGAGE", "RENT", "OWN")),
        "purpose": Cat(purpose, _PURPOSES),
        "default": Num(default.astype(np.int64)),
    }
    features = {
        "loan_amnt": Num(amount),
        "term": Num(term),
        "int_rate": Num(rate, 2),
        "grade": Num(grade),
        "annual_inc": Num(income),
        "dti": Num(dti, 2),
        "emp_length": Num(emp_years),
    }
    return Dataset.one_hot(raw, default, features, "tenant_id", "home_ownership", "purpose")


GENERATORS: dict[str, Generator] = {
    g.name: g
    for g in (
        Generator(
            "customer-records-pii",
            "Bank customers with direct identifiers (name, e-mail, phone, tax id), ~15% churn",
            "churned",
            "customer-records.csv",
            "customer-records.csv",
            "text/csv",
            _customer_records_pii,
        ),
        Generator(
            "loan-applications",
            "Lending-Club-like loan applications of two tenants (team-a, team-b), ~20% default",
            "default",
            "loan-applications.csv",
            "loan-applications.csv",
            "text/csv",
            _loan_applications,
        ),
    )
}


def generate(
    name: str,
    *,
    rows: int,
    seed: int,
    out_dir: Path,
    validation_fraction: float = 0.2,
    **options: Any,
) -> dict[str, Any]:
    """Write raw/, train/, validation/ and schema.json (see labctl.datagen.tabular.generate)."""
    return write_dataset(
        name,
        rows=rows,
        seed=seed,
        out_dir=out_dir,
        validation_fraction=validation_fraction,
        generator=GENERATORS[name],
        **options,
    )
