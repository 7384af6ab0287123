"""Test support shared by every package: private Redis and FerretDB servers (from
`cardstream_devstack`, the run code they share with `make run`), services as processes, feeds,
a fault-injecting proxy."""

from cardstream_testing.servers import (
    FerretDBServer,
    PortInUseError,
    RedisCluster,
    RedisClusterNode,
    RedisServer,
    ServerStartError,
    ferretdb_binary,
    ferretdb_build_path,
    free_port,
    log_tail,
)

__all__ = [
    "FerretDBServer",
    "PortInUseError",
    "RedisCluster",
    "RedisClusterNode",
    "RedisServer",
    "ServerStartError",
    "ferretdb_binary",
    "ferretdb_build_path",
    "free_port",
    "log_tail",
]
