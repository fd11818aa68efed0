"""Scale-out to Runpod: pod payloads, the pod entrypoint, a small Runpod client and the CLI.

Nothing here imports ``runpod`` or ``wandb`` at package import: both are slow to import and
only the code paths that talk to the cloud need them (``python -m wavespace.train --help``
must stay fast even though the launcher plugin imports this package).

Modules:
- ``defaults``: pod and run-loop defaults, shared by the launcher plugin and the CLI.
- ``payload``: the job description that travels to a pod in one environment variable.
- ``secrets``: which environment values are secret, and redaction of text that may hold them.
- ``client``: Runpod API calls (create with GPU fallback and retries, get, terminate, list).
- ``orchestrator``: one pod per job, polling, deadlines, cost table, cleanup on every exit.
- ``results``: where a finished job's result comes back from (shared volume or W&B).
- ``entrypoint``: what a pod runs (``python -m wavespace.cloud.entrypoint``).
- ``__main__``: ``python -m wavespace.cloud pods|cleanup|agents``.
"""
