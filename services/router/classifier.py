"""The trained intent classifier: sentence embeddings plus word and character n-grams, logistic regression.

Why this design (measured in ``bench/intents_clinc150.py``): frozen all-MiniLM-L6-v2 embeddings with
logistic regression reach about 96.0 % on CLINC150 val, but their confidence separates out-of-scope
messages poorly. Adding TF-IDF word (1–2) and character (2–5) n-grams lets the linear model use exact
wording (product names, error codes) and raises accuracy; training with out-of-scope examples as a class
of their own, when the training set has some, plus a confidence threshold, gives the best
accuracy/out-of-scope trade-off. It is generic: it trains on any labelled utterance set.

Out-of-scope decision: reject when the out-of-scope class wins or the top in-scope probability is under
``confidence`` threshold. Ambiguity: flag when the top two in-scope probabilities differ by less than
``ambiguity``. When not given, both thresholds are calibrated on out-of-fold predictions (see
:func:`calibrate_thresholds`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from connectors.interfaces import Embedder
from services.router.intents import OUT_OF_SCOPE, IntentPrediction, IntentScore

logger = logging.getLogger(__name__)


class IntentClassifier(Protocol):
    """Anything that turns a message into an :class:`IntentPrediction`."""

    @property
    def version(self) -> str:
        """Identifies the trained model."""
        ...

    def predict(self, text: str) -> IntentPrediction:
        """Classify one message."""
        ...


@dataclass(frozen=True)
class ClassifierConfig:
    """Feature and model settings (defaults chosen on CLINC150 val)."""

    embedding_weight: float = 2.0
    regularisation_c: float = 10.0
    word_ngrams: tuple[int, int] = (1, 2)
    char_ngrams: tuple[int, int] = (2, 5)
    char_min_df: int = 2
    max_iter: int = 3000


@dataclass(frozen=True)
class Thresholds:
    """Reject under ``confidence``; ask to clarify when the top-2 gap is under ``ambiguity``."""

    confidence: float
    ambiguity: float


@dataclass
class TrainingReport:
    """What training did and measured (stored with the model version)."""

    utterances: int
    intents: int
    out_of_scope_examples: int
    seconds: float
    embed_seconds: float
    thresholds: dict[str, float]
    cross_validation: dict[str, float] = field(default_factory=dict)


def _features(texts: Sequence[str], vectors: npt.NDArray[np.float32], vectorizers: Any, weight: float) -> Any:
    from scipy import sparse

    word, char = vectorizers
    return sparse.hstack(
        [sparse.csr_matrix(vectors * weight), word.transform(texts), char.transform(texts)]
    ).tocsr()


def _fit(
    texts: Sequence[str], vectors: npt.NDArray[np.float32], labels: Sequence[str], config: ClassifierConfig
) -> tuple[Any, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    word = TfidfVectorizer(ngram_range=config.word_ngrams, sublinear_tf=True)
    char = TfidfVectorizer(
        analyzer="char_wb", ngram_range=config.char_ngrams, sublinear_tf=True, min_df=config.char_min_df
    )
    word.fit(texts)
    char.fit(texts)
    vectorizers = (word, char)
    model = LogisticRegression(C=config.regularisation_c, max_iter=config.max_iter)
    model.fit(_features(texts, vectors, vectorizers, config.embedding_weight), list(labels))
    return vectorizers, model


def _decide(
    probabilities: npt.NDArray[np.float64], classes: Sequence[str], thresholds: Thresholds
) -> list[tuple[str, float, bool, bool, list[IntentScore]]]:
    """Per row: (intent, confidence, out_of_scope, ambiguous, in-scope ranking)."""
    oos_index = list(classes).index(OUT_OF_SCOPE) if OUT_OF_SCOPE in classes else None
    decisions = []
    for row in probabilities:
        order = np.argsort(-row)
        ranking = [IntentScore(classes[i], float(row[i])) for i in order if i != oos_index]
        top = ranking[0]
        second = ranking[1].confidence if len(ranking) > 1 else 0.0
        oos_won = oos_index is not None and int(order[0]) == oos_index
        rejected = oos_won or top.confidence < thresholds.confidence
        ambiguous = not rejected and (top.confidence - second) < thresholds.ambiguity
        decisions.append(
            (OUT_OF_SCOPE if rejected else top.intent, top.confidence, rejected, ambiguous, ranking)
        )
    return decisions


def calibrate_thresholds(
    probabilities: npt.NDArray[np.float64],
    labels: Sequence[str],
    classes: Sequence[str],
    *,
    max_in_scope_loss: float = 0.01,
    max_ambiguous_rate: float = 0.05,
) -> Thresholds:
    """Thresholds from out-of-fold probabilities.

    ``confidence``: the highest threshold that loses at most ``max_in_scope_loss`` of the in-scope
    examples the model got right (so rejection costs little accuracy). ``ambiguity``: the largest top-2
    gap such that at most ``max_ambiguous_rate`` of in-scope examples would trigger a clarifying question.
    """
    oos_index = list(classes).index(OUT_OF_SCOPE) if OUT_OF_SCOPE in classes else None
    in_scope = np.array([label != OUT_OF_SCOPE for label in labels])
    masked = probabilities.copy()
    if oos_index is not None:
        masked[:, oos_index] = -1.0
    top_index = masked.argmax(axis=1)
    predicted = np.array([classes[i] for i in top_index])
    correct = in_scope & (predicted == np.array(labels))
    top = masked.max(axis=1)
    confidence = float(np.quantile(top[correct], max_in_scope_loss)) if correct.any() else 0.0
    ordered = np.sort(masked, axis=1)
    gaps = ordered[:, -1] - ordered[:, -2] if masked.shape[1] > 1 else np.ones(len(masked))
    ambiguity = float(np.quantile(gaps[in_scope], max_ambiguous_rate)) if in_scope.any() else 0.0
    return Thresholds(confidence=round(confidence, 4), ambiguity=round(ambiguity, 4))


class TrainedIntentClassifier:
    """A fitted classifier bound to an embedder; thread-safe for prediction."""

    def __init__(
        self,
        *,
        embedder: Embedder,
        vectorizers: Any,
        model: Any,
        config: ClassifierConfig,
        thresholds: Thresholds,
        version: str,
    ) -> None:
        self.embedder = embedder
        self._vectorizers = vectorizers
        self._model = model
        self.config = config
        self.thresholds = thresholds
        self._version = version
        self.classes: list[str] = [str(c) for c in model.classes_]

    @property
    def version(self) -> str:
        """Identifies the trained model."""
        return self._version

    @property
    def intents(self) -> list[str]:
        """In-scope intents the model knows."""
        return [c for c in self.classes if c != OUT_OF_SCOPE]

    @classmethod
    def train(
        cls,
        texts: Sequence[str],
        labels: Sequence[str],
        *,
        embedder: Embedder,
        version: str,
        config: ClassifierConfig | None = None,
        thresholds: Thresholds | None = None,
        folds: int = 3,
        vectors: npt.NDArray[np.float32] | None = None,
    ) -> tuple[TrainedIntentClassifier, TrainingReport]:
        """Fit on labelled utterances; missing thresholds are calibrated by ``folds``-fold CV."""
        if len(texts) != len(labels) or not texts:
            raise ValueError("texts and labels must be non-empty and of the same length")
        if len({label for label in labels if label != OUT_OF_SCOPE}) < 2:
            raise ValueError("at least two in-scope intents are needed")
        config = config or ClassifierConfig()
        started = time.perf_counter()
        if vectors is None:
            vectors = embedder.embed_documents(list(texts))
        embed_seconds = time.perf_counter() - started
        cv: dict[str, float] = {}
        if thresholds is None:
            probabilities, classes = _out_of_fold_probabilities(texts, vectors, labels, config, folds)
            thresholds = calibrate_thresholds(probabilities, labels, classes)
            cv = _cv_summary(probabilities, labels, classes, thresholds)
        vectorizers, model = _fit(texts, vectors, labels, config)
        classifier = cls(
            embedder=embedder,
            vectorizers=vectorizers,
            model=model,
            config=config,
            thresholds=thresholds,
            version=version,
        )
        report = TrainingReport(
            utterances=len(texts),
            intents=len(classifier.intents),
            out_of_scope_examples=sum(1 for label in labels if label == OUT_OF_SCOPE),
            seconds=round(time.perf_counter() - started, 2),
            embed_seconds=round(embed_seconds, 2),
            thresholds=asdict(thresholds),
            cross_validation=cv,
        )
        return classifier, report

    def predict_proba(self, texts: Sequence[str], vectors: npt.NDArray[np.float32] | None = None) -> Any:
        """Class probabilities (columns in ``self.classes`` order)."""
        if vectors is None:
            vectors = (
                self.embedder.embed_query(texts[0]).reshape(1, -1)
                if len(texts) == 1
                else self.embedder.embed_documents(list(texts))
            )
        return self._model.predict_proba(
            _features(texts, vectors, self._vectorizers, self.config.embedding_weight)
        )

    def predict_many(
        self, texts: Sequence[str], vectors: npt.NDArray[np.float32] | None = None
    ) -> list[IntentPrediction]:
        """Classify several messages at once."""
        started = time.perf_counter()
        probabilities = self.predict_proba(texts, vectors)
        elapsed = (time.perf_counter() - started) * 1000 / max(1, len(texts))
        return [
            IntentPrediction(
                intent=intent,
                confidence=confidence,
                ranking=tuple(ranking),
                out_of_scope=rejected,
                ambiguous=ambiguous,
                model_version=self._version,
                latency_ms=elapsed,
            )
            for intent, confidence, rejected, ambiguous, ranking in _decide(
                probabilities, self.classes, self.thresholds
            )
        ]

    def predict(self, text: str) -> IntentPrediction:
        """Classify one message."""
        return self.predict_many([text])[0]

    def save(self, path: Path) -> None:
        """Write the model (not the embedder) to ``path`` with joblib."""
        import joblib

        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": 1,
            "version": self._version,
            "embedding_model": self.embedder.model_name,
            "config": asdict(self.config),
            "thresholds": asdict(self.thresholds),
            "vectorizers": self._vectorizers,
            "model": self._model,
        }
        tmp = path.with_suffix(".tmp")
        joblib.dump(payload, tmp)
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path, *, embedder: Embedder) -> TrainedIntentClassifier:
        """Read a model written by :meth:`save` (trusted local file); checks the embedding model matches."""
        import joblib

        payload = joblib.load(path)
        if payload.get("format") != 1:
            raise ValueError(f"{path}: unknown model format {payload.get('format')!r}")
        if payload["embedding_model"] != embedder.model_name:
            raise ValueError(
                f"{path} was trained with {payload['embedding_model']}, not {embedder.model_name}: retrain it"
            )
        config = payload["config"]
        return cls(
            embedder=embedder,
            vectorizers=payload["vectorizers"],
            model=payload["model"],
            config=ClassifierConfig(
                **{
                    **config,
                    "word_ngrams": tuple(config["word_ngrams"]),
                    "char_ngrams": tuple(config["char_ngrams"]),
                }
            ),
            thresholds=Thresholds(**payload["thresholds"]),
            version=payload["version"],
        )


def _out_of_fold_probabilities(
    texts: Sequence[str],
    vectors: npt.NDArray[np.float32],
    labels: Sequence[str],
    config: ClassifierConfig,
    folds: int,
) -> tuple[npt.NDArray[np.float64], list[str]]:
    from sklearn.model_selection import StratifiedKFold

    classes = sorted(set(labels))
    probabilities = np.zeros((len(texts), len(classes)))
    label_array = np.array(labels)
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=13)
    for train_index, test_index in splitter.split(np.zeros(len(labels)), label_array):
        fold_texts = [texts[i] for i in train_index]
        vectorizers, model = _fit(fold_texts, vectors[train_index], label_array[train_index].tolist(), config)
        fold_probabilities = model.predict_proba(
            _features(
                [texts[i] for i in test_index], vectors[test_index], vectorizers, config.embedding_weight
            )
        )
        columns = [classes.index(str(c)) for c in model.classes_]
        probabilities[np.ix_(test_index, columns)] = fold_probabilities
    return probabilities, classes


def _cv_summary(
    probabilities: npt.NDArray[np.float64],
    labels: Sequence[str],
    classes: Sequence[str],
    thresholds: Thresholds,
) -> dict[str, float]:
    decisions = _decide(probabilities, classes, thresholds)
    in_scope = [i for i, label in enumerate(labels) if label != OUT_OF_SCOPE]
    oos = [i for i, label in enumerate(labels) if label == OUT_OF_SCOPE]
    summary = {
        "in_scope_accuracy": round(
            sum(decisions[i][0] == labels[i] for i in in_scope) / max(1, len(in_scope)), 4
        ),
        "ambiguous_rate": round(sum(decisions[i][3] for i in in_scope) / max(1, len(in_scope)), 4),
    }
    if oos:
        summary["out_of_scope_recall"] = round(sum(decisions[i][2] for i in oos) / len(oos), 4)
    return summary
