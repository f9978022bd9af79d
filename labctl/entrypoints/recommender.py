"""Matrix-factorization recommender (the movie-recommender lab's `recommender` script).

Channels `train` and `validation`: CSV, no header, `rating,user_id,movie_id` (ids 1-based).
Hyperparameters: model (`matrix-factorization`), embedding_dim (32), epochs (10), batch_size
(4096), learning_rate (0.01), l2_reg (0.0001), seed (0). The model is biased matrix
factorization, `rating = mean + b_user + b_movie + <p_user, q_movie>`, fitted by mini-batch SGD in
numpy (each rating's gradient applied at `learning_rate`, as Funk SVD does).

Metrics: `validation:rmse` and `train:rmse` after every epoch (step = epoch) and at the end.

The model is written twice: `model/model.npz` (the factors, served here by `model_fn` ...) and
`model/model.joblib`, the same function as a plain scikit-learn pipeline (one-hot -> embedding
projections -> pairwise products -> linear sum), so Vertex AI's prebuilt scikit-learn prediction
container serves it with `{"instances": [[user_id, movie_id], ...]}`. Unknown ids score the mean
plus the known side's bias.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from labctl.entrypoints import contract

CONTENT_TYPE = "text/csv"  # rows of `user_id,movie_id`
MODEL_FILE = "model.npz"
SKLEARN_FILE = "model.joblib"


def _read(name: str) -> np.ndarray:
    matrix = contract.read_channel_csv(name)
    if matrix.shape[1] != 3:
        raise ValueError(f"channel '{name}' needs rows of rating,user_id,movie_id")
    return matrix


def _rmse(model: dict[str, np.ndarray], data: np.ndarray) -> float:
    return float(np.sqrt(np.mean((predict(model, data[:, 1:]) - data[:, 0]) ** 2)))


def train() -> None:
    """Fit biased MF by mini-batch SGD; emit rmse per epoch; save model.npz and model.joblib."""
    contract.hp_str("model", "matrix-factorization", choices=("matrix-factorization",))
    dim = contract.hp_int("embedding_dim", 32, low=1, high=1024)
    epochs = contract.hp_int("epochs", 10, low=1, high=1000)
    batch = contract.hp_int("batch_size", 4096, low=1)
    lr = contract.hp_float("learning_rate", 0.01, low=1e-8, high=1.0)
    l2 = contract.hp_float("l2_reg", 1e-4, low=0.0, high=10.0)
    rng = np.random.default_rng(contract.hp_int("seed", 0))

    train_m = _read("train")
    try:
        val_m = _read("validation")
    except FileNotFoundError:
        val_m = None
    n_users = int(max(train_m[:, 1].max(), 0 if val_m is None else val_m[:, 1].max()))
    n_movies = int(max(train_m[:, 2].max(), 0 if val_m is None else val_m[:, 2].max()))
    users = train_m[:, 1].astype(np.int64) - 1
    movies = train_m[:, 2].astype(np.int64) - 1
    ratings = train_m[:, 0]
    model = {
        "mean": np.array(ratings.mean()),
        "user_bias": np.zeros(n_users),
        "movie_bias": np.zeros(n_movies),
        "user_factors": rng.normal(0, 0.1, (n_users, dim)),
        "movie_factors": rng.normal(0, 0.1, (n_movies, dim)),
    }
    adam = _Adam(model, lr)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(ratings))
        for start in range(0, len(ratings), batch):
            sel = order[start : start + batch]
            adam.step(_gradients(model, users[sel], movies[sel], ratings[sel], l2))
        contract.emit_metric("train:rmse", _rmse(model, train_m), step=epoch)
        if val_m is not None:
            contract.emit_metric("validation:rmse", _rmse(model, val_m), step=epoch)
    final = {"train:rmse": _rmse(model, train_m)}
    if val_m is not None:
        final["validation:rmse"] = _rmse(model, val_m)
    for name, value in final.items():
        contract.emit_metric(name, value)
    out = contract.model_dir()
    np.savez(out / MODEL_FILE, **model)
    import joblib

    joblib.dump(to_sklearn(model), out / SKLEARN_FILE)
    contract.write_metrics(final)


def _gradients(
    model: dict[str, np.ndarray], u: np.ndarray, m: np.ndarray, r: np.ndarray, l2: float
) -> dict[str, np.ndarray]:
    """Gradients of mean squared error + l2 * (|p_u|^2 + |q_m|^2) over one mini-batch."""
    from scipy import sparse

    n = len(r)
    pu, qm = model["user_factors"][u], model["movie_factors"][m]
    err = model["mean"] + model["user_bias"][u] + model["movie_bias"][m]
    err = err + np.einsum("ij,ij->i", pu, qm) - r
    d = 2.0 * err / n
    to_user = sparse.csr_matrix((np.ones(n), (u, np.arange(n))), (len(model["user_bias"]), n))
    to_movie = sparse.csr_matrix((np.ones(n), (m, np.arange(n))), (len(model["movie_bias"]), n))
    return {
        "mean": np.array(d.sum()),
        "user_bias": to_user @ d,
        "movie_bias": to_movie @ d,
        "user_factors": to_user @ (d[:, None] * qm + 2.0 * l2 * pu / n),
        "movie_factors": to_movie @ (d[:, None] * pu + 2.0 * l2 * qm / n),
    }


class _Adam:
    """Adam over a dict of numpy arrays, updated in place."""

    def __init__(self, params: dict[str, np.ndarray], lr: float) -> None:
        self.params, self.lr, self.t = params, lr, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, np.ndarray], b1: float = 0.9, b2: float = 0.999) -> None:
        self.t += 1
        for k, g in grads.items():
            self.m[k] = b1 * self.m[k] + (1 - b1) * g
            self.v[k] = b2 * self.v[k] + (1 - b2) * g * g
            m_hat = self.m[k] / (1 - b1**self.t)
            v_hat = self.v[k] / (1 - b2**self.t)
            self.params[k] -= self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)


def predict(model: dict[str, np.ndarray], pairs: np.ndarray) -> np.ndarray:
    """Predicted ratings of (user_id, movie_id) rows; unknown ids get no bias or factors."""
    u = pairs[:, 0].astype(np.int64) - 1
    m = pairs[:, 1].astype(np.int64) - 1
    known_u = (u >= 0) & (u < len(model["user_bias"]))
    known_m = (m >= 0) & (m < len(model["movie_bias"]))
    u, m = np.where(known_u, u, 0), np.where(known_m, m, 0)
    pu = model["user_factors"][u] * known_u[:, None]
    qm = model["movie_factors"][m] * known_m[:, None]
    return (
        model["mean"]
        + model["user_bias"][u] * known_u
        + model["movie_bias"][m] * known_m
        + np.einsum("ij,ij->i", pu, qm)
    )


def to_sklearn(model: dict[str, np.ndarray]) -> Any:
    """The model as a scikit-learn Pipeline of stock estimators (no labctl code to unpickle).

    one-hot(user) @ [P | b_u] and one-hot(movie) @ [Q | b_m] (a GaussianRandomProjection whose
    components are the embeddings), then PolynomialFeatures' pairwise products, then a
    LinearRegression that adds up p_k * q_k and the two biases, intercept = the mean rating.
    """
    import itertools
    import warnings

    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, PolynomialFeatures
    from sklearn.random_projection import GaussianRandomProjection

    dim = model["user_factors"].shape[1]
    width = dim + 1
    tables = {
        "user": np.column_stack([model["user_factors"], model["user_bias"]]),
        "movie": np.column_stack([model["movie_factors"], model["movie_bias"]]),
    }

    def side(table: np.ndarray) -> Pipeline:
        ids = np.arange(1, len(table) + 1)
        return Pipeline(
            [
                ("onehot", OneHotEncoder(categories=[ids], handle_unknown="ignore")),
                ("embed", GaussianRandomProjection(n_components=width, random_state=0)),
            ]
        )

    columns = ColumnTransformer(
        [("user", side(tables["user"]), [0]), ("movie", side(tables["movie"]), [1])]
    )
    pipe = Pipeline(
        [
            ("embeddings", columns),
            ("pairs", PolynomialFeatures(2, interaction_only=True, include_bias=False)),
            ("sum", LinearRegression()),
        ]
    )
    n = max(len(tables["user"]), len(tables["movie"]))
    fit_x = np.column_stack(
        [np.arange(n) % len(tables["user"]) + 1, np.arange(n) % len(tables["movie"]) + 1]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(fit_x, np.zeros(n))
    for name, table in tables.items():
        pipe.named_steps["embeddings"].named_transformers_[name].named_steps[
            "embed"
        ].components_ = table.T.copy()
    pairs = list(itertools.combinations(range(2 * width), 2))
    coef = np.zeros(2 * width + len(pairs))
    coef[dim] = coef[width + dim] = 1.0  # the two bias columns
    index = {p: 2 * width + i for i, p in enumerate(pairs)}
    for k in range(dim):
        coef[index[(k, width + k)]] = 1.0
    pipe.named_steps["sum"].coef_ = coef
    pipe.named_steps["sum"].intercept_ = float(model["mean"])
    return pipe


# --------------------------------------------------------------------------- inference


def model_fn(model_dir: str) -> dict[str, np.ndarray]:
    with np.load(Path(model_dir) / MODEL_FILE) as data:
        return {k: data[k] for k in data.files}


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """text/csv rows `user_id,movie_id` or JSON instances [[user_id, movie_id], ...]."""
    rows = contract.parse_rows(body, content_type)
    contract.check_width(rows, 2)
    return rows


def predict_fn(data: np.ndarray, model: dict[str, np.ndarray]) -> np.ndarray:
    return np.clip(predict(model, data), 1.0, 5.0)


def output_fn(prediction: np.ndarray, accept: str) -> tuple[bytes, str]:
    return contract.encode_values(prediction, accept, default="text/csv")


if __name__ == "__main__":
    contract.run(train)
