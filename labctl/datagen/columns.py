"""What the tabular and text generators build: columns, the dataset, the named generator."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Num:
    """A numeric column written with a fixed number of decimals (0 = integer)."""

    values: np.ndarray
    decimals: int = 0


@dataclass(frozen=True)
class Cat:
    """A categorical column: integer codes into `levels`."""

    codes: np.ndarray
    levels: tuple[str, ...]

    @property
    def values(self) -> np.ndarray:
        return np.asarray(self.levels, dtype=object)[self.codes]


Column = Num | Cat


@dataclass
class Dataset:
    """What a generator builds: raw columns plus either numeric features or text documents."""

    raw: dict[str, Column]
    labels: np.ndarray
    features: list[Num] = field(default_factory=list)
    feature_names: list[str] = field(default_factory=list)
    token_ids: np.ndarray | None = None  # text: all tokens, documents back to back
    lengths: np.ndarray | None = None  # text: tokens per document
    vocab: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)

    @classmethod
    def one_hot(
        cls, raw: dict[str, Column], labels: np.ndarray, numeric: dict[str, Num], *categorical: str
    ) -> Dataset:
        """Features: the `numeric` columns, then one 0/1 column per level of each categorical."""
        features = dict(numeric)
        for col in categorical:
            cat = raw[col]
            assert isinstance(cat, Cat)
            for k, level in enumerate(cat.levels):
                features[f"{col}_{level}"] = Num((cat.codes == k).astype(np.int64))
        return cls(
            raw=raw,
            labels=labels.astype(np.int64),
            features=list(features.values()),
            feature_names=list(features),
        )


@dataclass(frozen=True)
class Generator:
    """A named synthetic dataset: its label, files, channel content type and builder."""

    name: str
    description: str
    label: str
    raw_file: str
    channel_file: str
    content_type: str
    build: Callable[..., Dataset]
