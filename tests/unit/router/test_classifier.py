from __future__ import annotations

from pathlib import Path

import pytest

from connectors.fakes.embedder import HashingEmbedder
from services.router.classifier import (
    ClassifierConfig,
    Thresholds,
    TrainedIntentClassifier,
    calibrate_thresholds,
)
from services.router.intents import OUT_OF_SCOPE

# A small labelled set of our own making: six intents and out-of-scope chatter.
DATA: dict[str, list[str]] = {
    "vpn_issue": [
        "vpn keeps dropping",
        "globalprotect disconnects",
        "can't connect to the vpn",
        "vpn is down",
        "vpn drops every few minutes",
        "globalprotect won't connect at the hotel",
        "vpn connection fails",
        "my vpn disconnects constantly",
        "vpn not working from home",
        "globalprotect keeps failing",
    ],
    "password_reset": [
        "forgot my password",
        "reset my password",
        "i need a new password",
        "password expired",
        "how do i reset my okta password",
        "can you reset my password",
        "my password stopped working",
        "change my password please",
        "password reset for okta",
        "i can't remember my password",
    ],
    "printer_issue": [
        "printer is jammed",
        "can't print",
        "printer offline",
        "papercut won't release my job",
        "print job stuck",
        "printer says out of toner",
        "the printer on floor 3 is broken",
        "printing fails",
        "cannot add printer",
        "printer not showing up",
    ],
    "software_request": [
        "i need adobe acrobat",
        "can i get figma",
        "please install visio",
        "request a license for tableau",
        "i want photoshop",
        "need access to miro",
        "install jetbrains intellij",
        "get me a zoom pro license",
        "i need snagit installed",
        "request lucidchart",
    ],
    "greeting": [
        "hi",
        "hello",
        "hey there",
        "good morning",
        "hiya",
        "hello deskpilot",
        "morning",
        "hey",
        "hi team",
        "good afternoon",
    ],
    "thanks": [
        "thanks",
        "thank you",
        "thx",
        "cheers",
        "thanks a lot",
        "much appreciated",
        "ty",
        "thank you so much",
        "great thanks",
        "awesome thank you",
    ],
    OUT_OF_SCOPE: [
        "what's the weather tomorrow",
        "book me a flight to paris",
        "when is payday",
        "tell me a joke",
        "who won the football game",
        "how many vacation days do i have",
        "order pizza for the team",
        "what is the capital of peru",
        "write me a poem",
        "is the canteen open",
    ],
}


def _train(
    thresholds: Thresholds | None = None, config: ClassifierConfig | None = None
) -> TrainedIntentClassifier:
    texts = [t for ts in DATA.values() for t in ts]
    labels = [label for label, ts in DATA.items() for _ in ts]
    classifier, _ = TrainedIntentClassifier.train(
        texts, labels, embedder=HashingEmbedder(), version="t1", thresholds=thresholds, config=config
    )
    return classifier


def test_classifier_predicts_in_scope_intents_with_a_ranking() -> None:
    classifier = _train(thresholds=Thresholds(confidence=0.2, ambiguity=0.0))
    prediction = classifier.predict("the vpn keeps disconnecting")
    assert prediction.intent == "vpn_issue" and not prediction.out_of_scope
    assert prediction.ranking[0].intent == "vpn_issue"
    assert OUT_OF_SCOPE not in [s.intent for s in prediction.ranking]
    assert abs(sum(s.confidence for s in prediction.ranking) - 1.0) < 0.2
    assert prediction.model_version == "t1"


def test_classifier_rejects_out_of_scope_messages() -> None:
    classifier = _train(thresholds=Thresholds(confidence=0.2, ambiguity=0.0))
    prediction = classifier.predict("book a flight to the football game")
    assert prediction.out_of_scope and prediction.intent == OUT_OF_SCOPE


def test_classifier_low_confidence_is_rejected_and_close_call_is_ambiguous() -> None:
    strict = _train(thresholds=Thresholds(confidence=0.99, ambiguity=0.0))
    assert strict.predict("printer vpn").out_of_scope
    unsure = _train(thresholds=Thresholds(confidence=0.0, ambiguity=0.99))
    prediction = unsure.predict("printer vpn")
    assert prediction.ambiguous and len(prediction.top_two) == 2


def test_classifier_calibrates_thresholds_by_cross_validation() -> None:
    texts = [t for ts in DATA.values() for t in ts]
    labels = [label for label, ts in DATA.items() for _ in ts]
    classifier, report = TrainedIntentClassifier.train(
        texts, labels, embedder=HashingEmbedder(), version="cv"
    )
    assert 0.0 < classifier.thresholds.confidence < 1.0
    assert report.out_of_scope_examples == 10 and report.intents == 6
    assert set(report.cross_validation) == {"in_scope_accuracy", "ambiguous_rate", "out_of_scope_recall"}


def test_calibrate_thresholds_keeps_most_correct_predictions() -> None:
    import numpy as np

    probabilities = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.55, 0.45]])
    thresholds = calibrate_thresholds(probabilities, ["a", "a", "b", "a"], ["a", "b"], max_in_scope_loss=0.0)
    assert thresholds.confidence == pytest.approx(0.55)


def test_classifier_save_and_load_round_trip(tmp_path: Path) -> None:
    classifier = _train(
        thresholds=Thresholds(confidence=0.2, ambiguity=0.05), config=ClassifierConfig(regularisation_c=5)
    )
    path = tmp_path / "model.joblib"
    classifier.save(path)
    loaded = TrainedIntentClassifier.load(path, embedder=HashingEmbedder())
    for text in ("vpn drops", "i need figma", "thanks!", "when is payday"):
        assert loaded.predict(text) == classifier.predict(text)
    assert loaded.thresholds == classifier.thresholds and loaded.config.regularisation_c == 5
    with pytest.raises(ValueError, match="retrain"):
        TrainedIntentClassifier.load(path, embedder=HashingEmbedder(dimension=128))


def test_classifier_refuses_degenerate_training_sets() -> None:
    with pytest.raises(ValueError):
        TrainedIntentClassifier.train(["hi"], ["greeting"], embedder=HashingEmbedder(), version="x")
    with pytest.raises(ValueError):
        TrainedIntentClassifier.train(["hi", "yo"], ["greeting"], embedder=HashingEmbedder(), version="x")
