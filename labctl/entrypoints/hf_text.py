"""Hugging Face script mode: a transformer sequence classifier on labelled text.

Channels `train` and `validation`, one document per line, `__label__<label> tok tok ...` (the
BlazingText format of the `amazon-reviews-text` generator).

The model:
- in a SageMaker training job (the container sets TRAINING_JOB_NAME), the pretrained `model`
  (default distilbert-base-uncased) and its tokenizer are loaded from the Hugging Face Hub;
- anywhere else nothing is downloaded, ever: a DistilBERT built from a config, randomly
  initialised and tiny (`layers` 2, `dim` 64, `heads` 2), over a word vocabulary of the training
  text (words seen `min_count` times, default 2; each document starts with a CLS id, the
  position the classification head reads), at `local_learning_rate` (default 0.002: the step's
  `learning_rate` is a fine-tuning rate, too small from scratch), for at least
  `local_min_steps` optimizer steps (default 100: more epochs than the step's when one epoch
  of the local data is fewer steps; see `local_epochs`). So it trains with HF_HUB_OFFLINE=1
  and an empty cache, to ~0.9 validation accuracy on 4,000 generated reviews in ~30 s of CPU.

Hyperparameters: model, epochs (1), batch_size (32), learning_rate (5e-5), max_seq_length (128,
batches padded to their longest document), lr_scheduler (linear, cosine or constant) after a
linear warmup over warmup_ratio (0.1) of the steps, seed; the other names a lab gives
(mixed_precision, gradient_accumulation_steps, checkpointing...) are accepted and unused.
Data parallel over the job's ranks (`_torch.py`). Metrics: `train:loss` and
`validation:accuracy` per epoch (step = epoch), then `validation:accuracy` and
`train:accuracy`. Saved with `save_pretrained` to model/, with `labels.json` (classes, sequence
length and the local vocabulary) and, for a pretrained model, its tokenizer. Served like
BlazingText (`text_classifier`'s request and response formats).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from labctl.entrypoints import _torch, contract, text_classifier

CONTENT_TYPE = "application/json"  # {"instances": ["text", ...], "configuration": {"k": n}}
BATCH_CONTENT_TYPE = "text/plain"  # one document per line
LABELS_FILE = "labels.json"
PAD, UNKNOWN, CLS = 0, 1, 2  # the local vocabulary's special ids; words start at 3
SCHEDULERS = ("linear", "cosine", "constant")  # lr_scheduler: after a linear warmup

input_fn = text_classifier.input_fn
output_fn = text_classifier.output_fn


def on_sagemaker() -> bool:
    """Whether this runs in a SageMaker training job (where the hub is reachable)."""
    return bool(os.environ.get("TRAINING_JOB_NAME"))


def local_model(vocab_size: int, classes: int, layers: int, dim: int, heads: int) -> Any:
    """A randomly initialised DistilBERT classifier from a config: nothing is downloaded."""
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    config = DistilBertConfig(
        vocab_size=vocab_size,
        n_layers=layers,
        dim=dim,
        n_heads=heads,
        hidden_dim=4 * dim,
        max_position_embeddings=512,
        num_labels=classes,
        pad_token_id=PAD,
    )
    return DistilBertForSequenceClassification(config)


def encode(
    docs: list[str], vocab: dict[str, int] | None, tokenizer: Any, length: int
) -> dict[str, Any]:
    """input_ids and attention_mask (torch) of documents, cut to `length` tokens and padded to
    the longest. With the local vocabulary each starts with CLS, the position the classification
    head reads (as the pretrained tokenizer's [CLS])."""
    import torch

    if tokenizer is not None:
        return dict(
            tokenizer(docs, truncation=True, max_length=length, padding=True, return_tensors="pt")
        )
    assert vocab is not None
    rows = [[CLS] + [vocab.get(t, UNKNOWN) for t in doc.split()[: length - 1]] for doc in docs]
    ids = np.full((len(docs), max(map(len, rows))), PAD, dtype=np.int64)  # padded to the longest
    for row, tokens in enumerate(rows):
        ids[row, : len(tokens)] = tokens
    ids_t = torch.from_numpy(ids)
    return {"input_ids": ids_t, "attention_mask": (ids_t != PAD).long()}


def probabilities(model: dict[str, Any], docs: list[str], batch: int = 64) -> np.ndarray:
    import torch

    net = model["network"]
    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(docs), batch):
            inputs = encode(
                docs[start : start + batch], model["vocab"], model["tokenizer"], model["length"]
            )
            out.append(torch.softmax(net(**inputs).logits, dim=1).numpy())
    return np.concatenate(out)


