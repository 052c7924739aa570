"""The standard grpc.health.v1 servicer, with Watch streams that end when the server stops.

A graceful stop waits for every open call, and a health Watch never ends by itself: without
`end_watches()` a stop would wait out its whole grace period for watchers that were already
told NOT_SERVING. Watch runs in grpc_health's blocking mode (one worker per watcher), the
mode grpc uses anyway once an interceptor wraps the handler.
"""
from __future__ import annotations

import threading
from typing import Any

import grpc
from grpc_health.v1 import health


class HealthServicer(health.HealthServicer):
    def __init__(self) -> None:
        super().__init__(experimental_non_blocking=False)
        self._watchers: set[Any] = set()
        self._watchers_lock = threading.Lock()
        self._ended = False

    def Watch(self, request: Any, context: grpc.ServicerContext, send_response_callback: Any = None) -> Any:
        watcher = super().Watch(request, context)  # the current status first, then each change
        with self._watchers_lock:
            if self._ended:
                watcher.close()
            else:
                self._watchers.add(watcher)
                context.add_callback(lambda: self._forget(watcher))
        return watcher

    def _forget(self, watcher: Any) -> None:
        with self._watchers_lock:
            self._watchers.discard(watcher)

    def end_watches(self) -> None:
        """Ends every Watch stream (after the status it is owed, e.g. NOT_SERVING) and any
        started later; call once the server stops accepting calls."""
        with self._watchers_lock:
            self._ended = True
            watchers, self._watchers = self._watchers, set()
        for watcher in watchers:
            watcher.close()
