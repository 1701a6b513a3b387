"""Vector store access over chromadb: the only module that imports chromadb.

The embedded default is a ``PersistentClient`` under ``settings.path``; setting ``host`` selects a Chroma
server through ``HttpClient``. Collections are always created with an explicit embedding function (or
explicit embeddings), never chromadb's default, which downloads a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.common.config import ChromaSettings

if TYPE_CHECKING:
    from chromadb.api import ClientAPI


def open_chroma_client(settings: ChromaSettings) -> ClientAPI:
    """Open the configured Chroma client (imports chromadb on first use, about 0.7 s)."""
    import chromadb
    from chromadb.config import Settings as ChromaClientSettings

    client_settings = ChromaClientSettings(anonymized_telemetry=False)
    if settings.host:
        headers = {}
        if settings.auth_token is not None:
            headers["Authorization"] = f"Bearer {settings.auth_token.get_secret_value()}"
        return chromadb.HttpClient(
            host=settings.host,
            port=settings.port,
            ssl=settings.ssl,
            headers=headers,
            settings=client_settings,
        )
    settings.path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(settings.path), settings=client_settings)


def vector_store_heartbeat(settings: ChromaSettings) -> int:
    """Contact the vector store and return its heartbeat (ns); raises when it cannot be reached."""
    return open_chroma_client(settings).heartbeat()