def local_epochs(epochs: int, steps: int) -> int:
    """The epochs a model trained from scratch runs: the step's, or enough for
    `local_min_steps` optimizer steps (default 100) when `steps` per epoch are fewer.

    A step's `epochs` fine-tune a pretrained model on the cloud-sized dataset; locally the
    model starts from random weights on a few thousand documents, and one epoch of a few
    dozen steps leaves it near chance."""
    least = contract.hp_int("local_min_steps", 100, low=0)
    needed = max(epochs, -(-least // steps))
    if needed > epochs and _torch.is_main():
        _torch.log(
            f"{epochs} epoch(s) of {steps} steps are too few from random weights: "
            f"{needed} epochs, at least local_min_steps={least} steps"
        )
    return needed


def schedule(optimizer: Any, total_steps: int) -> Any:
    """The learning rate per step: linear warmup over `warmup_ratio` (0.1) of the steps, then
    `lr_scheduler` (linear, cosine or constant; default linear, as the Trainer's)."""
    from transformers import get_scheduler

    name = contract.hp_str("lr_scheduler", "linear", choices=SCHEDULERS)
    warmup = contract.hp_float("warmup_ratio", 0.1, low=0.0, high=1.0)
    kind = "constant_with_warmup" if name == "constant" else name
    return get_scheduler(
        kind, optimizer, num_warmup_steps=int(warmup * total_steps), num_training_steps=total_steps
    )


def train() -> None:
    """Fine-tune (SageMaker) or train from a config (elsewhere); rank 0 evaluates and saves."""
    _torch.require("hf_text")
    import torch

    name = contract.hp_str("model", "distilbert-base-uncased")
    epochs = contract.hp_int("epochs", 1, low=1, high=1000)
    batch_size = contract.hp_int("batch_size", 32, low=1)
    length = contract.hp_int("max_seq_length", 128, low=8, high=512)
    seed = contract.hp_int("seed", 0)
    y_train, x_train = text_classifier.read_labelled("train")
    try:
        y_val, x_val = text_classifier.read_labelled("validation")
    except FileNotFoundError:
        y_val, x_val = [], []
    classes = sorted(set(y_train))
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[y] for y in y_train])
    torch.manual_seed(seed)
    vocab: dict[str, int] | None = None
    tokenizer = None
    if on_sagemaker():
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        learning_rate = contract.hp_float("learning_rate", 5e-5, low=1e-8, high=1.0)
        _torch.log(f"loading the pretrained {name} and its tokenizer from the Hugging Face Hub")
        tokenizer = AutoTokenizer.from_pretrained(name)
        net = AutoModelForSequenceClassification.from_pretrained(name, num_labels=len(classes))
    else:
        learning_rate = contract.hp_float("local_learning_rate", 0.002, low=1e-8, high=1.0)
        words = text_classifier._vocabulary(x_train, contract.hp_int("min_count", 2, low=1))
        vocab = {word: i + CLS for word, i in words.items()}  # from 3: 0 pad, 1 unknown, 2 cls
        layers = contract.hp_int("layers", 2, low=1, high=12)
        heads = contract.hp_int("heads", 2, low=1, high=16)
        dim = contract.hp_int("dim", 64, low=heads, high=1024)
        if dim % heads:
            raise contract.HyperparameterError(f"dim={dim} must be a multiple of heads={heads}")
        net = local_model(len(vocab) + CLS + 1, len(classes), layers, dim, heads)
        if _torch.is_main():
            print(
                f"{name} is not downloaded off SageMaker: a {layers}-layer DistilBERT of width "
                f"{dim} built from a config, random init, at local_learning_rate={learning_rate}"
            )
    model = {"network": net, "vocab": vocab, "tokenizer": tokenizer, "length": length}
    steps = max(1, -(-(len(x_train) // _torch.world_size()) // batch_size))  # per epoch and rank
    if not on_sagemaker():
        epochs = local_epochs(epochs, steps)
    metrics: dict[str, float] = {}
    with _torch.distributed():
        ddp = _torch.wrap(net)
        optimizer = torch.optim.AdamW(ddp.parameters(), lr=learning_rate)
        scheduler = schedule(optimizer, epochs * steps)
        _torch.log(f"{len(x_train) // _torch.world_size()} of {len(x_train)} documents per epoch")
        for epoch in range(1, epochs + 1):
            net.train()
            total, seen = 0.0, 0
            for rows in _torch.batches(_torch.shard(len(x_train), seed, epoch), batch_size):
                inputs = encode([x_train[i] for i in rows], vocab, tokenizer, length)
                loss = ddp(**inputs, labels=labels[rows]).loss
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                scheduler.step()
                total, seen = total + loss.item() * len(rows), seen + len(rows)
            if not _torch.is_main():
                continue
            contract.emit_metric("train:loss", total / max(seen, 1), step=epoch)
            if x_val:
                predicted = probabilities(model, x_val).argmax(axis=1)
                truth = np.array([index.get(y, -1) for y in y_val])
                metrics["validation:accuracy"] = float(np.mean(predicted == truth))
                contract.emit_metric("validation:accuracy", metrics["validation:accuracy"], epoch)
        # let go of DistributedDataParallel while the process group is up: when it outlived
        # destroy_process_group (freed at return), rank 0 once hung in ProcessGroupGloo's
        # destructor (it held the GIL; a gloo worker held the lock and waited for the GIL)
        del ddp
    if not _torch.is_main():
        return
    predicted = probabilities(model, x_train).argmax(axis=1)
    metrics["train:accuracy"] = float(np.mean(predicted == labels.numpy()))
    for metric, value in metrics.items():
        contract.emit_metric(metric, value)
    out = contract.model_dir()
    net.save_pretrained(out)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    saved = {"classes": classes, "max_seq_length": length, "vocab": vocab, "model": name}
    (out / LABELS_FILE).write_text(json.dumps(saved), encoding="utf-8")
    _torch.log(f"saved {name if tokenizer is not None else 'the local model'} to model/")
    contract.write_metrics(metrics)


# --------------------------------------------------------------------------- inference


def model_fn(model_dir: str) -> dict[str, Any]:
    """The saved classifier and how to tokenize for it (all from model/, nothing downloaded)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = Path(model_dir)
    saved = json.loads((folder / LABELS_FILE).read_text(encoding="utf-8"))
    net = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True)
    vocab = saved["vocab"]
    tokenizer = None
    if vocab is None:
        tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return {
        "network": net.eval(),
        "vocab": vocab,
        "tokenizer": tokenizer,
        "length": saved["max_seq_length"],
        "classes": saved["classes"],
    }


def predict_fn(data: dict[str, Any], model: dict[str, Any]) -> list[dict[str, list]]:
    """The top-k labels (prefixed `__label__`) and probabilities of every document."""
    probs = probabilities(model, data["docs"])
    return text_classifier.top_labels(probs, model["classes"], data["k"])


if __name__ == "__main__":
    contract.run(train)
