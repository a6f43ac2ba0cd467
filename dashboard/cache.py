"""The figure cache: answers keyed by the version of the published aggregates.

The scheduler cannot import the dashboard, and there may be several web processes, so nobody "clears" a
cache by calling into it. Instead every key starts with ``reporting.aggregates_version`` (a value the
aggregation job bumps after each run, combined with the highest estimate ids): when the aggregates change,
the version changes, every old key is simply never asked for again, and old entries age out of the LRU (or
expire in Redis). Reading the version is one small query per request.

- In process (default): a thread-safe LRU of ``COVIDMETER_DASHBOARD_CACHE_SIZE`` entries (default 512).
- Redis (when ``COVIDMETER_REDIS_URL`` is set): shared by every web process; values are JSON (Plotly's
  encoder), entries expire after ``TTL_SECONDS``.

Why not Flask-Caching (issue 13 asked): its backends store values through cachelib's serializers, which
pickle. In process that makes every hit unpickle a Plotly figure (measured: 21 ms for a six-trace trend,
31 ms for the regional map, against handing back the object), and in Redis a shared store would hold
pickles that every web process loads (whoever can write Redis could run code in them). What is left of this
module once the serialisation is ours is the LRU and the versioned key, which Flask-Caching does not give.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import redis
from flask import Flask, current_app, g
from plotly.io.json import to_json_plotly

from reporting.aggregates_version import aggregates_version
from reporting.extensions import db

TTL_SECONDS = 24 * 3600
DEFAULT_SIZE = 512
EXTENSION = "covidmeter.figure_cache"


class FigureCache:
    def __init__(self, size: int = DEFAULT_SIZE, redis_url: str | None = None, namespace: str = "cm:fig:") -> None:
        self.size = size
        self.namespace = namespace
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self._redis = None
        if redis_url:
            self._redis = redis.Redis.from_url(redis_url)
        self.hits = 0
        self.misses = 0

    def get_or_compute(self, key: tuple[Hashable, ...], compute: Callable[[], Any]) -> Any:
        full_key = (current_version(), *key)
        found, value = self._get(full_key)
        if found:
            self.hits += 1
            return value
        self.misses += 1
        value = compute()
        self._put(full_key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def _get(self, key: tuple[Hashable, ...]) -> tuple[bool, Any]:
        if self._redis is not None:
            raw = self._redis.get(self._redis_key(key))
            return (False, None) if raw is None else (True, json.loads(raw))
        with self._lock:
            if key in self._entries:
                self._entries.move_to_end(key)
                return True, self._entries[key]
        return False, None

    def _put(self, key: tuple[Hashable, ...], value: Any) -> None:
        if self._redis is not None:
            self._redis.set(self._redis_key(key), to_json_plotly(value), ex=TTL_SECONDS)
            return
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def _redis_key(self, key: tuple[Hashable, ...]) -> str:
        return self.namespace + hashlib.sha256(repr(key).encode()).hexdigest()


def current_version() -> str:
    """The aggregates version, read once per request."""
    version = g.get("aggregates_version")
    if version is None:
        version = g.aggregates_version = aggregates_version(db.session.connection())
    return version


def init_cache(app: Flask) -> FigureCache:
    cache = FigureCache(size=int(app.config.get("COVIDMETER_DASHBOARD_CACHE_SIZE") or DEFAULT_SIZE),
                        redis_url=app.config.get("COVIDMETER_REDIS_URL"))
    app.extensions[EXTENSION] = cache
    return cache


def figure_cache() -> FigureCache:
    return current_app.extensions[EXTENSION]
