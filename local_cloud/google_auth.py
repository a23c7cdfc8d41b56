"""Google credentials for the local cloud: a service-account key whose ``token_uri`` is a token
endpoint on 127.0.0.1.

The real path runs: the Google provider's hook reads the key from an Airflow connection
(``keyfile_dict``), google-auth signs a JWT with the key's private key and exchanges it at
``token_uri`` for an access token, and the clients send that token. :class:`FakeTokenServer`
checks the JWT's signature against the key it issued and records each grant.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from local_cloud.service import LoopbackServer, send_json

PROJECT = "local-project"
CLIENT_EMAIL = f"airflow-mlops@{PROJECT}.iam.gserviceaccount.com"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"


class FakeTokenServer:
    """OAuth 2.0 token endpoint (JWT bearer grant) for :meth:`service_account_info`'s key."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        self.grants: list[dict[str, Any]] = []
        self.url = ""
        self._server: LoopbackServer | None = None
        self._count = 0
        self._lock = threading.Lock()

    def service_account_info(self) -> dict[str, str]:
        """A service-account key file's content, exchanged for tokens here."""
        return {
            "type": "service_account",
            "project_id": PROJECT,
            "private_key_id": "local-cloud",
            "private_key": self.private_pem,
            "client_email": CLIENT_EMAIL,
            "client_id": "1",
            "token_uri": f"{self.url}/token",
        }

    def connection(self) -> dict[str, Any]:
        """An Airflow connection of type google_cloud_platform with this key (``AIRFLOW_CONN_<ID>`` JSON)."""
        return {"conn_type": "google_cloud_platform",
                "extra": {"keyfile_dict": json.dumps(self.service_account_info()), "project": PROJECT}}

    def grant(self, form: dict[str, str]) -> dict[str, Any]:
        from google.auth import jwt

        # google-auth addresses the assertion to Google's token endpoint whatever token_uri it posts to
        claims = jwt.decode(form["assertion"], certs=self.public_pem, verify=True, audience=GOOGLE_TOKEN_AUDIENCE)
        with self._lock:
            self._count += 1
            token = f"local-cloud-token-{self._count}"
            self.grants.append({"grant_type": form.get("grant_type"), "iss": claims["iss"], "scope": claims.get("scope"),
                                "token": token})
        return {"access_token": token, "token_type": "Bearer", "expires_in": 3600}

    def start(self) -> FakeTokenServer:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                try:
                    code, answer = 200, fake.grant(form)
                except Exception as exc:  # a bad assertion: what a real token endpoint answers
                    code, answer = 400, {"error": "invalid_grant", "error_description": str(exc)}
                send_json(self, code, answer)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = LoopbackServer(Handler, "fake-token")
        self.url = self._server.url
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()


@contextmanager
def serve_tokens() -> Iterator[FakeTokenServer]:
    server = FakeTokenServer().start()
    try:
        yield server
    finally:
        server.stop()
