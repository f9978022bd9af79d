"""Stand-in for SageMaker BlazingText in supervised mode: TF-IDF + a logistic SGD classifier.

Channels `train` and `validation`, one document per line: `__label__<label> tok tok ...`.
Hyperparameters (BlazingText's names): mode (must be `supervised`), epochs (default 5),
learning_rate (default 0.05), word_ngrams (1-2, default 1), min_count (default 5), seed;
vector_dim is accepted for compatibility and unused locally (TF-IDF has no embedding size).

Metrics: `validation:accuracy` after every epoch (step = epoch) and at the end; also
`train:accuracy` at the end. The model is written to `model/model.joblib`.

Script mode with a `distribution` hyperparameter (distributed-training-inference's
train-distributed) and PyTorch installed: a bag-of-words classifier (an EmbeddingBag of
`vector_dim`, default 64, and a linear layer; Adam at `learning_rate`, `batch_size` default 64)
trained data-parallel with DistributedDataParallel over the job's ranks (`_torch.py`), written
to `model/model.pt`; it also emits `train:epoch_seconds` per epoch. `model` (a Hugging Face name)
is not downloaded: the local run trains this small model in its place and says so; as the step's
`learning_rate` is then a fine-tuning rate (e.g. 2e-4), far too small for a model trained from
scratch in an epoch, it uses `local_learning_rate` (default 0.01) instead.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np

from labctl.entrypoints import contract

CONTENT_TYPE = "application/json"  # endpoint requests
BATCH_CONTENT_TYPE = "text/plain"  # batch transform: one document per line

MODEL_FILE = "model.joblib"
TORCH_FILE = "model.pt"
PREFIX = "__label__"


def read_labelled(name: str) -> tuple[list[str], list[str]]:
    """(labels, texts) of a channel in BlazingText supervised format (first label kept)."""
    labels: list[str] = []
    texts: list[str] = []
    for path in contract.channel_files(name):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            head, _, text = line.strip().partition(" ")
            if not head.startswith(PREFIX) or len(head) == len(PREFIX):
                raise ValueError(f"{path.name}:{number}: line does not start with __label__<x>")
            while text.startswith(PREFIX):  # extra labels: keep the first one
                text = text.partition(" ")[2]
            labels.append(head[len(PREFIX) :])
            texts.append(text)
    if not labels:
        raise ValueError(f"channel '{name}' has no documents")
    return labels, texts


def train() -> None:
    """The PyTorch model when the step is distributed and torch is installed, else TF-IDF
    (on rank 0 only: the other ranks of a distributed job have nothing to do then)."""
    from labctl.entrypoints import _torch

    if "distribution" in contract.hyperparameters():
        if _torch.available():
            return train_torch()
        if not _torch.is_main():
            return _torch.log("PyTorch is not installed: rank 0 trains alone")
        _torch.log(f"distribution is set but PyTorch is not installed ({_torch.INSTALL}):")
        _torch.log("training TF-IDF + a linear model in one process instead")
    return train_sklearn()


def train_sklearn() -> None:
    """Fit TF-IDF + SGDClassifier(log_loss) epoch by epoch; save model/model.joblib."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import SGDClassifier

    contract.hp_str("mode", "supervised", choices=("supervised",))
    epochs = contract.hp_int("epochs", 5, low=1, high=1000)
    learning_rate = contract.hp_float("learning_rate", 0.05, low=1e-8, high=10.0)
    ngrams = contract.hp_int("word_ngrams", 1, low=1, high=2)
    min_count = contract.hp_int("min_count", 5, low=1)
    seed = contract.hp_int("seed", 0)
    contract.hp_int("vector_dim", 100, low=1)  # validated, unused locally

    y_train, x_train = read_labelled("train")
    try:
        y_val, x_val = read_labelled("validation")
    except FileNotFoundError:
        y_val, x_val = [], []
    vectorizer = TfidfVectorizer(
        ngram_range=(1, ngrams), min_df=min_count, sublinear_tf=True, token_pattern=r"\S+"
    )
    xt = vectorizer.fit_transform(x_train)
    xv = vectorizer.transform(x_val) if x_val else None
    classes = np.array(sorted(set(y_train)))
    model = SGDClassifier(
        loss="log_loss",
        learning_rate="invscaling",
        eta0=learning_rate * 10.0,
        power_t=0.25,
        alpha=1e-5,
        random_state=seed,
    )
    rng = np.random.default_rng(seed)
    y_arr = np.asarray(y_train)
    accuracy = float("nan")
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(y_arr))
        model.partial_fit(xt[order], y_arr[order], classes=classes)
        if xv is not None:
            accuracy = float((model.predict(xv) == np.asarray(y_val)).mean())
            contract.emit_metric("validation:accuracy", accuracy, step=epoch)
    metrics = {"train:accuracy": float((model.predict(xt) == y_arr).mean())}
    if xv is not None:
        metrics["validation:accuracy"] = accuracy
    for name, value in metrics.items():
        contract.emit_metric(name, value)
    joblib.dump({"vectorizer": vectorizer, "classifier": model}, contract.model_dir() / MODEL_FILE)
    contract.write_metrics(metrics)


