"""A local Redis Cluster: primaries and their replicas, each a `redis-server --cluster-enabled
yes` on loopback ports with its own data directory, durable as the single server is (AOF fsynced
on every write, noeviction), joined with `redis-cli --cluster create`.

For the tests of the event store on a cluster (issue 13): it starts in a second or two, answers
`url` in the form the services take (`redis+cluster://host:port,...`), and can kill and restart
any node, so that a test can make a primary fail over to its replica.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Self

import redis
import redis.exceptions

from cardstream_devstack.processes import ServerStartError, free_port, log_tail
from cardstream_devstack.servers import RedisServer

CLUSTER_SCHEME = "redis+cluster"
HASH_SLOTS = 16384
# Short enough that a test which kills a primary sees its replica promoted within seconds, long
# enough that a node busy with fsyncs on a loaded machine is not taken for dead.
NODE_TIMEOUT_MS = 3000
_POLL_INTERVAL = 0.05


class RedisClusterNode(RedisServer):
    """One node: a RedisServer in cluster mode, with its cluster bus on a port of its own."""

    name = "redis-node"

    def __init__(
        self,
        data_dir: Path,
        *,
        node_timeout_ms: int,
        timeout: float,
        executable: str,
    ) -> None:
        super().__init__(data_dir, timeout=timeout, executable=executable)
        self.node_timeout_ms = node_timeout_ms
        self.bus_port: int | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _argv(self) -> list[str]:
        # The bus port is named, not left to Redis (port + 10000, which can fall in the kernel's
        # ephemeral range). Each start that may still move to another client port (a lost port
        # race) takes a fresh one; after the first start both are pinned, so a node restarts
        # where the others know it.
        if self.bus_port is None or not self._fixed_port:
            self.bus_port = free_port()
        return [
            *super()._argv(),
            "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf",
            "--cluster-port", str(self.bus_port),
            "--cluster-node-timeout", str(self.node_timeout_ms),
            # A replica's first sync starts at once, instead of after Redis's 5 s wait for more
            # replicas to share the transfer with: joining or rejoining, it is in sync sooner.
            "--repl-diskless-sync-delay", "0",
        ]  # fmt: skip

    def client(self) -> redis.Redis:
        """A client of this node alone (no redirections), failing at once if it is down."""
        return self._probe_client()

    def cluster_info(self) -> dict[str, str]:
        with self.client() as client:
            info: dict[str, str] = client.cluster("INFO")  # parsed by redis-py
        return info

    def view(self) -> dict[str, dict[str, str]]:
        """CLUSTER NODES as this node sees the cluster, by address (redis-py's parsing)."""
        with self.client() as client:
            nodes: dict[str, dict[str, str]] = client.cluster("NODES")
        return nodes

    def role(self) -> str:
        """The node's own word for its role, `master` or `slave` (a failover swaps them)."""
        with self.client() as client:
            reply = client.execute_command("ROLE")
        role = reply[0]
        return role.decode() if isinstance(role, bytes) else str(role)


class RedisCluster:
    """`primaries` primaries with `replicas` replicas each. The first `primaries` nodes start as
    the primaries (slots split evenly, as `redis-cli --cluster create` splits them); which node
    is a primary later is asked of the nodes (`primaries()`), since a failover swaps roles."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        primaries: int = 3,
        replicas: int = 1,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
        timeout: float = 30.0,
        executable: str = "redis-server",
        cli: str = "redis-cli",
    ) -> None:
        self._owns_dir = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix="cardstream-redis-cluster-"))
            if data_dir is None
            else data_dir
        )
        self.primary_count = primaries
        self.replica_count = replicas
        self.timeout = timeout
        self.cli = cli
        self.log_path = self.data_dir / "cluster-create.log"
        self.nodes = [
            RedisClusterNode(
                self.data_dir / f"node{i}",
                node_timeout_ms=node_timeout_ms,
                timeout=timeout,
                executable=executable,
            )
            for i in range(primaries * (1 + replicas))
        ]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", node.port) for node in self.nodes]

    @property
    def url(self) -> str:
        """Every node, in the form the services accept for a cluster (any one of them would do:
        the client learns the rest from it)."""
        return f"{CLUSTER_SCHEME}://" + ",".join(node.address for node in self.nodes)

    def start(self) -> Self:
        for node in self.nodes:
            node.start()
        if not self._formed():
            self._create()
        self.wait_until_ok()
        return self

    def _formed(self) -> bool:
        # Restarted over kept data directories, the nodes find each other from nodes.conf.
        return self.nodes[0].cluster_info().get("cluster_slots_assigned") == str(HASH_SLOTS)

    def _create(self) -> None:
        argv = [
            self.cli, "--cluster", "create", *(node.address for node in self.nodes),
            "--cluster-replicas", str(self.replica_count), "--cluster-yes",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            created = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=self.timeout,
                check=False,
            )
        if created.returncode != 0:
            raise ServerStartError(
                f"redis-cli --cluster create exited with status {created.returncode}; "
                f"last lines of {self.log_path}:\n{log_tail(self.log_path)}"
            )

    def primaries(self) -> list[RedisClusterNode]:
        """The running nodes that are primaries now."""
        return [node for node in self.nodes if node.running and node.role() == "master"]

    def primary_for(self, slot: int) -> RedisClusterNode:
        """The node serving `slot` now, as the first running node sees it."""
        asker = next(node for node in self.nodes if node.running)
        with asker.client() as client:
            ranges = client.execute_command("CLUSTER SLOTS")
        for first, last, primary, *_ in ranges:
            if first <= slot <= last:
                return next(node for node in self.nodes if node.port == int(primary[1]))
        raise ServerStartError(f"no node serves slot {slot}")

    def replicas(self) -> list[RedisClusterNode]:
        return [node for node in self.nodes if node.running and node.role() == "slave"]

    def problems(self, *, every_node_up: bool = True) -> list[str]:
        """What stands between the cluster and serving every slot; empty when it does. With
        `every_node_up`, also every node running, known to the others and, if a replica, in
        sync with its primary; without, only that the running nodes serve every slot (after a
        node was killed and its replica promoted)."""
        problems: list[str] = []
        running = [node for node in self.nodes if node.running]
        if every_node_up and len(running) < len(self.nodes):
            problems.append(f"{len(self.nodes) - len(running)} node(s) not running")
        primaries = 0
        for node in running:
            try:
                problems += self._node_problems(node, every_node_up=every_node_up)
                primaries += node.role() == "master"
            except redis.exceptions.RedisError as exc:
                problems.append(f"{node.address} does not answer: {exc}")
        if primaries != self.primary_count:
            problems.append(f"{primaries} running primaries, not {self.primary_count}")
        if every_node_up and not problems:
            problems += self._disagreements(running)
        return problems

    def _disagreements(self, running: list[RedisClusterNode]) -> list[str]:
        # Each node's word on whom it follows ("-": no one) is the truth; the cluster is settled
        # once every node's view says the same. Until then a primary may not yet know a replica
        # as its own, and ignores that replica's request to take over (CLUSTER FAILOVER).
        views = {node.address: node.view() for node in running}
        follows = {address: view[address]["master_id"] for address, view in views.items()}
        return [
            f"{address} sees {other} following {info['master_id']}, not {follows[other]}"
            for address, view in views.items()
            for other, info in view.items()
            if other in follows and info["master_id"] != follows[other]
        ]

    def _node_problems(self, node: RedisClusterNode, *, every_node_up: bool) -> list[str]:
        info = node.cluster_info()
        problems = []
        if info.get("cluster_state") != "ok":
            problems.append(f"{node.address} says cluster_state:{info.get('cluster_state')}")
        if info.get("cluster_slots_ok") != str(HASH_SLOTS):
            problems.append(f"{node.address} sees {info.get('cluster_slots_ok')} slots ok")
        if every_node_up:
            if info.get("cluster_known_nodes") != str(len(self.nodes)):
                problems.append(f"{node.address} knows {info.get('cluster_known_nodes')} nodes")
            with node.client() as client:
                replication = client.info("replication")
                persistence = client.info("persistence")
            if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
                problems.append(f"replica {node.address} is not in sync with its primary")
            # A replica rewrites its AOF after each full sync, and refuses SHUTDOWN until done.
            if persistence["aof_rewrite_in_progress"] or persistence["aof_rewrite_scheduled"]:
                problems.append(f"{node.address} is rewriting its AOF")
        return problems

    def wait_until_ok(self, *, every_node_up: bool = True, timeout: float | None = None) -> None:
        """Polls `problems` until there are none; ServerStartError naming them at the deadline."""
        self.wait_for(
            lambda: not self.problems(every_node_up=every_node_up),
            timeout=timeout,
            what=lambda: "; ".join(self.problems(every_node_up=every_node_up)),
        )

    def wait_for(
        self,
        condition: Callable[[], bool],
        *,
        timeout: float | None = None,
        what: Callable[[], str] = lambda: "the condition never held",
        raising: bool = True,
    ) -> bool:
        """Polls `condition` until it holds (True) or the timeout passes: then ServerStartError
        saying `what`, or False if not `raising`."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not condition():
            if time.monotonic() > deadline:
                if not raising:
                    return False
                raise ServerStartError(f"redis cluster in {self.data_dir}: {what()}")
            time.sleep(_POLL_INTERVAL)
        return True

    def replica_of(self, primary: RedisClusterNode) -> RedisClusterNode:
        for node in self.replicas():
            with node.client() as client:
                if int(client.info("replication")["master_port"]) == primary.port:
                    return node
        raise ServerStartError(f"{primary.address} has no replica")

    def fail_over(self, replica: RedisClusterNode) -> None:
        """A manual failover (`CLUSTER FAILOVER`, nothing killed): the replica catches up with its
        primary, which pauses its clients meanwhile, and takes its place; the primary becomes its
        replica. Waits until the cluster is whole again with the roles swapped."""
        with replica.client() as client:
            primary_port = int(client.info("replication")["master_port"])
        [primary] = [node for node in self.nodes if node.port == primary_port]

        def swapped() -> bool:
            return replica.role() == "master" and primary.role() == "slave"

        deadline = time.monotonic() + self.timeout
        while not swapped():
            # A request can be lost (a primary ignores one from a replica it does not yet know
            # as its own, which `wait_until_ok` now waits out): Redis gives up on it after 5 s,
            # its manual failover timeout; asked again, it starts anew.
            with replica.client() as client:
                client.execute_command("CLUSTER FAILOVER")
            left = max(0.0, deadline - time.monotonic())
            if not self.wait_for(swapped, timeout=min(6.0, left), raising=False) and not left:
                raise ServerStartError(f"{replica.address} never took over from {primary.address}")
        self.wait_until_ok()

    def kill(self, node: RedisClusterNode) -> None:
        """SIGKILL, as a crash would: the others take it for failed after the node timeout, and
        a killed primary's replica is promoted."""
        node.kill()

    def restart(self, node: RedisClusterNode) -> None:
        """Starts a stopped or killed node again on its ports and data (it rejoins from its
        nodes.conf, a former primary as a replica of the one promoted meanwhile), or restarts a
        running one; then waits until every node is up and in sync."""
        if node.running:
            node.restart()
        else:
            node.start()
        self.wait_until_ok()

    def stop(self) -> None:
        # Replicas first: a primary's SHUTDOWN waits (up to 10 s) for replicas still catching up.
        for node in sorted(self.nodes, key=_primary_last):
            node.stop()

    def close(self) -> None:
        self.stop()
        for node in self.nodes:
            node.close()
        if self._owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _primary_last(node: RedisClusterNode) -> bool:
    try:
        return node.running and node.role() == "master"
    except redis.exceptions.RedisError:
        return False
