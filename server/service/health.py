"""The standard grpc.health.v1 servicer (grpc_health's asyncio one), with Watch streams that
end when the server stops.

A graceful stop waits for every open call, and a health Watch never ends by itself: without
`end_watches()` a stop would wait out its whole grace period for watchers that were already
told NOT_SERVING. An ended watch finishes with OK after the last status it was owed.
"""
from __future__ import annotations

from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2

UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN


class HealthServicer(health.aio.HealthServicer):
    def __init__(self) -> None:
        super().__init__()
        self._ended = False

    async def List(self, request: health_pb2.HealthListRequest,
                   context: grpc.aio.ServicerContext) -> health_pb2.HealthListResponse:
        """Every service's status (grpc_health's asyncio servicer leaves List unimplemented)."""
        return health_pb2.HealthListResponse(statuses={
            service: health_pb2.HealthCheckResponse(status=status) for service, status in self._server_status.items()})

    async def Watch(self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext) -> None:
        """As grpc_health's Watch (the current status first, then each change), until end_watches()."""
        condition = self._server_watchers[request.service]
        self._watcher_count_by_service[request.service] += 1
        last_status: Any = None
        try:
            async with condition:
                while True:
                    status = self._server_status.get(request.service, UNKNOWN)
                    if status != last_status:
                        await context.write(health_pb2.HealthCheckResponse(status=status))
                    last_status = status
                    if self._ended:
                        return
                    await condition.wait()
        finally:
            self._watcher_count_by_service[request.service] -= 1
            if self._watcher_count_by_service[request.service] == 0:
                del self._server_watchers[request.service]
                del self._watcher_count_by_service[request.service]

    async def end_watches(self) -> None:
        """Ends every Watch stream (after the status it is owed, e.g. NOT_SERVING) and any
        started later; call once the server stops accepting calls."""
        self._ended = True
        for condition in list(self._server_watchers.values()):
            async with condition:
                condition.notify_all()
