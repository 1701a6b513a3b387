"""BANKING77 intent accuracy, 5-fold stratified cross-validation on ``train.csv``, with the shipped
classifier (no rejection: BANKING77 has no out-of-scope class). Anchor: about 93 % for bge-small + SVM.

Run: ``.venv/bin/python -m bench.intents_banking77``
"""

from __future__ import annotations

import csv
import time

import numpy as np

from bench.common import dataset, emit
from knowledge.embeddings import LocalMiniLMEmbedder
from services.router.classifier import Thresholds, TrainedIntentClassifier


def main() -> None:
    from sklearn.model_selection import StratifiedKFold

    with dataset("banking77", "train.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    texts = [row["text"] for row in rows]
    labels = np.array([row["category"] for row in rows])
    embedder = LocalMiniLMEmbedder(batch_size=64)
    vectors = embedder.embed_documents(texts)
    accuracies = []
    started = time.perf_counter()
    for fold, (train, test) in enumerate(
        StratifiedKFold(n_splits=5, shuffle=True, random_state=3).split(np.zeros(len(labels)), labels)
    ):
        classifier, _ = TrainedIntentClassifier.train(
            [texts[i] for i in train],
            labels[train].tolist(),
            embedder=embedder,
            version=f"fold{fold}",
            thresholds=Thresholds(0.0, 0.0),
            vectors=vectors[train],
        )
        predictions = classifier.predict_many([texts[i] for i in test], vectors[test])
        accuracies.append(
            float(np.mean([p.intent == y for p, y in zip(predictions, labels[test], strict=True)]))
        )
    emit(
        {
            "benchmark": "intents_banking77",
            "utterances": len(texts),
            "intents": len(set(labels)),
            "folds": 5,
            "accuracy_mean": round(float(np.mean(accuracies)), 4),
            "accuracy_per_fold": [round(a, 4) for a in accuracies],
            "seconds": round(time.perf_counter() - started, 1),
            "anchor": {"bge_small_svm": 0.931},
        }
    )


if __name__ == "__main__":
    main()
