"""MovieLens-shaped user-movie ratings (the `movielens-interactions` generator), vectorised numpy.

`rows` is the number of ratings. Users and movies scale with it as in MovieLens 1M (about 165
ratings per user, 270 per movie); activity is log-normal per user and popularity long-tailed
(Zipf) per movie. A rating is `round(3.58 + user bias + movie bias + <user, movie> factors +
noise)` clipped to 1..5, so a matrix-factorization model has real structure to find.

Written under `out_dir`:

- `raw/ratings.csv` (user_id, movie_id, rating, timestamp), `raw/movies.csv` (movie_id, title,
  genres as `A|B`), `raw/users.csv` (user_id, gender, age, occupation, zip_code), with headers:
  the three BigQuery tables of the recommendation lab;
- `train/ratings.csv`, `validation/ratings.csv`: `rating,user_id,movie_id`, no header (label
  first), a random split;
- `schema.json`, with `n_users` and `n_movies` (ids are 1-based, as in MovieLens).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from labctl.datagen import refuse_options

# fmt: off
GENRES = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller",
    "War", "Western",
)
# fmt: on
AGES = (1, 18, 25, 35, 45, 50, 56)  # MovieLens 1M age buckets
FACTORS = 8
START = 956_703_932  # 2000-04-25, the first MovieLens 1M timestamp


def generate(
    name: str,
    *,
    rows: int,
    seed: int,
    out_dir: Path,
    validation_fraction: float = 0.2,
    **options: Any,
) -> dict[str, Any]:
    """Write raw/, train/, validation/ and schema.json; return the schema."""
    refuse_options(name, options)
    rng = np.random.default_rng(seed)
    n_users = max(20, rows // 165)
    n_movies = max(20, rows // 270)

    activity = rng.lognormal(0.0, 0.9, n_users)
    popularity = 1.0 / np.arange(1, n_movies + 1) ** 0.9
    popularity = popularity[rng.permutation(n_movies)]
    users = rng.choice(n_users, size=rows, p=activity / activity.sum())
    movies = rng.choice(n_movies, size=rows, p=popularity / popularity.sum())

    genre_of = rng.integers(0, len(GENRES), size=(n_movies, 2))
    user_factors = rng.normal(0.0, 0.45, (n_users, FACTORS))
    movie_factors = rng.normal(0.0, 0.45, (n_movies, FACTORS))
    movie_factors[:, 0] += (genre_of[:, 0] % 3 - 1) * 0.4  # genres share a taste direction
    user_bias = rng.normal(0.0, 0.35, n_users)
    movie_bias = rng.normal(0.0, 0.45, n_movies) + 0.25 * np.log(popularity / popularity.mean())
    score = (
        3.58
        + user_bias[users]
        + movie_bias[movies]
        + np.einsum("ij,ij->i", user_factors[users], movie_factors[movies])
        + rng.normal(0.0, 0.6, rows)
    )
    rating = np.clip(np.rint(score), 1, 5).astype(np.int64)
    timestamp = START + np.sort(rng.integers(0, 86_400 * 1000, size=rows))

    out_dir = Path(out_dir)
    for sub in ("raw", "train", "validation"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    user_id, movie_id = users + 1, movies + 1
    pd.DataFrame(
        {"user_id": user_id, "movie_id": movie_id, "rating": rating, "timestamp": timestamp}
    ).to_csv(out_dir / "raw" / "ratings.csv", index=False)
    second = np.where(genre_of[:, 1] == genre_of[:, 0], -1, genre_of[:, 1])
    names = np.asarray(GENRES, dtype=object)
    genres = np.where(
        second < 0, names[genre_of[:, 0]], names[genre_of[:, 0]] + "|" + names[second]
    )
    years = rng.integers(1919, 2001, size=n_movies)
    ids = np.arange(1, n_movies + 1)
    pd.DataFrame(
        {
            "movie_id": ids,
            "title": [
                f"Movie {i} ({y})" for i, y in zip(ids.tolist(), years.tolist(), strict=True)
            ],
            "genres": genres,
        }
    ).to_csv(out_dir / "raw" / "movies.csv", index=False)
    pd.DataFrame(
        {
            "user_id": np.arange(1, n_users + 1),
            "gender": np.where(rng.random(n_users) < 0.72, "M", "F"),
            "age": np.asarray(AGES)[rng.integers(0, len(AGES), n_users)],
            "occupation": rng.integers(0, 21, n_users),
            "zip_code": rng.integers(10_000, 99_999, n_users),
        }
    ).to_csv(out_dir / "raw" / "users.csv", index=False)

    order = rng.permutation(rows)
    n_val = round(rows * validation_fraction)
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    channel = np.column_stack([rating, user_id, movie_id])
    for sub, idx in (("train", train_idx), ("validation", val_idx)):
        np.savetxt(out_dir / sub / "ratings.csv", channel[idx], fmt="%d", delimiter=",")

    schema: dict[str, Any] = {
        "generator": name,
        "rows": rows,
        "seed": seed,
        "label": "rating",
        "features": ["user_id", "movie_id"],
        "content_type": "text/csv",
        "files": {
            "raw": "raw/ratings.csv",
            "train": "train/ratings.csv",
            "validation": "validation/ratings.csv",
        },
        "tables": {
            "ratings": "raw/ratings.csv",
            "movies": "raw/movies.csv",
            "users": "raw/users.csv",
        },
        "train_rows": len(train_idx),
        "validation_rows": len(val_idx),
        "n_users": n_users,
        "n_movies": n_movies,
        "mean_rating": round(float(rating.mean()), 4),
    }
    (out_dir / "schema.json").write_text(json.dumps(schema, indent=2) + "\n", encoding="utf-8")
    return schema
