"""`lrctl serve` configuration layers: defaults < config file < LRCTL_* env < flags."""
from __future__ import annotations

import json
import pathlib

import pytest

from lrctl.server.config import DEFAULTS, load_config
from lrctl.server.errors import InvalidArgument


def test_defaults() -> None:
    config = load_config(None, {}, {})
    assert (config.listen, config.metrics_port, config.data_dir) == ("127.0.0.1:50051", 9108, "./lrctl-data")
    assert config.max_message_bytes == config.max_chunk_bytes + (1 << 20)
    config.ClearField("max_message_bytes")
    assert config == DEFAULTS


def test_layers_override_in_order(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "server.json"
    path.write_text(json.dumps({"listen": "0.0.0.0:1", "metrics_port": 1, "data_dir": "/file", "workers": 3}))
    env = {"LRCTL_METRICS_PORT": "2", "LRCTL_DATA_DIR": "/env"}
    config = load_config(str(path), env, {"data_dir": "/flag", "listen": None})
    assert (config.listen, config.metrics_port, config.data_dir, config.workers) == ("0.0.0.0:1", 2, "/flag", 3)


def test_config_file_from_env(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "server.json"
    path.write_text(json.dumps({"dataDir": "/camel"}))
    assert load_config(None, {"LRCTL_CONFIG": str(path)}, {}).data_dir == "/camel"


@pytest.mark.parametrize("text", ['{"listen": 5}', '{"unknown_field": 1}', '{"metrics_port": -1}'])
def test_bad_config_file_names_the_problem(tmp_path: pathlib.Path, text: str) -> None:
    path = tmp_path / "server.json"
    path.write_text(text)
    with pytest.raises(InvalidArgument) as caught:
        load_config(str(path), {}, {})
    assert caught.value.violations[0].field == str(path)


def test_every_config_field_has_a_flag() -> None:
    from lrctl.server.cli import FLAGS
    from lrctl.v1 import server_config_pb2

    assert sorted(name for name, _, _ in FLAGS) == sorted(
        f.name for f in server_config_pb2.ServerConfig.DESCRIPTOR.fields)


def test_zero_limits_take_the_default() -> None:
    config = load_config(None, {"LRCTL_MAX_JOBS": "0"}, {"max_watchers_per_job": 0})
    assert (config.max_jobs, config.max_watchers_per_job) == (DEFAULTS.max_jobs, DEFAULTS.max_watchers_per_job)


@pytest.mark.parametrize("flags, field", [({"tls_cert": "c.pem"}, "tls_key"), ({"tls_key": "k.pem"}, "tls_cert"),
                                          ({"tls_client_ca": "ca.pem"}, "tls_client_ca"),
                                          ({"max_chunk_bytes": 8 << 20}, "max_chunk_bytes"),
                                          ({"advertise_address": "lrctl-0"}, "advertise_address"),
                                          ({"advertise_address": "http://lrctl-0:50051"}, "advertise_address")])
def test_bad_combinations_are_refused_at_start(flags: dict, field: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        load_config(None, {}, flags)
    assert field in [v.field for v in caught.value.violations]


def test_an_advertised_address_is_host_and_port() -> None:
    assert load_config(None, {"LRCTL_ADVERTISE_ADDRESS": "10.0.0.7:50051"}, {}).advertise_address == "10.0.0.7:50051"
