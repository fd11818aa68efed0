"""A narrow Runpod client: create (GPU fallback, retries, no leaked pod), get, terminate, list.

Why a wrapper around the runpod SDK rather than calling it directly:
- the SDK raises a mix of its own errors, ``requests`` errors, ``KeyError`` and JSON errors;
  this module sorts them into "no capacity for this GPU type" (try the next type),
  "transient" (retry the same call) and fatal (stop);
- SDK exceptions quote the whole GraphQL mutation, env values included: messages are
  redacted before they travel further;
- a create that times out or answers 5xx may still have created a pod, which would bill
  with nobody watching it: after such an error the client looks the pod up by its unique
  name and adopts it instead of creating a second one.

``import runpod`` costs ~2 s, so it happens on first use. The SDK reads the API base URL from
``RUNPOD_API_BASE_URL`` on every call (tests point it at a local fake) but does not read
``RUNPOD_API_KEY`` itself: the key is set on the module here, from the environment only.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wavespace.cloud.defaults import Limits, PodDefaults
from wavespace.cloud.secrets import redact
from wavespace.errors import WavespaceError

log = logging.getLogger(__name__)

_CAPACITY = re.compile(
    r"no longer any instances available|not have the resources|no (gpu )?instances? available"
    r"|out of capacity|insufficient capacity|no available|not enough",
    re.IGNORECASE,
)
_NOT_FOUND = re.compile(r"not found|does not exist|no pod", re.IGNORECASE)
# Characters the SDK would splice unescaped into a GraphQL string literal.
_UNSAFE_ENV = re.compile(r'["\\\n\r]')


class CloudError(WavespaceError, RuntimeError):
    """A Runpod call failed in a way retrying will not fix (auth, bad request, config)."""


class CapacityError(CloudError):
    """The requested GPU type has no capacity now (or does not exist): try another type."""


class TransientError(CloudError):
    """Network error, HTTP 5xx or a malformed reply: the same call may succeed later."""


@dataclass
class PodSpec:
    """What every pod of a sweep looks like (everything but its name and env)."""

    image: str
    gpu_types: list[str]
    gpu_count: int = PodDefaults.gpu_count
    cloud_type: str = PodDefaults.cloud_type
    container_disk_gb: int = PodDefaults.container_disk_gb
    volume_in_gb: int = 0
    network_volume_id: str | None = None
    volume_mount_path: str = PodDefaults.volume_mount_path
    data_center_id: str | None = None


@dataclass
class CreatedPod:
    """A pod the client created (or adopted after an ambiguous create error)."""

    id: str
    name: str
    gpu_type: str
    adopted: bool = False


def validate_env(env: Mapping[str, str]) -> None:
    """Refuse env values the SDK would splice into GraphQL unescaped (names only in errors)."""
    for name, value in env.items():
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise CloudError(f"invalid environment variable name {name!r}")
        if _UNSAFE_ENV.search(str(value)):
            raise CloudError(
                f"value of {name} contains a quote, backslash or newline, which the runpod "
                "SDK cannot send safely; encode it or use a Runpod secret"
            )


class RunpodClient:
    """Runpod calls with error classification, retries and redaction."""

    def __init__(
        self,
        api_key: str | None = None,
        retries: int = Limits.create_retries,
        backoff_s: float = Limits.retry_backoff_s,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("RUNPOD_API_KEY")
        if not key:
            raise CloudError("RUNPOD_API_KEY is not set: export it in the launching shell")
        self._key = key
        self.retries = retries
        self.backoff_s = backoff_s
        self._sleep = sleep
        self._sdk: Any = None

    @property
    def sdk(self) -> Any:
        """The runpod module, imported on first use, with this client's key set."""
        if self._sdk is None:
            import runpod

            self._sdk = runpod
        self._sdk.api_key = self._key
        return self._sdk

    def _call(self, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        """Call one SDK function and translate its failures into our three error kinds."""
        import requests

        sdk = self.sdk
        try:
            return getattr(sdk, fn_name)(*args, **kwargs)
        except sdk.error.AuthenticationError as e:
            raise CloudError(f"Runpod refused the API key: {redact(str(e))}") from None
        except sdk.error.QueryError as e:
            message = redact(str(e.message or "query error"))
            if _CAPACITY.search(message):
                raise CapacityError(message) from None
            raise CloudError(message) from None
        except requests.RequestException as e:
            raise TransientError(f"{type(e).__name__}: {redact(str(e))[:200]}") from None
        except ValueError as e:
            # get_gpu raises ValueError for an unknown GPU id; a non-JSON 5xx body is also a
            # ValueError (json.JSONDecodeError), caught above when it is requests'.
            if "No GPU found" in str(e):
                raise CapacityError(f"unknown GPU type: {redact(str(e))}") from None
            raise TransientError(f"malformed reply: {redact(str(e))[:200]}") from None
        except (KeyError, TypeError) as e:
            raise TransientError(f"malformed reply ({type(e).__name__})") from None

    def _retrying(self, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        """``_call`` with exponential backoff on transient errors."""
        for attempt in range(self.retries + 1):
            try:
                return self._call(fn_name, *args, **kwargs)
            except TransientError as e:
                if attempt == self.retries:
                    raise
                delay = self.backoff_s * 2**attempt
                log.warning("runpod %s failed (%s); retrying in %.1fs", fn_name, e, delay)
                self._sleep(delay)
        raise AssertionError("unreachable")

    def create_pod(self, name: str, spec: PodSpec, env: Mapping[str, str]) -> CreatedPod:
        """Create one pod, trying ``spec.gpu_types`` in order.

        Capacity errors move on to the next GPU type; transient errors retry the same type
        after checking that the failed call did not create the pod after all.
        Raises CapacityError when no type had capacity, CloudError on fatal errors.
        """
        validate_env(env)
        if not spec.gpu_types:
            raise CloudError("no GPU types configured")
        reasons: list[str] = []
        for gpu in spec.gpu_types:
            for attempt in range(self.retries + 1):
                try:
                    pod = self._call(
                        "create_pod",
                        name=name,
                        image_name=spec.image,
                        gpu_type_id=gpu,
                        cloud_type=spec.cloud_type,
                        gpu_count=spec.gpu_count,
                        volume_in_gb=spec.volume_in_gb,
                        container_disk_in_gb=spec.container_disk_gb,
                        volume_mount_path=spec.volume_mount_path,
                        network_volume_id=spec.network_volume_id,
                        data_center_id=spec.data_center_id,
                        support_public_ip=False,
                        start_ssh=False,
                        env=dict(env),
                    )
                    return CreatedPod(id=str(pod["id"]), name=name, gpu_type=gpu)
                except CapacityError as e:
                    reasons.append(f"{gpu}: {e}")
                    log.info("no capacity for %s (%s); trying the next GPU type", gpu, e)
                    break
                except TransientError as e:
                    adopted = self.find_pod_named(name)
                    if adopted is not None:
                        log.warning("create of %s errored (%s) but the pod exists: adopted", name, e)
                        return CreatedPod(id=adopted, name=name, gpu_type=gpu, adopted=True)
                    if attempt == self.retries:
                        reasons.append(f"{gpu}: {e}")
                        break
                    delay = self.backoff_s * 2**attempt
                    log.warning("create of %s on %s failed (%s); retry in %.1fs", name, gpu, e, delay)
                    self._sleep(delay)
        raise CapacityError("; ".join(reasons))

    def find_pod_named(self, name: str) -> str | None:
        """Id of the live pod with exactly this name, or None (errors count as none)."""
        try:
            pods = self._call("get_pods")
        except CloudError:
            return None
        for pod in pods or []:
            if pod.get("name") == name:
                return str(pod["id"])
        return None

    def get_pod(self, pod_id: str) -> dict[str, Any] | None:
        """The pod's record, or None once it no longer exists (terminated)."""
        try:
            pod = self._call("get_pod", pod_id)
        except CloudError as e:
            if not isinstance(e, TransientError) and _NOT_FOUND.search(str(e)):
                return None
            raise
        return pod or None

    def terminate(self, pod_id: str) -> None:
        """Terminate a pod (idempotent: an unknown pod counts as terminated).

        Terminate, not stop: a stopped pod keeps billing for its disk and may not resume.
        """
        try:
            self._retrying("terminate_pod", pod_id)
        except CloudError as e:
            if isinstance(e, TransientError) or not _NOT_FOUND.search(str(e)):
                raise

    def list_pods(self, name_prefix: str | None = None) -> list[dict[str, Any]]:
        """Live pods of this account, optionally only those whose name starts with a prefix."""
        pods = self._retrying("get_pods") or []
        if name_prefix:
            pods = [p for p in pods if str(p.get("name", "")).startswith(name_prefix)]
        return list(pods)
