"""What `make run` (scripts/devstack.py) runs besides the services: private Redis and FerretDB
servers and the nginx gateway, as supervised local processes. Run code: it imports no test code,
and the test harness (`cardstream_testing`) builds on it."""

from cardstream_devstack.cluster import RedisCluster, RedisClusterNode
from cardstream_devstack.gateway import Gateway, Upstreams
from cardstream_devstack.processes import (
    PortInUseError,
    ServerProcess,
    ServerStartError,
    free_port,
    in_background,
    log_tail,
)
from cardstream_devstack.servers import (
    AUTH_STATE_MAXMEMORY,
    FerretDBServer,
    RedisServer,
    ferretdb_binary,
    ferretdb_build_path,
)
from cardstream_devstack.supervise import CrashLoopError, Supervisor

__all__ = [
    "AUTH_STATE_MAXMEMORY",
    "CrashLoopError",
    "FerretDBServer",
    "Gateway",
    "PortInUseError",
    "RedisCluster",
    "RedisClusterNode",
    "RedisServer",
    "ServerProcess",
    "ServerStartError",
    "Supervisor",
    "Upstreams",
    "ferretdb_binary",
    "ferretdb_build_path",
    "free_port",
    "in_background",
    "log_tail",
]
