"""Writing output files safely, whatever the path is, with every secret masked.

- A regular file (or a new one) is written to a temporary sibling and renamed into place, so a
  report half-written when a CI job is killed never exists; parent folders are created.
- A symlink keeps being a symlink: its target is replaced atomically.
- A FIFO, a character device (``/dev/stdout``, ``/dev/stderr``), a socket, or any path under
  ``/dev`` or ``/proc`` is written in place (appending, never truncating, never replaced: as root
  a rename would replace the device node itself).
- A directory, a FIFO nobody reads, or an unwritable path raises ``OSError`` whose ``strerror``
  says why; callers report it and carry on (a report never changes the verdict).

Text is masked with the command's secrets (the ``Secrets`` every writer here takes) at this
write point and encoded as UTF-8 with lone surrogates replaced by U+FFFD, so writing never fails
on content.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import os
import select
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from checkly_gate.redact import Secrets
from checkly_gate.text import one_line, printable

_IN_PLACE_ROOTS = ("/dev/", "/proc/")


def _encode(text: str, secrets: Secrets) -> bytes:
    return printable(secrets(text)).encode("utf-8")


def _check_utf8(data: memoryview) -> None:
    """Raise ``UnicodeDecodeError`` unless ``data`` is UTF-8 (no lone surrogate either),
    decoding a piece at a time rather than the whole."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    for start in range(0, len(data), CHUNK):
        decoder.decode(data[start : start + CHUNK])
    decoder.decode(b"", final=True)


def _unmasked(data: memoryview, secrets: Secrets) -> bytes | memoryview:
    """UTF-8 text ``data`` as it is when masking leaves it unchanged (no decoded or encoded copy
    of a large body: ``Secrets.finds`` looks at the bytes), else masked and encoded. Raises
    ``UnicodeDecodeError`` on bytes that are not UTF-8 (a lone surrogate included), so
    ``printable`` would change nothing."""
    _check_utf8(data)
    if not secrets.finds(data):
        return data
    return secrets(str(data, "utf-8")).encode("utf-8")


def write_atomic(path: Path | str, text: str, secrets: Secrets) -> None:
    """Write ``text``, ``secrets`` masked, to ``path`` the safe way for what ``path`` is (see
    the module docs).

    Raises ``OSError`` (``IsADirectoryError``, ``PermissionError``, ...) naming the reason.
    """
    write_pieces(path, [text], secrets)


CHUNK = 1 << 16  # characters of text masked and encoded at a time by ``write_pieces``


def _coalesced(pieces: Iterable[str | memoryview]) -> Iterator[str | memoryview]:
    """Runs of text pieces joined into about ``CHUNK`` characters; bytes as they are."""
    run: list[str] = []
    size = 0
    for piece in pieces:
        if isinstance(piece, str):
            run.append(piece)
            size += len(piece)
            if size < CHUNK:
                continue
        if run:
            yield "".join(run)
            run, size = [], 0
        if not isinstance(piece, str):
            yield piece
    if run:
        yield "".join(run)


