"""The floor `benchmarks/serving.py` measures the servers against: a bare ASGI app that reads the
request body and answers one fixed JSON document, with no framework, model, validation or logging.
What it serves under the benchmark's load is about as much as this machine and load generator
allow any Python HTTP server; run as ``uvicorn benchmarks.asgi_floor:app --workers N``."""

from __future__ import annotations

ANSWER = b'[{"request_id":"x","prediction":"Adelie","probabilities":{"Adelie":1.0},"model_version":"1","model_role":"champion"}]'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(ANSWER)).encode())]


async def app(scope, receive, send) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    status = 200 if scope["path"] in ("/predict", "/healthz") else 404
    await send({"type": "http.response.start", "status": status, "headers": HEADERS})
    await send({"type": "http.response.body", "body": ANSWER})
