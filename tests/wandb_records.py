"""Reading an offline W&B run file (``run-*.wandb``: leveldb-log framing of protobuf ``Record``s) in tests."""
from __future__ import annotations

import struct
import time
from pathlib import Path
from typing import Any, Callable


def wandb_records(run_file: Path) -> list[Any]:
    """Every ``Record`` in ``run_file``, in order."""
    from wandb.proto import wandb_internal_pb2

    raw, pos, chunk, records = run_file.read_bytes(), 7, b"", []
    while pos + 7 <= len(raw):
        if 32768 - pos % 32768 < 7:  # block trailer
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", raw[pos:pos + 7])
        if length == 0 and kind == 0:
            break
        chunk, pos = chunk + raw[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # full record or last fragment
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunk)
            records.append(record)
            chunk = b""
    return records


def history(run_file: Path) -> list[tuple[int, set[str]]]:
    """``(step, logged keys)`` of each history record."""
    return [(r.history.step.num, {item.key or "/".join(item.nested_key) for item in r.history.item})
            for r in wandb_records(run_file) if r.WhichOneof("record_type") == "history"]


def exit_code(run_file: Path) -> int | None:
    """The exit code the run was finished with (``None``: not finished)."""
    codes = [r.exit.exit_code for r in wandb_records(run_file) if r.WhichOneof("record_type") == "exit"]
    return codes[-1] if codes else None


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> bool:
    """Poll ``condition`` (the wandb service process may still be flushing the file after ``finish()``)."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True
