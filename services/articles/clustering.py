"""Group resolved tickets about the same problem, by embedding their title and description.

The resolution is left out of the text on purpose: tickets are "the same problem" when they describe the
same symptom, even if technicians fixed it in different words. Clustering is agglomerative (average
linkage on cosine distance) with a distance threshold, so the number of problems need not be known.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt

from connectors.interfaces import Embedder
from services.articles.types import ScrubbedTicket, TicketCluster

DEFAULT_DISTANCE_THRESHOLD = 0.45
"""Average-linkage cosine distance under which two groups merge (all-MiniLM-L6-v2 on title + description).

Measured with min_size 3, each unclustered ticket counted as its own group (``labels_from_clusters``):

- *hand-written*: 84 tickets about 12 helpdesk problems (7 paraphrases each: terse, verbose, typos,
  greetings; some problems share words: Outlook password prompts vs account lockout, shared mailbox vs
  mapped drive) plus 14 one-off tickets;
- *fixtures*: ``services.articles.fixtures.generate_resolved_tickets`` seeds 1–12 (12 problems × 3–8
  tickets + 10 one-offs each), scrubbed; V-measure mean (min) over the seeds.

=========  =====================  =====================  ========================================
threshold  hand-written V / ARI   fixtures V (min)       problems merged into one cluster
=========  =====================  =====================  ========================================
0.40       0.941 / 0.842          0.981 (0.951)          none; more tickets left unclustered
0.45       0.958 / 0.906          0.992 (0.969)          none
0.475      0.958 / 0.906          0.995 (0.969)          none
0.50       0.958 / 0.906          0.988 (0.959)          fixtures: 7 mixed clusters in 12 seeds
0.55       0.980 / 0.957          0.968 (0.941)          fixtures: 16 mixed clusters
0.60       0.956 / 0.843          0.924 (0.896)          both (hand-written: password + lockout)
0.70       0.908 / 0.657          —                      many
=========  =====================  =====================  ========================================

0.45 is the highest threshold that merged no two problems in either set, with a margin below where
merges start (0.5 on the fixtures, 0.58 on the hand-written set). Lower is safer than higher: a split
problem gives the reviewer two similar drafts, a merge gives one article mixing two fixes. At 0.45 the
hand-written set leaves 7 of its 84 problem tickets unclustered. Another embedder needs its own
threshold: the lexical ``HashingEmbedder`` of the tests clusters nothing below 0.6 on the hand-written
paraphrases and peaks at V 0.85 near 0.85.
"""


def ticket_text(ticket: ScrubbedTicket) -> str:
    """What is embedded for clustering: the title and the description, not the resolution."""
    return f"{ticket.title.strip()}\n{ticket.description.strip()}".strip()


def _agglomerate(vectors: npt.NDArray[np.float32], threshold: float) -> npt.NDArray[np.int64]:
    """One label per row; rows that are all zeros (empty text) each get a label of their own."""
    count = vectors.shape[0]
    labels = np.full(count, -1, dtype=np.int64)
    usable = np.flatnonzero(np.linalg.norm(vectors, axis=1) > 0)
    if usable.size == 1:
        labels[usable] = 0
    elif usable.size > 1:
        from sklearn.cluster import AgglomerativeClustering

        model = AgglomerativeClustering(
            n_clusters=None, metric="cosine", linkage="average", distance_threshold=threshold
        )
        labels[usable] = model.fit_predict(vectors[usable])
    next_label = int(labels.max()) + 1
    for position in np.flatnonzero(labels < 0):
        labels[position] = next_label
        next_label += 1
    return labels


def cluster_tickets(
    tickets: Sequence[ScrubbedTicket],
    embedder: Embedder,
    *,
    min_size: int = 3,
    threshold: float | None = None,
) -> list[TicketCluster]:
    """Clusters of at least ``min_size`` tickets about one problem, largest first.

    ``threshold`` is the average-linkage cosine distance under which groups merge (default
    :data:`DEFAULT_DISTANCE_THRESHOLD`, tuned for all-MiniLM-L6-v2). Within a cluster, tickets are ordered
    most representative first (closest to the centroid); ``cohesion`` is their mean cosine similarity to
    the centroid. Ties in size are ordered by cohesion, then by the smallest ticket id.
    """
    if not tickets:
        return []
    threshold = DEFAULT_DISTANCE_THRESHOLD if threshold is None else threshold
    if not 0 < threshold <= 2:
        raise ValueError(f"threshold is a cosine distance in (0, 2], got {threshold}")
    vectors = np.asarray(embedder.embed_documents([ticket_text(t) for t in tickets]), dtype=np.float32)
    labels = _agglomerate(vectors, threshold)
    clusters: list[TicketCluster] = []
    for label in np.unique(labels):
        members = [int(i) for i in np.flatnonzero(labels == label)]
        if len(members) < min_size:
            continue
        similarities = _similarity_to_centroid(vectors[members])
        order = sorted(range(len(members)), key=lambda i: (-similarities[i], tickets[members[i]].ticket_id))
        clusters.append(
            TicketCluster(
                tickets=tuple(tickets[members[i]] for i in order),
                cohesion=round(float(np.clip(similarities.mean(), 0.0, 1.0)), 4),
            )
        )
    clusters.sort(key=lambda c: (-len(c.tickets), -c.cohesion, min(t.ticket_id for t in c.tickets)))
    return clusters


def _similarity_to_centroid(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Cosine similarity of each (unit) row to the normalised mean of the rows."""
    centroid = vectors.astype(np.float64).mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    if norm == 0:
        return np.zeros(vectors.shape[0])
    result: npt.NDArray[np.float64] = vectors.astype(np.float64) @ (centroid / norm)
    return result


def labels_from_clusters(ticket_ids: Sequence[int], clusters: Sequence[TicketCluster]) -> list[int]:
    """Predicted label per ticket id (cluster index), each unclustered ticket in a group of its own.

    Use it to score :func:`cluster_tickets` against known labels with :func:`cluster_quality`: tickets
    dropped for being in small clusters then count as singletons rather than as one big "noise" group.
    """
    by_ticket = {t.ticket_id: index for index, cluster in enumerate(clusters) for t in cluster.tickets}
    labels: list[int] = []
    singleton = len(clusters)
    for ticket_id in ticket_ids:
        if ticket_id in by_ticket:
            labels.append(by_ticket[ticket_id])
        else:
            labels.append(singleton)
            singleton += 1
    return labels


def cluster_quality(labels_true: Sequence[Hashable], labels_pred: Sequence[Hashable]) -> dict[str, float]:
    """Agreement of predicted clusters with known labels: adjusted Rand index, homogeneity (each cluster
    holds one problem), completeness (each problem in one cluster) and V-measure (their harmonic mean)."""
    if len(labels_true) != len(labels_pred):
        raise ValueError(f"{len(labels_true)} true labels but {len(labels_pred)} predicted labels")
    from sklearn.metrics import adjusted_rand_score, homogeneity_completeness_v_measure

    true = [str(label) for label in labels_true]
    pred = [str(label) for label in labels_pred]
    homogeneity, completeness, v_measure = homogeneity_completeness_v_measure(true, pred)
    return {
        "adjusted_rand": round(float(adjusted_rand_score(true, pred)), 4),
        "homogeneity": round(float(homogeneity), 4),
        "completeness": round(float(completeness), 4),
        "v_measure": round(float(v_measure), 4),
    }
