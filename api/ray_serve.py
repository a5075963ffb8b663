"""`qa serve --ray`: the app of `qa serve` as a Ray Serve deployment of N replicas.

Each replica builds its own `Engine` (the model and the live index version, loaded once) and the
app from `api.app.create_app`; Serve's one HTTP proxy, on the head node, spreads the requests over
them. Replicas read the index folder at the same path on every node (a shared file system or a
synced copy) and, like the single-process server, answer from a newly published version from
their next request on. `GET /stats/replica` names the replica that answered, its node and the
index version it serves (call it a few times to see every replica); every response names its
replica in the `X-Dateline-Replica` header.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ray
from fastapi import FastAPI, Request, Response
from ray import serve

from api.app import create_app
from api.settings import ApiSettings
from index import config
from index.cluster import connect
from index.store import IndexUnavailable, live_version
from qa.engine import Engine

APP_NAME = "dateline"
# Logical CPUs each replica reserves: Ray places a replica only where this many are free.
REPLICA_CPUS = config.env_float("QA_RAY_REPLICA_CPUS", 1.0)
log = logging.getLogger("ray.serve")  # the logger Serve writes to each replica's log file


def start(address: str, index_root: Path, replicas: int, host: str, port: int) -> str:
    """Deploy (or redeploy) Dateline on the cluster at ADDRESS; returns its URL once every
    replica has loaded the model and the index."""
    root = index_root.resolve()
    if live_version(root) is None:
        raise IndexUnavailable(f"no index at {root}; build it with `qa ingest PATH...` first")
    # Answering is CPU-bound and a hop between nodes costs about a millisecond: send requests to
    # the least busy replica anywhere, not to the proxy's own node first (Serve's default).
    connect(address, {"RAY_SERVE_PROXY_PREFER_LOCAL_NODE_ROUTING": "0"})
    serve.start(proxy_location="HeadOnly", http_options={"host": host, "port": port})
    deployment = serve.deployment(
        name="Dateline", num_replicas=replicas, ray_actor_options={"num_cpus": REPLICA_CPUS}
    )(serve.ingress(_builder(root, ApiSettings()))())
    serve.run(deployment.bind(), name=APP_NAME, route_prefix="/")
    return f"http://{host}:{port}/"


def wait_then_remove() -> None:
    """Block until Ctrl-C or SIGTERM, then take the replicas down (Serve's proxy stays)."""
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    # A signal may reach another thread; the handler then runs once this thread wakes.
    while not stop.wait(1.0):
        continue
    serve.delete(APP_NAME)


def replica_app(index_root: Path, settings: ApiSettings) -> FastAPI:
    """Runs once in each replica as it starts: the model, the index and the app."""
    started = time.perf_counter()
    _bind_replica_grpc_to_node()
    engine = Engine(index_root)
    engine.snapshot  # noqa: B018 - load the index now: a replica is ready only when it can answer
    app = create_app(engine, settings)
    replica = serve.get_replica_context().replica_id.unique_id
    node = ray.get_runtime_context().get_node_id()

    @app.get("/stats/replica", tags=["service"])
    def replica_stats() -> dict[str, str]:
        """Which replica answered, on which Ray node, from which index version."""
        return {"replica": replica, "node": node, "index_version": engine.snapshot.version}

    @app.middleware("http")
    async def name_the_replica(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["X-Dateline-Replica"] = replica
        return response

    log.info("replica %s ready in %.1f s", replica, time.perf_counter() - started)
    return app


def _builder(index_root: Path, settings: ApiSettings) -> Callable[[], FastAPI]:
    # Serve calls an ingress builder with no arguments, in the replica; a closure carries ours.
    def build() -> FastAPI:
        return replica_app(index_root, settings)

    return build


def _bind_replica_grpc_to_node() -> None:
    """Ray Serve replicas open an inter-deployment gRPC server on every interface ("[::]:0")
    and no setting moves it; bind it to this node's address, where peers look for it."""
    from ray.serve._private import replica

    original = getattr(replica, "add_port_to_grpc_server", None)
    if original is None:
        return
    node_ip = ray.util.get_node_ip_address()
    host = f"[{node_ip}]" if ":" in node_ip else node_ip

    def bind(server: Any, address: str) -> int:
        if address.startswith("[::]:"):
            address = f"{host}:{address.rsplit(':', 1)[1]}"
        return int(original(server, address))

    replica.add_port_to_grpc_server = bind