def _vocabulary(docs: list[str], min_count: int) -> dict[str, int]:
    """Token -> index from 1 (0: out of vocabulary), tokens seen at least `min_count` times."""
    from collections import Counter

    counts = Counter(tok for doc in docs for tok in doc.split())
    kept = sorted(tok for tok, n in counts.items() if n >= min_count)
    return {tok: i for i, tok in enumerate(kept, 1)}


def _encode(docs: list[str], vocab: dict[str, int]) -> list[np.ndarray]:
    return [np.array([vocab.get(t, 0) for t in d.split()] or [0], dtype=np.int64) for d in docs]


def _bag(encoded: list[np.ndarray], rows: Any) -> tuple[Any, Any]:
    """(flat token ids, offsets) of some documents, the EmbeddingBag's input."""
    import torch

    parts = [encoded[i] for i in rows]
    offsets = np.cumsum([0] + [len(p) for p in parts[:-1]])
    return torch.from_numpy(np.concatenate(parts)), torch.from_numpy(offsets)


def _network(vocab_size: int, dim: int, classes: int) -> Any:
    import torch

    class BagOfWords(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.EmbeddingBag(vocab_size, dim, mode="mean")
            self.out = torch.nn.Linear(dim, classes)

        def forward(self, tokens: Any, offsets: Any) -> Any:
            return self.out(self.embedding(tokens, offsets))

    return BagOfWords()


def _torch_proba(model: dict[str, Any], docs: list[str]) -> np.ndarray:
    import torch

    encoded = _encode(docs, model["vocab"])
    with torch.no_grad():
        logits = model["network"](*_bag(encoded, range(len(encoded))))
    return torch.softmax(logits, dim=1).numpy()


def train_torch() -> None:
    """Train the bag-of-words classifier data-parallel; rank 0 evaluates and saves model.pt."""
    import time

    import torch

    from labctl.entrypoints import _torch

    epochs = contract.hp_int("epochs", 5, low=1, high=1000)
    learning_rate = contract.hp_float("learning_rate", 0.01, low=1e-8, high=10.0)
    batch_size = contract.hp_int("batch_size", 64, low=1)
    min_count = contract.hp_int("min_count", 5, low=1)
    dim = contract.hp_int("vector_dim", 64, low=1, high=4096)
    seed = contract.hp_int("seed", 0)
    name = contract.hyperparameters().get("model")
    if name:
        learning_rate = contract.hp_float("local_learning_rate", 0.01, low=1e-8, high=10.0)
        if _torch.is_main():
            print(
                f"model {name} is not downloaded locally: training a bag-of-words model in its "
                f"place, at local_learning_rate={learning_rate}"
            )
    y_train, x_train = read_labelled("train")
    try:
        y_val, x_val = read_labelled("validation")
    except FileNotFoundError:
        y_val, x_val = [], []
    classes = sorted(set(y_train))
    vocab = _vocabulary(x_train, min_count)
    index = {c: i for i, c in enumerate(classes)}
    encoded = _encode(x_train, vocab)
    labels = torch.tensor([index[y] for y in y_train])
    val_labels = np.array([index.get(y, -1) for y in y_val])
    torch.manual_seed(seed)
    network = _network(len(vocab) + 1, dim, len(classes))
    model = {"vocab": vocab, "classes": classes, "network": network}
    metrics: dict[str, float] = {}
    with _torch.distributed():
        ddp = _torch.wrap(network)
        optimizer = torch.optim.Adam(ddp.parameters(), lr=learning_rate)
        loss_fn = torch.nn.CrossEntropyLoss()
        _torch.log(f"{len(x_train) // _torch.world_size()} of {len(x_train)} documents per epoch")
        for epoch in range(1, epochs + 1):
            started = time.monotonic()
            network.train()
            for rows in _torch.batches(_torch.shard(len(encoded), seed, epoch), batch_size):
                optimizer.zero_grad()
                loss = loss_fn(ddp(*_bag(encoded, rows)), labels[rows])
                loss.backward()
                optimizer.step()
            seconds = time.monotonic() - started
            if _torch.is_main():
                network.eval()
                contract.emit_metric("train:epoch_seconds", seconds, step=epoch)
                if x_val:
                    predicted = _torch_proba(model, x_val).argmax(axis=1)
                    accuracy = float(np.mean(predicted == val_labels))
                    metrics["validation:accuracy"] = accuracy
                    contract.emit_metric("validation:accuracy", accuracy, step=epoch)
    if not _torch.is_main():
        return
    network.eval()
    predicted = _torch_proba(model, x_train).argmax(axis=1)
    metrics["train:accuracy"] = float(np.mean(predicted == labels.numpy()))
    for metric, value in metrics.items():
        contract.emit_metric(metric, value)
    torch.save(
        {"vocab": vocab, "classes": classes, "dim": dim, "state_dict": network.state_dict()},
        contract.model_dir() / TORCH_FILE,
    )
    _torch.log(f"saved {TORCH_FILE}")
    contract.write_metrics(metrics)


# --------------------------------------------------------------------------- inference


def model_fn(model_dir: str) -> dict[str, Any]:
    """Load model/model.joblib ({"vectorizer", "classifier"}) or, from a distributed run,
    model/model.pt ({"vocab", "classes", "network"})."""
    path = Path(model_dir) / TORCH_FILE
    if not path.exists():
        return joblib.load(Path(model_dir) / MODEL_FILE)
    import torch

    saved = torch.load(path, weights_only=True)
    network = _network(len(saved["vocab"]) + 1, saved["dim"], len(saved["classes"]))
    network.load_state_dict(saved["state_dict"])
    network.eval()
    return {"vocab": saved["vocab"], "classes": saved["classes"], "network": network}


def input_fn(body: bytes, content_type: str) -> dict[str, Any]:
    """application/json {"instances": [...], "configuration": {"k": n}} or text/plain lines."""
    kind = contract.media_type(content_type, "application/json")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("payload is not UTF-8 text") from None
    k = 1
    if kind == "application/json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"payload is not valid JSON: {exc}") from None
        if isinstance(data, dict):
            try:
                k = int((data.get("configuration") or {}).get("k", 1))
            except (TypeError, ValueError, AttributeError):
                raise ValueError("configuration.k must be an integer") from None
            data = data.get("instances")
        if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
            raise ValueError('JSON payload must be {"instances": ["text", ...]}')
        docs = data
    elif kind in ("text/plain", "text/csv"):
        docs = [line for line in text.splitlines() if line.strip()]
    else:
        raise contract.UnsupportedContentType(
            f"unsupported content type {content_type!r}: use application/json or text/plain"
        )
    if not docs:
        raise ValueError("no documents in the payload")
    return {"docs": docs, "k": max(k, 1)}


def predict_fn(data: dict[str, Any], model: dict[str, Any]) -> list[dict[str, list]]:
    """The top-k labels (prefixed `__label__`) and probabilities of every document."""
    if "network" in model:
        probs, classes = _torch_proba(model, data["docs"]), model["classes"]
    else:
        classifier = model["classifier"]
        probs = classifier.predict_proba(model["vectorizer"].transform(data["docs"]))
        classes = classifier.classes_
    return top_labels(probs, classes, data["k"])


def top_labels(probs: np.ndarray, classes: Any, k: int) -> list[dict[str, list]]:
    """BlazingText's answer per row of class probabilities: the top-k labels and probabilities."""
    k = min(k, probs.shape[1])
    top = np.argsort(-probs, axis=1)[:, :k]
    return [
        {
            "label": [PREFIX + str(classes[j]) for j in row],
            "prob": [round(float(p[j]), 6) for j in row],
        }
        for row, p in zip(top, probs, strict=True)
    ]


def output_fn(prediction: list[dict[str, list]], accept: str) -> tuple[bytes, str]:
    """application/json as BlazingText; text/plain or text/csv: the top label, one per line."""
    kind = contract.media_type(accept, "application/json")
    if kind == "application/json":
        return json.dumps(prediction).encode(), "application/json"
    if kind in ("text/plain", "text/csv"):
        lines = "".join(p["label"][0] + "\n" for p in prediction)
        return lines.encode(), kind
    raise contract.UnsupportedAccept(
        f"unsupported accept {accept!r}: use application/json, text/plain or text/csv"
    )


if __name__ == "__main__":
    contract.run(train)
