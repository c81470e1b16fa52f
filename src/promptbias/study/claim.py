"""One writer per results folder: a run claims the folder for as long as it runs.

The claim is a lease (filelock's ``SoftFileLease``): a marker file, ``claim.lock``, that the holder's
heartbeat thread touches every third of the lease. It is stale, and taken over, when its holder's process is
gone from this host (kill -9: the pid is dead, or reused by another process), or when it has not been touched
for a whole lease (a holder on another host that died with its node). A marker file works on the shared disks
of a cluster, where a kernel lock (flock) may not reach the other nodes; ``claim.json`` beside it says who
holds the folder (pid, host, start time, command), which is what a second run prints when it stops.

With Ray the driver, the process that runs the study, holds the claim; its workers write unit folders under it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

from filelock import LeaseCompromise, SoftFileLease, Timeout
from pydantic import BaseModel, ConfigDict, Field

from promptbias.errors import InputError

LOCK_FILE = "claim.lock"
HOLDER_FILE = "claim.json"
CLAIM_FILES = frozenset({LOCK_FILE, HOLDER_FILE})
HOLDER_PATIENCE = 3.0  # seconds given to a holder that is starting or ending to write or remove claim.json


class ClaimSettings(BaseModel):
    """How a run claims its results folder: ``wait`` for a run that holds it (else stop with one line), and
    the lease after which an untouched claim of another host is stale."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    wait: bool = False
    lease_seconds: float = Field(default=60.0, gt=0)


class FolderInUse(InputError):
    """The results folder is claimed by a live run."""


def holder_record(command: str) -> dict[str, object]:
    """What ``claim.json`` says about this process."""
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "command": command,
    }


def read_holder(folder: Path) -> dict[str, object] | None:
    """The ``claim.json`` of ``folder``; None while there is none (its holder starting or ending)."""
    try:
        holder = json.loads((folder / HOLDER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def holder_text(holder: dict[str, object] | None) -> str:
    """Who holds a folder, in a few words."""
    if holder is None:
        return "another run (its claim.json is not there)"
    return (
        f"pid {holder.get('pid')} on host {holder.get('host')} since {holder.get('started')} "
        f"({holder.get('command')})"
    )


def touched_ago(path: Path) -> float:
    """Seconds since ``path`` was last modified (by this host's clock); 0 when it is gone."""
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def acquire(lease: SoftFileLease, folder: Path, settings: ClaimSettings) -> None:
    """Take the lease: at once when it is free or its holder is dead on this host; after a whole lease when it
    has gone untouched that long (its host lost); after the holder ends when ``settings.wait``; else
    FolderInUse naming the holder. A holder that is starting or ending (its claim.json not written yet, or
    removed already) is given ``HOLDER_PATIENCE`` seconds."""
    deadline = time.monotonic() + HOLDER_PATIENCE
    while True:
        with contextlib.suppress(Timeout):
            lease.acquire(timeout=0)
            return
        holder = read_holder(folder)
        if holder is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    if settings.wait:
        print(
            f"promptbias: waiting for {folder}: in use by {holder_text(holder)}", file=sys.stderr, flush=True
        )
        lease.acquire(timeout=-1)
        return
    if touched_ago(folder / LOCK_FILE) > settings.lease_seconds:  # seen unchanged for a lease, then taken
        with contextlib.suppress(Timeout):
            lease.acquire(timeout=1.5 * settings.lease_seconds)
            return
    raise FolderInUse(
        folder,
        f"results folder in use by {holder_text(holder)}; wait for it with --wait, or choose another folder",
    )


def report_loss(folder: Path, loss: LeaseCompromise) -> None:
    """One line when the claim is lost while the run goes on (this process frozen for longer than a lease, or
    the marker removed by hand): another run may now write into the folder too."""
    print(
        f"promptbias: warning: {folder}: the claim on this results folder was lost ({loss.reason}); "
        "another run may write into it now",
        file=sys.stderr,
        flush=True,
    )


@contextlib.contextmanager
def claim_folder(folder: Path, command: str, settings: ClaimSettings | None = None) -> Iterator[None]:
    """Hold ``folder`` (created when missing) for the block; FolderInUse when a live run holds it."""
    # store imports pandas: not at the command line's start, which reads ClaimSettings
    from promptbias import store

    settings = settings or ClaimSettings()
    folder.mkdir(parents=True, exist_ok=True)
    lease = SoftFileLease(
        folder / LOCK_FILE, lease_duration=settings.lease_seconds, on_compromise=partial(report_loss, folder)
    )
    acquire(lease, folder, settings)
    try:
        store.write_json(folder / HOLDER_FILE, holder_record(command))
        yield
    finally:
        (folder / HOLDER_FILE).unlink(missing_ok=True)
        lease.release()
