"""Small image classifier (the image-classification lab's `image_classifier` script).

Channels `train` and `validation`: `images.npz` with `x` (n, h, w, 3) uint8 and `y` (n,) class
ids; the class names come from the data step's `schema.json` next to the channel when present.

Hyperparameters: the lab's TensorFlow transfer-learning names are accepted, and mapped onto a
scikit-learn pipeline that runs anywhere in seconds (every other pixel row and column -> PCA ->
standardise -> multinomial logistic regression):
- `epochs` (10): the solver's iterations, `max_iter = 10 * epochs`;
- `learning_rate` (0.001): the inverse regularisation, `C = 1000 * learning_rate` (so 0.001 -> 1);
- `fine_tune_layers` (20): PCA components, `2 * fine_tune_layers` (capped by the data);
- `base_model`, `image_size`, `batch_size`: recorded only (no pretrained backbone offline);
- `components` / `C` / `max_iter` override the mapping; `seed` (0).

Metrics: `validation:accuracy` and `train:accuracy` at the end. The model is
`model/model.joblib` (a stock scikit-learn Pipeline, so Vertex AI's prebuilt scikit-learn
container serves it: instances are flattened pixel lists) plus `model/classes.json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from labctl.entrypoints import contract

CONTENT_TYPE = "application/json"  # {"instances": [[pixel, ...], ...]} (flattened h*w*3)
BATCH_CONTENT_TYPE = "application/jsonlines"  # one flattened image per line
MODEL_FILE = "model.joblib"
CLASSES_FILE = "classes.json"


def load_channel(name: str) -> tuple[np.ndarray, np.ndarray]:
    """(x as float32 rows of flattened 0-255 pixels, y) of a channel's .npz files."""
    xs, ys = [], []
    for path in contract.channel_files(name):
        if path.suffix != ".npz":
            continue
        with np.load(path) as data:
            xs.append(data["x"].reshape(len(data["x"]), -1))
            ys.append(data["y"])
    if not xs:
        raise FileNotFoundError(f"channel '{name}' has no .npz image files")
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int64)


def class_names(n_classes: int) -> list[str]:
    """The breed names from the data step's schema.json, else class_<i>."""
    schema = contract.channel("train").resolve().parent / "schema.json"
    if schema.is_file():
        names = json.loads(schema.read_text(encoding="utf-8")).get("classes") or []
        if len(names) >= n_classes:
            return list(names)
    return [f"class_{i}" for i in range(n_classes)]


