"""Joining a Ray cluster as a driver; only the `--ray` commands import this (and Ray with it)."""

from __future__ import annotations

import os
import socket

import ray

# Settings the workers must share with the driver to make the same chunks, vectors and answers.
_SHARED = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
# Never shipped: a job's environment is readable by anyone who can inspect the cluster.
_SECRET = ("QA_ADMIN_TOKEN",)


def shared_environment() -> dict[str, str]:
    """This process's QA_* settings (less secrets) and the offline switches of the model stack."""
    return {
        name: value
        for name, value in os.environ.items()
        if (name.startswith("QA_") or name in _SHARED) and name not in _SECRET
    }


def connect(address: str, extra_environment: dict[str, str] | None = None) -> None:
    """Join the cluster at ADDRESS (its head's host:port). Every process this job starts gets the
    driver's settings, so a node started with other QA_* values cannot answer differently."""
    if ray.is_initialized():
        return
    host, _, port = address.rpartition(":")
    try:  # ray.init retries an unreachable address for minutes; say so at once instead
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise ConnectionError(
            f"no Ray cluster answers at {address} ({exc}); give its head's host:port"
        ) from exc
    environment = {**shared_environment(), **(extra_environment or {})}
    ray.init(address=address, runtime_env={"env_vars": environment}, log_to_driver=False)
