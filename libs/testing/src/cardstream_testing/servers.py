"""The private Redis and FerretDB servers, as the tests have always imported them; they live in
`cardstream_devstack` (run code), which `make run` uses without any test code."""

from cardstream_devstack.cluster import RedisCluster, RedisClusterNode
from cardstream_devstack.processes import PortInUseError, ServerStartError, free_port, log_tail
from cardstream_devstack.servers import (
    FerretDBServer,
    RedisServer,
    ferretdb_binary,
    ferretdb_build_path,
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
