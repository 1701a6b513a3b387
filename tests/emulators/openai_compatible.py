"""An OpenAI-compatible API emulator: ``/v1/chat/completions`` and ``/v1/embeddings``.

It speaks the documented request and response shapes (Bearer auth, ``chat.completion`` objects with
``usage``, OpenAI's error JSON), so the real ``openai`` client and langchain-openai talk to it. Replies:
- queued with ``POST /_script {"replies": ["...", ...]}`` (used in order), otherwise
- a grounded echo: the passage of the prompt sharing most words with the question, first two sentences,
  cited as ``[n]``; ``NO_ANSWER`` when no passage shares a word with the question.
Embeddings are deterministic feature hashes (``connectors.fakes.embedder.HashingEmbedder``).
Faults (5xx, 429, delays) come from the harness's ``/_behavior``.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from connectors.fakes.embedder import HashingEmbedder
from tests.emulators.harness import EmulatorState, build_emulator_app

_WORD = re.compile(r"[a-z0-9]+")
_STOP = {
    "the",
    "a",
    "an",
    "to",
    "my",
    "i",
    "is",
    "it",
    "of",
    "and",
    "or",
    "how",
    "do",
    "what",
    "in",
    "on",
    "for",
    "can",
    "me",
    "you",
    "with",
    "does",
    "why",
    "when",
    "where",
    "be",
    "this",
    "that",
    "keeps",
    "get",
}
_PASSAGE = re.compile(r"^\[(\d+)\] (.*?)\n(.*?)(?=^\[\d+\] |\Z)", re.S | re.M)


def _words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def grounded_echo(prompt: str) -> str:
    """Answer the way a well-behaved grounded model would, from the prompt alone."""
    if "Question:" not in prompt:
        return "NO_ANSWER"
    passages_part, question = prompt.rsplit("Question:", 1)
    question = question.replace("Answer:", "").strip()
    best_number, best_overlap, best_text = 0, 0, ""
    for match in _PASSAGE.finditer(passages_part.split("Passages:", 1)[-1].strip() + "\n"):
        overlap = len(_words(question) & _words(match.group(2) + " " + match.group(3)))
        if overlap > best_overlap:
            best_number, best_overlap, best_text = int(match.group(1)), overlap, match.group(3)
    if not best_number:
        return "NO_ANSWER"
    sentences = re.split(r"(?<=[.!?])\s+", " ".join(best_text.split()))
    return f"{' '.join(sentences[:2]).strip()} [{best_number}]"


def _error(status: int, message: str, kind: str, code: str | None = None) -> JSONResponse:
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": code}}, status_code=status
    )


def build_app(*, api_key: str = "sk-test", dimension: int = 384) -> tuple[FastAPI, EmulatorState]:
    """The emulator app; requests must carry ``Authorization: Bearer <api_key>``."""
    app, state = build_emulator_app("openai-compatible")
    embedder = HashingEmbedder(dimension)
    script: list[str] = []

    def authorised(request: Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {api_key}"

    @app.post("/_script")
    async def queue_replies(request: Request) -> dict[str, int]:
        script.extend((await request.json())["replies"])
        return {"queued": len(script)}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat_completions(request: Request) -> Any:
        if not authorised(request):
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        body = await request.json()
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or not body.get("model"):
            return _error(400, "'messages' and 'model' are required.", "invalid_request_error")
        prompt = str(messages[-1].get("content", ""))
        content = script.pop(0) if script else grounded_echo(prompt)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        completion_tokens = len(content.split())
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    @app.post("/v1/embeddings", response_model=None)
    async def embeddings(request: Request) -> Any:
        if not authorised(request):
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        body = await request.json()
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return _error(400, "'input' must be a string or a list of strings.", "invalid_request_error")
        vectors = embedder.embed_documents(texts)
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": v.tolist()} for i, v in enumerate(vectors)
            ],
            "model": body.get("model", "emulated-embedding"),
            "usage": {
                "prompt_tokens": sum(len(t.split()) for t in texts),
                "total_tokens": sum(len(t.split()) for t in texts),
            },
        }

    return app, state
