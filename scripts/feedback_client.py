"""Feedback as many visitors give it, for the tests and benchmarks: signed sample tokens, and posting them.

``signed_tokens`` makes the tokens a server with that key would have put in its ``/predict``
answers (random pixels); ``send_feedback`` posts a batch of them to ``/api/feedback`` over one
keep-alive connection, as one busy visitor would.
"""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlsplit

import numpy as np

from app import samples
from model.shape import PIXELS

Token = tuple[str, str, int]  # the token, its sample's id, the label to give it


def signed_tokens(n: int, key: str | bytes, seed: int = 0) -> list[Token]:
    """``n`` sample tokens signed with ``key``, each with the label to give it."""
    rng = np.random.default_rng(seed)
    tokens = []
    for k in range(n):
        sample = samples.new_sample(rng.random(PIXELS), int(k % 10), "digits")
        tokens.append((samples.sign(sample, [key]), sample.sample_id, int(rng.integers(10))))
    return tokens


def send_feedback(server_url: str, batch: list[Token]) -> list[int]:
    """POST each of ``batch``'s tokens with its label over one keep-alive connection; the statuses."""
    url = urlsplit(server_url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
    statuses = []
    try:
        for token, _, label in batch:
            body = json.dumps({"sample": token, "label": label})
            connection.request("POST", "/api/feedback", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            statuses.append(response.status)
    finally:
        connection.close()
    return statuses
