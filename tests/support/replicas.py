"""Several real `lrctl serve --store postgresql://...` processes on one database, each with
its own data directory (the data-dir lock is per replica) and its own loopback port."""
from __future__ import annotations

import pathlib
from typing import Sequence

from tests.support.server_process import ServerProcess


def start_replicas(store_url: str, directory: pathlib.Path, count: int,
                   extra_args: Sequence[str] = (), env: dict[str, str] | None = None) -> list[ServerProcess]:
    replicas = []
    try:
        for n in range(count):
            replicas.append(ServerProcess(directory / f"replica-{n}", ["--store", store_url, *extra_args],
                                          env=env).start())
    except BaseException:
        for replica in replicas:
            replica.kill()
        raise
    return replicas


def restart(replica: ServerProcess) -> ServerProcess:
    """The same replica (data dir, store, flags) started again on the same address, where its
    clients dial it (the last --listen wins)."""
    return ServerProcess(replica.data_dir, [*replica.extra_args, "--listen", replica.address], env=replica.env,
                         module=replica.module).start()


def target(replicas: Sequence[ServerProcess]) -> str:
    """gRPC's own multi-address target for the replicas: ipv4:HOST:PORT,HOST:PORT,..."""
    return "ipv4:" + ",".join(replica.address for replica in replicas)
