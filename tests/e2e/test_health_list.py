"""grpc.health.v1.Health/List names every service the server reports on, with its status."""
from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.faults._support import wait_for
from tests.support.server_process import ServerProcess

SERVING = health_pb2.HealthCheckResponse.SERVING


def test_list_has_the_server_and_each_lrctl_service(server: ServerProcess) -> None:
    with grpc.insecure_channel(server.address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def listed() -> dict[str, int]:
            reply = stub.List(health_pb2.HealthListRequest(), timeout=5)
            return {name: response.status for name, response in reply.statuses.items()}
        wait_for(lambda: listed().get("lrctl.v1.Optimizer") == SERVING, 30, "the kernels to be built")
        assert listed() == {name: SERVING for name in ("", "lrctl.v1.Controller", "lrctl.v1.Diagnostics",
                                                        "lrctl.v1.Optimizer")}
