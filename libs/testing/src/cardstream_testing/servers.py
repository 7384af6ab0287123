"""The private Redis and FerretDB servers, as the tests have always imported them; they live in
`cardstream_devstack` (run code), which `make run` uses without any test code."""

from cardstream_devstack.processes import PortInUseError, ServerStartError, free_port, log_tail
from cardstream_devstack.servers import (
    FERRETDB_VERSION,
    FerretDBServer,
    RedisServer,
    ferretdb_binary,
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
