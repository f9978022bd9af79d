"""The text generators: newsgroups topics and Amazon-review polarity, as token ids over a
vocabulary (vectorised numpy), and their documents as lines (`docs_text`); written by
`labctl.datagen.tabular.generate` like the tabular ones."""

from __future__ import annotations

import numpy as np

from labctl.datagen.columns import Cat, Dataset

# --------------------------------------------------------------------------- newsgroups text

_COMMON = (
    "the of and to a in is that it for on with as was be this are by at have from or not "
    "but an they which you one we all there their has been would can if will more about "
    "so what when who some out up do no just like time people think know get also only "
    "other very any new well good make could because way even said first two much then "
    "these them after most over into see use year years many before here should still "
    "something anyone really problem question thanks information please post article "
    "read writes wrote point sure right work help find look need want thing things last "
    "long little great best better world day back made same while those another since "
    "between without under both each few however never always often number part place"
).split()
_TOPICS: dict[str, str] = {
    "sci.space": "orbit nasa shuttle launch moon mars satellite rocket spacecraft lunar "
    "astronaut mission payload solar planet jpl apollo booster telescope probe",
    "rec.autos": "car engine dealer ford honda toyota brake tires mileage transmission "
    "sedan clutch v8 horsepower gas oil driving highway mustang warranty",
    "comp.graphics": "image graphics render polygon jpeg gif texture pixel shading 3d "
    "raytracing vga palette bitmap animation vertex format viewer tiff algorithm",
    "talk.politics.misc": "government president clinton tax congress law rights vote "
    "policy federal senate liberal conservative election democrats republicans state "
    "freedom citizens administration",
    "rec.sport.hockey": "hockey nhl team game season goal playoff puck ice leafs bruins "
    "rangers penguins coach player score wings stanley cup period",
    "sci.med": "doctor patient disease treatment medical drug cancer symptoms pain "
    "diet health clinical hospital infection therapy study msg vitamin blood physician",
    "comp.sys.mac.hardware": "mac apple quadra powerbook monitor simm ram scsi drive "
    "centris lc iisi video card disk upgrade motherboard floppy cpu system",
    "misc.forsale": "sale offer price shipping condition sell asking obo brand mint "
    "manual box included interested email buyer cheap items excellent pay",
}
# sibling groups share part of their vocabulary (comp.* with comp.*, rec.* with rec.*, ...)
_SHARED: dict[str, str] = {
    "sci": "science research data theory energy physics experiment results",
    "rec": "fan fans watch win league play played race speed",
    "comp": "computer software hardware memory program file windows pc version dos",
    "talk": "government public country american law",
    "misc": "new used computer condition car drive",
}


def newsgroups_text(rows: int, rng: np.random.Generator) -> Dataset:
    """~8 newsgroup topics, each its own vocabulary over a shared common one; 20-120 tokens."""
    own = {t: f"{words} {_SHARED[t.split('.')[0]]}" for t, words in _TOPICS.items()}
    return _topic_text(rows, rng, own, "newsgroup", lengths=(20, 121), topical=(1.5, 12.0))


_SENTIMENT: dict[str, str] = {  # Amazon Reviews Polarity's two classes
    "negative": "broke broken return refund disappointed waste poor cheap junk stopped "
    "defective worst terrible useless flimsy returned awful fails missing died",
    "positive": "great love excellent perfect works recommend happy sturdy quality "
    "easy amazing best fantastic reliable comfortable favorite beautiful solid fast value",
}
_PRODUCT = (
    "product item bought battery price shipping box seller amazon order size color "
    "charger cable case screen sound book kitchen phone fit month week days used"
)


def amazon_reviews_text(rows: int, rng: np.random.Generator) -> Dataset:
    """Product reviews with a negative/positive label; sentiment words over product chatter."""
    own = {label: f"{words} {_PRODUCT}" for label, words in _SENTIMENT.items()}
    return _topic_text(rows, rng, own, "polarity", lengths=(15, 90), topical=(2.0, 10.0))


def _topic_text(
    rows: int,
    rng: np.random.Generator,
    own: dict[str, str],
    label: str,
    *,
    lengths: tuple[int, int],
    topical: tuple[float, float],
) -> Dataset:
    """Documents whose class shows in a share of class words (`own`) over common English.

    `lengths` bounds the tokens per document; `topical` is the beta prior of each document's
    share of class words (many posts are mostly chatter).
    """
    classes = list(own)
    vocab: list[str] = list(_COMMON)
    offsets, widths = [], []
    for cls in classes:
        words = own[cls].split()
        offsets.append(len(vocab))
        widths.append(len(words))
        vocab.extend(words)
    n_common = len(_COMMON)

    labels = rng.integers(0, len(classes), size=rows)
    sizes = rng.integers(*lengths, size=rows)
    share = rng.beta(*topical, size=rows).astype(np.float32)
    doc_of = np.repeat(np.arange(rows, dtype=np.int32), sizes)
    total = len(doc_of)
    u = rng.random((3, total), dtype=np.float32)
    # one class word in six comes from another class (cross-posting, quoting, "not great")
    word_class = np.where(
        u[1] < 1 / 6, rng.integers(0, len(classes), size=total, dtype=np.int8), labels[doc_of]
    )
    # Zipf-like ranks: floor((n+1)**u) - 1 has P(k) ~ 1/(k+1)
    common_tok = (np.float32(n_common + 1) ** u[2]).astype(np.int32) - 1
    class_tok = np.asarray(offsets)[word_class] + (
        u[2] ** 1.6 * np.asarray(widths, dtype=np.float32)[word_class]
    ).astype(np.int32)
    token_ids = np.where(u[0] < share[doc_of], class_tok, np.minimum(common_tok, n_common - 1))
    return Dataset(
        raw={label: Cat(labels, tuple(classes))},
        labels=labels,
        feature_names=["text"],
        token_ids=token_ids,
        lengths=sizes,
        vocab=vocab,
        classes=classes,
    )


def docs_text(data: Dataset, prefix: np.ndarray, rows: np.ndarray | None = None) -> str:
    """One line per document: `prefix[doc]` (label and separator) then its tokens."""
    assert data.token_ids is not None and data.lengths is not None
    size = len(data.vocab)
    table = np.asarray([w + " " for w in data.vocab] + [w + "\n" for w in data.vocab], object)
    ends = np.cumsum(data.lengths)
    starts = ends - data.lengths
    last = np.zeros(len(data.token_ids), dtype=bool)
    last[ends - 1] = True
    tokens = table[data.token_ids + size * last]
    # each document owns the slots [start + doc, end + doc]: its prefix then its tokens
    slots = np.empty(len(tokens) + len(prefix), dtype=object)
    head = starts + np.arange(len(prefix))
    mask = np.ones(len(slots), dtype=bool)
    mask[head] = False
    slots[head] = prefix
    slots[mask] = tokens
    if rows is not None:
        keep = np.zeros(len(prefix), dtype=bool)
        keep[rows] = True
        slots = slots[np.repeat(keep, data.lengths + 1)]
    return "".join(slots.tolist())
