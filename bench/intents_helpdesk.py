"""The shipped helpdesk intent catalog: held-out accuracy, out-of-scope recall, training time, latency.

Trains exactly as ``deskpilot intents train`` does (all catalog utterances, thresholds calibrated by
cross-validation) and evaluates on ``services/router/catalog/heldout.yaml``, which is never trained on:
per-intent held-out utterances and out-of-scope messages.

Run: ``.venv/bin/python -m bench.intents_helpdesk``
"""

from __future__ import annotations

import time
from collections import Counter

import yaml

from bench.common import emit, percentile
from knowledge.embeddings import LocalMiniLMEmbedder
from services.router.catalog import DEFAULT_CATALOG, HELDOUT_CATALOG, load_catalog
from services.router.classifier import TrainedIntentClassifier
from services.router.intents import OUT_OF_SCOPE


def main() -> None:
    catalog = load_catalog(DEFAULT_CATALOG)
    texts = [u for intent in catalog.intents for u in intent.utterances] + catalog.out_of_scope
    labels = [intent.name for intent in catalog.intents for _ in intent.utterances] + [OUT_OF_SCOPE] * len(
        catalog.out_of_scope
    )
    heldout = yaml.safe_load(HELDOUT_CATALOG.read_text(encoding="utf-8"))
    embedder = LocalMiniLMEmbedder()
    load_started = time.perf_counter()
    embedder.load()
    load_s = time.perf_counter() - load_started
    classifier, report = TrainedIntentClassifier.train(
        texts, labels, embedder=embedder, version="helpdesk-bench"
    )

    in_texts = [t for name, utterances in heldout["intents"].items() for t in utterances]
    in_labels = [name for name, utterances in heldout["intents"].items() for _ in utterances]
    oos_texts = list(heldout["out_of_scope"])
    predictions = classifier.predict_many(
        in_texts + oos_texts, embedder.embed_documents(in_texts + oos_texts)
    )
    in_predictions, oos_predictions = predictions[: len(in_texts)], predictions[len(in_texts) :]
    correct = [p.intent == y for p, y in zip(in_predictions, in_labels, strict=True)]
    top1 = [p.ranking[0].intent == y for p, y in zip(in_predictions, in_labels, strict=True)]
    confusions = Counter(
        (y, p.intent) for p, y in zip(in_predictions, in_labels, strict=True) if p.intent != y
    ).most_common(8)

    latencies = []
    for text in in_texts[:200]:
        started = time.perf_counter()
        classifier.predict(text)
        latencies.append((time.perf_counter() - started) * 1000)
    emit(
        {
            "benchmark": "intents_helpdesk",
            "intents": len(catalog.intents),
            "training_utterances": len(texts),
            "training_out_of_scope": len(catalog.out_of_scope),
            "train_seconds": report.seconds,
            "train_seconds_with_model_load": round(report.seconds + load_s, 1),
            "thresholds": report.thresholds,
            "cross_validation": report.cross_validation,
            "heldout": {
                "in_scope": len(in_texts),
                "out_of_scope": len(oos_texts),
                "in_scope_accuracy": round(sum(correct) / len(correct), 4),
                "top1_accuracy_without_rejection": round(sum(top1) / len(top1), 4),
                "oos_recall": round(sum(p.out_of_scope for p in oos_predictions) / len(oos_predictions), 4),
                "clarify_rate": round(sum(p.ambiguous for p in in_predictions) / len(in_predictions), 4),
                "top_confusions": [f"{gold} -> {got} ({n})" for (gold, got), n in confusions],
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