def make_pipeline(components: int, c: float, max_iter: int, seed: int, width: int) -> Any:
    """Every other pixel row and column -> PCA -> standardise -> logistic regression.

    Stock scikit-learn only (the subsampling is a ColumnTransformer picking pixel columns), so
    the pickled pipeline loads wherever scikit-learn does.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    side = round((width / 3) ** 0.5)
    grid = np.arange(width).reshape(side, side, 3) if side * side * 3 == width else None
    keep = grid[::2, ::2, :].ravel() if grid is not None else np.arange(width)
    return Pipeline(
        [
            ("subsample", ColumnTransformer([("pixels", "passthrough", keep.tolist())])),
            (
                "pca",
                PCA(
                    n_components=min(components, len(keep)),
                    svd_solver="randomized",
                    random_state=seed,
                ),
            ),
            ("standardise", StandardScaler()),
            ("classify", LogisticRegression(C=c, max_iter=max_iter)),
        ]
    )


def fit_and_score(
    x: np.ndarray,
    y: np.ndarray,
    val: tuple[np.ndarray, np.ndarray] | None,
    *,
    components: int,
    c: float,
    max_iter: int,
    seed: int,
) -> tuple[Any, dict[str, float]]:
    """Fit on 0-255 pixel rows; (pipeline, {train:accuracy, validation:accuracy})."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    components = max(1, min(components, x.shape[0] - 1, x.shape[1]))
    pipe = make_pipeline(components, c, max_iter, seed, x.shape[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pipe.fit(x, y)
    metrics = {"train:accuracy": float((pipe.predict(x) == y).mean())}
    if val is not None:
        metrics["validation:accuracy"] = float((pipe.predict(val[0]) == val[1]).mean())
    return pipe, metrics


def save(pipe: Any, n_classes: int) -> None:
    import joblib

    out = contract.model_dir()
    joblib.dump(pipe, out / MODEL_FILE)
    (out / CLASSES_FILE).write_text(json.dumps(class_names(n_classes)), encoding="utf-8")


def train() -> None:
    """Fit the pipeline on train, score validation, save model.joblib and classes.json."""
    hp = contract.hyperparameters()
    epochs = contract.hp_int("epochs", 10, low=1, high=10_000)
    lr = contract.hp_float("learning_rate", 0.001, low=1e-8, high=10.0)
    layers = contract.hp_int("fine_tune_layers", 20, low=1, high=1000)
    contract.hp_int("image_size", 224, low=8)
    contract.hp_int("batch_size", 64, low=1)
    contract.hp_str("base_model", "efficientnet_b0")
    components = contract.hp_int("components", 2 * layers, low=1)
    c = contract.hp_float("C", 1000.0 * lr, low=1e-8)
    max_iter = contract.hp_int("max_iter", 10 * epochs, low=1)
    seed = contract.hp_int("seed", 0)
    x, y = load_channel("train")
    try:
        val = load_channel("validation")
    except FileNotFoundError:
        val = None
    pipe, metrics = fit_and_score(
        x, y, val, components=components, c=c, max_iter=max_iter, seed=seed
    )
    for name, value in metrics.items():
        contract.emit_metric(name, value)
    save(pipe, int(max(y.max(), -1 if val is None else val[1].max())) + 1)
    contract.write_metrics(metrics)
    if "base_model" in hp:
        print(f"base_model={hp['base_model']} recorded; the stand-in has no pretrained backbone")


# --------------------------------------------------------------------------- inference


def model_fn(model_dir: str) -> dict[str, Any]:
    import joblib

    folder = Path(model_dir)
    classes = json.loads((folder / CLASSES_FILE).read_text(encoding="utf-8"))
    return {"pipeline": joblib.load(folder / MODEL_FILE), "classes": classes}


def input_fn(body: bytes, content_type: str) -> np.ndarray:
    """JSON `{"instances": [...]}` / a list of images, or JSON lines (one image per line); an
    image is a flat pixel list or nested [h][w][3]; values 0-255."""
    kind = contract.media_type(content_type, CONTENT_TYPE)
    try:
        if kind == "application/jsonlines":
            items = [json.loads(line) for line in body.splitlines() if line.strip()]
        elif kind == "application/json":
            data = json.loads(body)
            items = data["instances"] if isinstance(data, dict) else data
        else:
            raise contract.UnsupportedContentType(
                f"unsupported content type {content_type!r}: use application/json or "
                "application/jsonlines"
            )
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ValueError(f'payload must be {{"instances": [image, ...]}}: {exc}') from None
    if not isinstance(items, list) or not items:
        raise ValueError("payload has no images")
    try:
        rows = [np.asarray(item, dtype=np.float32).ravel() for item in items]
        return np.stack(rows)
    except ValueError:
        raise ValueError("every image must be the same size, as numbers 0-255") from None


def predict_fn(data: np.ndarray, model: dict[str, Any]) -> list[dict[str, Any]]:
    pipe = model["pipeline"]
    contract.check_width(data, pipe.n_features_in_)
    proba = pipe.predict_proba(data)
    best = proba.argmax(axis=1)
    labels = pipe.classes_[best]
    return [
        {"class": int(k), "label": model["classes"][int(k)], "score": round(float(p), 6)}
        for k, p in zip(labels, proba[np.arange(len(best)), best], strict=True)
    ]


def output_fn(prediction: list[dict[str, Any]], accept: str) -> tuple[bytes, str]:
    kind = contract.media_type(accept, "application/json")
    if kind == "application/jsonlines":
        return ("\n".join(json.dumps(p) for p in prediction) + "\n").encode(), kind
    if kind == "application/json":
        return json.dumps({"predictions": prediction}).encode(), kind
    raise contract.UnsupportedAccept(f"unsupported accept {accept!r}: use application/json")


def batch_input(src: Path, dst: Path, schema: dict[str, Any]) -> None:
    """The validation images as JSON lines of flattened pixels (no labels)."""
    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(src).glob("*.npz")):
        with np.load(path) as data:
            x = data["x"].reshape(len(data["x"]), -1)
        lines = (json.dumps(row) for row in x.tolist())
        (dst / f"{path.stem}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    contract.run(train)
