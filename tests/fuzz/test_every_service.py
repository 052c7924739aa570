"""The services beside lrctl's own, fuzzed like them: grpc.health.v1.Health, server reflection
and Diagnostics, with random, mutated and undecodable requests. The property is the one of
tests/fuzz/_harness.py: a status (never UNKNOWN or INTERNAL), the server SERVING, and no
fixture job changed."""
from __future__ import annotations

from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from lrctl.v1 import controller_pb2
from tests.fuzz import _strategies as fs
from tests.fuzz._harness import Harness, decodes
from tests.fuzz.test_fuzz_server import FUZZ

HEALTH = health_pb2.DESCRIPTOR.services_by_name["Health"]
REFLECTION = reflection_pb2.DESCRIPTOR.services_by_name["ServerReflection"]
DIAGNOSTICS = controller_pb2.DESCRIPTOR.services_by_name["Diagnostics"]
METHODS = {f"{service.name}.{method.name}": method for service in (HEALTH, REFLECTION, DIAGNOSTICS)
           for method in service.methods}
SERVICES = ("", "lrctl.v1.Controller", "lrctl.v1.Optimizer", "lrctl.v1.Diagnostics", "grpc.health.v1.Health",
            "no.such.Service")


def valid(name: str, draw) -> object:
    """A well-formed request of each method (a list for a client stream)."""
    if name.startswith("Health."):
        return health_pb2.HealthCheckRequest(service=draw(st.one_of(st.sampled_from(SERVICES), fs.texts)))
    if name.startswith("ServerReflection."):
        request = reflection_pb2.ServerReflectionRequest
        return draw(st.lists(st.one_of(
            st.builds(lambda: request(list_services="")),
            st.sampled_from(SERVICES).map(lambda symbol: request(file_containing_symbol=symbol)),
            fs.texts.map(lambda name: request(file_by_filename=name)),
            st.tuples(fs.texts, st.integers(0, 2**31 - 1)).map(lambda t: request(
                file_containing_extension=reflection_pb2.ExtensionRequest(containing_type=t[0], extension_number=t[1]))),
            fs.texts.map(lambda name: request(all_extension_numbers_of_type=name))), max_size=4))
    message = controller_pb2.EchoMessage(payload=draw(st.binary(max_size=2000)))
    return draw(st.lists(st.just(message), max_size=3)) if name.endswith("EchoStream") else message


@settings(FUZZ, max_examples=150)
@given(data=st.data())
def test_every_other_service_keeps_the_property(harness: Harness, data: st.DataObject) -> None:
    draw = data.draw
    name = draw(st.sampled_from(sorted(METHODS)), label="method")
    method = METHODS[name]
    request = valid(name, draw)
    if draw(st.booleans(), label="as raw bytes, mutated"):
        raw = ([draw(fs.mutated_bytes(m.SerializeToString())) for m in request] if method.client_streaming
               else draw(fs.mutated_bytes(request.SerializeToString())))
        harness.check(method, raw, raw=True, decodes=decodes(method, raw))
    else:
        harness.check(method, request)