def write_pieces(
    path: Path | str,
    pieces: Iterable[str | memoryview],
    secrets: Secrets,
) -> None:
    """``write_atomic`` of the pieces' concatenation without building it: text pieces are
    masked (``secrets``) and encoded a few at a time (about
    ``CHUNK`` characters) while writing; UTF-8 bytes (a raw JSON body) are written as they are
    unless masking changes them. Cut pieces only where no secret can span the cut (between XML
    elements, at JSON structure). Raises ``UnicodeDecodeError`` for bytes that are not UTF-8,
    before anything is written.
    """
    path = Path(path)
    pieces = list(pieces)
    raw = {id(p): _unmasked(p, secrets) for p in pieces if not isinstance(p, str)}
    data = (_encode(p, secrets) if isinstance(p, str) else raw[id(p)] for p in _coalesced(pieces))
    try:
        final = os.stat(path)  # follows symlinks, /dev/stdout's magic link included
    except FileNotFoundError:
        final = None
    if final is not None and stat.S_ISDIR(final.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    if final is not None and (not stat.S_ISREG(final.st_mode) or _special(path)):
        _write_in_place(path, data, fifo=stat.S_ISFIFO(final.st_mode))
        return
    # Regular or new: replace the file a symlink points to, never the link itself.
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    _replace(target, data)


def _special(path: Path) -> bool:
    """True when ``path`` is, or links through, ``/dev`` or ``/proc`` (``/dev/stdout`` pointing at
    a log file is still the process's output: appended to, never replaced)."""
    current = str(path.absolute())
    for _ in range(40):  # the kernel's own limit on symlink hops
        if current.startswith(_IN_PLACE_ROOTS):
            return True
        try:
            target = os.readlink(current)
        except OSError:  # not a link (any more)
            return False
        current = os.path.join(os.path.dirname(current), target)
    return False


def _replace(path: Path, data: Iterable[bytes | memoryview]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; a report is an ordinary file, so honour the umask like open().
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            for chunk in data:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _std_fd(final: os.stat_result) -> int | None:
    """1 or 2 when the path is this process's stdout or stderr (``/dev/stdout`` and friends)."""
    for fd, stream in ((1, sys.stdout), (2, sys.stderr)):
        try:
            if os.path.samestat(final, os.fstat(fd)):
                with contextlib.suppress(Exception):
                    stream.flush()  # keep the order of what was printed before
                return fd
        except OSError:
            continue
    return None


#: Seconds a FIFO's reader may take nothing before the write gives up (the gate promises its
#: outputs within 2 s of a signal; a reader that stalls that long is stuck, not slow).
WRITE_STALL_SECONDS = 2.0


def _write_all(fd: int, data: Iterable[bytes | memoryview], path: Path | None = None) -> None:
    """Write every chunk to ``fd``; on a non-blocking descriptor (a FIFO) wait at most
    ``WRITE_STALL_SECONDS`` for the reader to take more, then raise ``OSError`` (EAGAIN)."""
    for chunk in data:
        view = memoryview(chunk)
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                _, ready, _ = select.select([], [fd], [], WRITE_STALL_SECONDS)
                if not ready:
                    raise OSError(
                        errno.EAGAIN,
                        f"the reader of this FIFO took nothing for {WRITE_STALL_SECONDS:g}s",
                        str(path),
                    ) from None


def _write_in_place(path: Path, data: Iterable[bytes | memoryview], fifo: bool) -> None:
    std = _std_fd(os.stat(path))
    if std is not None:  # through our own descriptor: its file offset moves with the write
        _write_all(std, data)
        return
    flags = os.O_WRONLY | os.O_APPEND | getattr(os, "O_CLOEXEC", 0)
    try:
        # A FIFO without a reader would block the gate forever: refuse instead.
        fd = os.open(path, flags | (getattr(os, "O_NONBLOCK", 0) if fifo else 0))
    except OSError as exc:
        if fifo and exc.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "no process is reading this FIFO", str(path)) from None
        raise
    try:
        _write_all(fd, data, path)  # a FIFO stays non-blocking: a stalled reader cannot hold us
    finally:
        os.close(fd)


def append_text(path: Path | str, text: str, secrets: Secrets) -> None:
    """Append ``text``, ``secrets`` masked, to a file another process owns (e.g.
    ``$GITHUB_STEP_SUMMARY``); never truncate."""
    path = Path(path)
    data = _encode(text, secrets)
    try:
        final: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        final = None
    if final is not None and stat.S_ISDIR(final.st_mode):
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    if final is not None and not stat.S_ISREG(final.st_mode):
        # A FIFO nobody reads, or one whose reader stalls, must not hold the gate.
        _write_in_place(path, [data], fifo=stat.S_ISFIFO(final.st_mode))
        return
    if final is None:
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as handle:
        handle.write(data)


class UnreadableInput(OSError):
    """An input file that cannot be read as one: missing, a directory, a FIFO, a device, a
    symlink loop, too large. ``str()`` is one line naming what and why, never the content."""


def read_bounded(path: Path | str, limit: int, what: str) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` bytes, without ever blocking.

    The one reader of every input file (``--config``, ``SSL_CERT_FILE``, a ``report``
    snapshot): opened non-blocking (a FIFO nobody writes returns at once instead of waiting
    for a writer), then only a regular file is read, and never more than ``limit + 1`` bytes
    (``/dev/zero`` and a huge file cannot exhaust memory or time). ``what`` names the input
    in the error (``"config file"``, ``"SSL_CERT_FILE"``). Raises ``UnreadableInput``.
    """
    shown = one_line(str(path), 200)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UnreadableInput(f"{what} {shown} does not exist") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if exc.errno == errno.ELOOP:
            reason = "too many levels of symbolic links"
        raise UnreadableInput(f"cannot read {what} {shown}: {reason}") from None
    except ValueError:  # a NUL in the path
        raise UnreadableInput(f"cannot read {what} {shown}: not a usable path") from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise UnreadableInput(f"cannot read {what} {shown}: is a directory")
        if not stat.S_ISREG(info.st_mode):
            kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a device or socket"
            raise UnreadableInput(f"cannot read {what} {shown}: {kind}, not a regular file")
        too_large = f"cannot read {what} {shown}: larger than {_size(limit)}"
        if info.st_size > limit:
            raise UnreadableInput(too_large)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(CHUNK, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew while read
            raise UnreadableInput(too_large)
        return b"".join(chunks)
    except UnreadableInput:
        raise
    except OSError as exc:
        raise UnreadableInput(f"cannot read {what} {shown}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _size(limit: int) -> str:
    if limit >= 1 << 20:
        return f"{limit / (1 << 20):g} MiB"
    return f"{limit / 1024:g} KiB"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
