"""Intent classification with out-of-scope detection on CLINC150 (val), and latency per message.

Trains the shipped classifier (``services.router.classifier``) on ``train`` + ``oos_train`` (the 100
out-of-scope training utterances become the out-of-scope class) and reports, on ``val`` + ``oos_val``,
in-scope accuracy (an in-scope message counts only if classified correctly and not rejected) together
with out-of-scope recall, at two operating points:
- ``calibrated``: thresholds chosen automatically from 3-fold out-of-fold predictions on the training
  data, as ``deskpilot intents train`` does (val untouched);
- ``tuned_on_val``: the confidence threshold with the best OOS recall whose in-scope accuracy stays
  >= 96.5 % on val (the issue's protocol: tune on val/oos_val, report on val).
It also compares out-of-scope decisions at that same in-scope accuracy: a confidence threshold alone
(model trained without the OOS class), a distance threshold (cosine similarity of the message to its
nearest training utterance), and the shipped OOS class plus confidence threshold.
Published anchors (test split): BERT 96.9/40.3 (OOS class), 96.2/52.3 (threshold); Rasa 91.5/45.3.

Run: ``.venv/bin/python -m bench.intents_clinc150``
"""

from __future__ import annotations

import json
import time

import numpy as np

from bench.common import dataset, emit, percentile
from knowledge.embeddings import LocalMiniLMEmbedder
from services.router.classifier import Thresholds, TrainedIntentClassifier, _decide
from services.router.intents import OUT_OF_SCOPE


def _label(intent: str) -> str:
    return OUT_OF_SCOPE if intent == "oos" else intent


def evaluate(
    probabilities: np.ndarray, classes: list[str], labels: list[str], thresholds: Thresholds
) -> dict[str, float]:
    """In-scope accuracy, OOS recall and clarify rate at these thresholds."""
    decisions = _decide(probabilities, classes, thresholds)
    in_scope = [i for i, y in enumerate(labels) if y != OUT_OF_SCOPE]
    oos = [i for i, y in enumerate(labels) if y == OUT_OF_SCOPE]
    return {
        "in_scope_accuracy": round(sum(decisions[i][0] == labels[i] for i in in_scope) / len(in_scope), 4),
        "oos_recall": round(sum(decisions[i][2] for i in oos) / len(oos), 4),
        "ambiguous_rate_in_scope": round(sum(decisions[i][3] for i in in_scope) / len(in_scope), 4),
        "confidence_threshold": thresholds.confidence,
        "ambiguity_threshold": thresholds.ambiguity,
    }


def compare_oos_methods(
    train_texts: list[str],
    train_labels: list[str],
    train_vectors: np.ndarray,
    texts: list[str],
    labels: list[str],
    test_vectors: np.ndarray,
    embedder: LocalMiniLMEmbedder,
) -> dict[str, dict[str, float]]:
    """Best OOS recall with in-scope accuracy >= 96.5 % for a confidence or a distance threshold alone."""
    in_scope = np.array([y != OUT_OF_SCOPE for y in train_labels])
    model, _ = TrainedIntentClassifier.train(
        [t for t, keep in zip(train_texts, in_scope, strict=True) if keep],
        [y for y, keep in zip(train_labels, in_scope, strict=True) if keep],
        embedder=embedder,
        version="no-oos-class",
        thresholds=Thresholds(0.0, 0.0),
        vectors=train_vectors[in_scope],
    )
    probabilities = model.predict_proba(texts, test_vectors)
    predicted = np.array([model.classes[i] for i in probabilities.argmax(axis=1)])
    confidence = probabilities.max(axis=1)
    nearest = (test_vectors @ train_vectors[in_scope].T).max(axis=1)
    gold = np.array(labels)
    oos = gold == OUT_OF_SCOPE

    def best(score: np.ndarray) -> dict[str, float]:
        choice = {"in_scope_accuracy": 0.0, "oos_recall": 0.0}
        for threshold in np.unique(np.round(score, 3)):
            accepted = score >= threshold
            accuracy = float(np.mean((predicted == gold)[~oos] & accepted[~oos]))
            recall = float(np.mean(~accepted[oos]))
            if accuracy >= 0.965 and recall >= choice["oos_recall"]:
                choice = {
                    "in_scope_accuracy": round(accuracy, 4),
                    "oos_recall": round(recall, 4),
                    "threshold": float(threshold),
                }
        return choice

    return {"confidence_threshold_only": best(confidence), "nearest_neighbour_distance": best(nearest)}


def main() -> None:
    data = json.loads(dataset("clinc150", "clinc150_trainval.json").read_text())
    train = data["train"] + data["oos_train"]
    test = data["val"] + data["oos_val"]
    embedder = LocalMiniLMEmbedder(batch_size=64)
    train_texts, train_labels = [t for t, _ in train], [_label(y) for _, y in train]
    train_vectors = embedder.embed_documents(train_texts)
    started = time.perf_counter()
    classifier, report = TrainedIntentClassifier.train(
        train_texts, train_labels, embedder=embedder, version="clinc150-bench", vectors=train_vectors
    )
    train_s = time.perf_counter() - started
    texts, labels = [t for t, _ in test], [_label(y) for _, y in test]
    test_vectors = embedder.embed_documents(texts)
    probabilities = classifier.predict_proba(texts, test_vectors)

    calibrated = evaluate(probabilities, classifier.classes, labels, classifier.thresholds)
    sweep = [
        evaluate(
            probabilities, classifier.classes, labels, Thresholds(float(t), classifier.thresholds.ambiguity)
        )
        for t in np.arange(0.0, 0.8, 0.01)
    ]
    eligible = [point for point in sweep if point["in_scope_accuracy"] >= 0.965]
    tuned = (
        max(eligible, key=lambda p: p["oos_recall"])
        if eligible
        else max(sweep, key=lambda p: p["in_scope_accuracy"])
    )
    raw = evaluate(probabilities, classifier.classes, labels, Thresholds(0.0, 0.0))
    methods = compare_oos_methods(
        train_texts, train_labels, train_vectors, texts, labels, test_vectors, embedder
    )
    methods["oos_class_plus_confidence_threshold (shipped)"] = {
        "in_scope_accuracy": tuned["in_scope_accuracy"],
        "oos_recall": tuned["oos_recall"],
    }

    latencies = []
    for text in texts[:300]:
        begun = time.perf_counter()
        classifier.predict(text)
        latencies.append((time.perf_counter() - begun) * 1000)
    emit(
        {
            "benchmark": "intents_clinc150",
            "train_utterances": len(train),
            "eval_utterances": {
                "in_scope": sum(y != OUT_OF_SCOPE for y in labels),
                "oos": labels.count(OUT_OF_SCOPE),
            },
            "train_seconds_including_3_fold_calibration": round(train_s, 1),
            "training_report": report.__dict__,
            "no_rejection": {"in_scope_accuracy": raw["in_scope_accuracy"]},
            "calibrated": calibrated,
            "tuned_on_val": tuned,
            "oos_methods_at_in_scope_accuracy_0.965": methods,
            "target": {"in_scope_accuracy": 0.965, "oos_recall": 0.60},
            "anchors_test_split": {
                "bert_oos_class": [0.969, 0.403],
                "bert_threshold": [0.962, 0.523],
                "rasa": [0.915, 0.453],
                "dialogflow": [0.917, 0.140],
            },
            "latency_ms_single_message": {
                "p50": round(percentile(latencies, 50), 2),
                "p95": round(percentile(latencies, 95), 2),
                "target_p95": 15,
            },
        }
    )


if __name__ == "__main__":
    main()
