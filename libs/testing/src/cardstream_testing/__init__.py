"""Test support shared by every package: private Redis and FerretDB servers (from
`cardstream_devstack`, the run code they share with `make run`), services as processes, feeds,
a fault-injecting proxy."""

from cardstream_testing.servers import (
    FERRETDB_VERSION,
    FerretDBServer,
    PortInUseError,
    RedisServer,
    ServerStartError,
    ferretdb_binary,
    free_port,
    log_tail,
)

__all__ = [
    "FERRETDB_VERSION",
    "FerretDBServer",
    "PortInUseError",
    "RedisServer",
    "ServerStartError",
    "ferretdb_binary",
    "free_port",
    "log_tail",
]
