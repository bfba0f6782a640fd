"""Import newline-delimited Segment-spec messages from a file.

Each line of the file contains one message as JSON, the shape a Segment-spec
client sends inside a batch. Lines go through :func:`ingest_batch` in
chunks, so an import validates, deduplicates and resolves identity exactly
as ``POST /v1/batch`` does, and importing the same file twice stores
nothing the second time.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import peewee

from pug_server import jsontext
from pug_server.models import Project
from pug_server.services.ingest import ingest_batch

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
DEFAULT_CHUNK_LINES = 500
#: Attempts per chunk when the database is busy or briefly unreachable.
MAX_CHUNK_ATTEMPTS = 3
RETRY_DELAY_SECONDS = 1.0


@dataclass
class LineProblem:
    """A line that was not stored: its 1-based number and the reason."""

    line: int
    message_id: str | None
    errors: Any


@dataclass
class ImportSummary:
    """Counts of an import. ``problems`` lists every line that was not stored."""

    lines: int = 0
    blank: int = 0
    accepted: int = 0
    duplicates: int = 0
    problems: list[LineProblem] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.problems)


#: Called after each chunk with the bytes read so far and the file's size.
ProgressCallback = Callable[[int, int, ImportSummary], None]


class ImportFileError(Exception):
    """The file cannot be read to its end."""


def is_gzip(path: Path) -> bool:
    """Tell whether *path* starts with the gzip magic bytes, whatever its name."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def import_file(
    project: Project,
    path: Path,
    *,
    config: dict[str, Any],
    chunk_lines: int = DEFAULT_CHUNK_LINES,
    progress: ProgressCallback | None = None,
) -> ImportSummary:
    """Store the messages of a newline-delimited JSON file, plain or gzip.

    A line that is not valid JSON, or a message that fails validation, is
    listed in the summary with its line number and the other lines go on.
    Every chunk of *chunk_lines* lines is one transaction, so an import that
    stops half-way keeps the chunks already committed; running it again
    stores only the rest, because ``messageId`` deduplicates.

    The stored time is each message's ``timestamp`` as written. ``sentAt``
    is dropped before ingestion: the clock skew correction subtracts it
    from the time the server received the message, and an import happens
    long after the original delivery.

    :param progress: called after each chunk with the bytes read (of the
        compressed file for gzip) and the file size in bytes.
    A line without a ``messageId`` gets ``import-`` and a SHA-256 prefix of
    the line, so identical lines are stored once, even across imports.

    :raises OSError: when the file cannot be read.
    :raises ImportFileError: when gzip data ends early or is corrupt; the
        chunks before that point stay committed.
    :raises peewee.OperationalError: when the database fails a chunk
        :data:`MAX_CHUNK_ATTEMPTS` times; earlier chunks stay committed.
    """
    summary = ImportSummary()
    total_bytes = path.stat().st_size
    with open(path, "rb") as raw_handle:
        stream = _open_bytes(raw_handle, is_gzip(path))
        chunk: list[tuple[int, Any]] = []
        try:
            for number, line in _numbered_lines(stream, summary):
                message = _parse_line(number, line, summary)
                if message is None:
                    continue
                chunk.append((number, message))
                if len(chunk) >= chunk_lines:
                    _store_chunk(project, chunk, config, summary)
                    chunk = []
                    if progress:
                        progress(raw_handle.tell(), total_bytes, summary)
        except ImportFileError:
            # The lines read before a corrupt part of the file are stored too.
            if chunk:
                _store_chunk(project, chunk, config, summary)
            raise
        if chunk:
            _store_chunk(project, chunk, config, summary)
        if progress:
            progress(total_bytes, total_bytes, summary)
    summary.problems.sort(key=lambda problem: problem.line)
    logger.info(
        "imported file project_id=%s lines=%d accepted=%d duplicates=%d rejected=%d",
        project.id,
        summary.lines,
        summary.accepted,
        summary.duplicates,
        summary.rejected,
    )
    return summary


def _open_bytes(raw_handle: IO[bytes], compressed: bool) -> IO[bytes]:
    if compressed:
        return gzip.GzipFile(fileobj=raw_handle)  # type: ignore[return-value]
    return raw_handle


def _numbered_lines(
    stream: IO[bytes], summary: ImportSummary
) -> Iterator[tuple[int, bytes]]:
    try:
        for number, line in enumerate(stream, start=1):
            summary.lines = number
            stripped = line.strip()
            if not stripped:
                summary.blank += 1
                continue
            yield number, stripped
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise ImportFileError(
            f"the gzip data is cut off or corrupt after line {summary.lines}: "
            f"{exc}; the lines before it were imported"
        ) from exc


def _parse_line(number: int, line: bytes, summary: ImportSummary) -> Any:
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"line is not valid UTF-8 at byte {exc.start + 1}"
        summary.problems.append(LineProblem(number, None, {"_line": [reason]}))
        return None
    try:
        message = jsontext.loads(text)
    except json.JSONDecodeError as exc:
        reason = f"line is not valid JSON at column {exc.colno}: {exc.msg}"
        summary.problems.append(LineProblem(number, None, {"_line": [reason]}))
        return None
    except (ValueError, RecursionError) as exc:
        reason = f"line is not valid JSON: {str(exc)[:200]}"
        summary.problems.append(LineProblem(number, None, {"_line": [reason]}))
        return None
    if isinstance(message, dict):
        message.pop("sentAt", None)
        if message.get("messageId") is None:
            # A line without an id gets one derived from its bytes, so that
            # importing the same file again stores it only once.
            digest = hashlib.sha256(line).hexdigest()[:32]
            message["messageId"] = f"import-{digest}"
    return message


def _store_chunk(
    project: Project,
    chunk: list[tuple[int, Any]],
    config: dict[str, Any],
    summary: ImportSummary,
) -> None:
    messages = [message for _, message in chunk]
    for attempt in range(1, MAX_CHUNK_ATTEMPTS + 1):
        try:
            result = ingest_batch(project, messages, config=config)
            break
        except (peewee.OperationalError, peewee.InterfaceError):
            if attempt == MAX_CHUNK_ATTEMPTS:
                raise
            logger.warning(
                "retrying import chunk project_id=%s first_line=%d attempt=%d",
                project.id,
                chunk[0][0],
                attempt,
                exc_info=True,
            )
            time.sleep(RETRY_DELAY_SECONDS * attempt)
    summary.accepted += result.accepted
    summary.duplicates += result.duplicates
    for rejected in result.rejected:
        number = chunk[rejected["index"]][0]
        summary.problems.append(
            LineProblem(number, rejected.get("messageId"), rejected["errors"])
        )
