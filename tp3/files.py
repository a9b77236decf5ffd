"""Files that are whole: atomic writes, integrity checks, one run at a time.

Atomic writes: a reader sees the old file (or folder) or the new one, never half of one.

Two helpers serve the whole kit: :func:`atomic_file` for one file (split lists, manifests,
notebooks, exported NIfTI) and :func:`atomic_folder` for a folder written file by file
(a prepared patient, a synthetic case, copied originals).

Whole files: :func:`check_nifti_complete` before every read, :func:`verify_written` after
every write of a NIfTI file. One run at a time: :func:`exclusive` holds a folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


@contextlib.contextmanager
def atomic_file(path, suffix: str = ""):
    """Yield a hidden temporary path beside ``path``; when the block ends without error it is
    renamed over ``path``, otherwise removed. ``suffix`` keeps an extension that a writer
    needs to choose its format (SimpleITK: ``".nii.gz"``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (:func:`atomic_file`). Returns ``path``."""
    with atomic_file(path) as tmp:
        tmp.write_text(text)
    return Path(path)


@contextlib.contextmanager
def atomic_folder(final):
    """Yield an empty hidden folder beside ``final``; when the block ends without error it
    replaces ``final`` (an older ``final`` is removed first), otherwise it is removed."""
    final = Path(final)
    tmp = final.with_name(f".{final.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)


# --- Whole files ------------------------------------------------------------------------
class DamagedFileError(ValueError):
    """A file that is not whole (truncated, empty, not NIfTI); the message names it."""


def nifti_bytes_expected(header_bytes: bytes, path="") -> int:
    """Bytes a NIfTI-1/2 file holds once decompressed: voxel offset + voxels x bytes each,
    from the first 540 bytes of the (decompressed) file. nibabel parses the header."""
    import nibabel as nib
    import numpy as np

    for kind in (nib.Nifti1Header, nib.Nifti2Header):
        block = header_bytes[:kind.template_dtype.itemsize]
        if kind.may_contain_header(block):
            header = kind(binaryblock=block, check=False)
            voxels = int(np.prod(header.get_data_shape(), dtype=np.int64))
            return int(header.get_data_offset()) + voxels * header.get_data_dtype().itemsize
    raise DamagedFileError(f"{path}: truncated, or not a NIfTI file (no whole NIfTI header in its first "
                           f"{len(header_bytes)} bytes)")


def check_nifti_complete(path) -> None:
    """Raise :class:`DamagedFileError` naming ``path`` unless it holds every byte its header
    announces. Why: ITK fills a truncated ``.nii.gz`` with zeros when reading, and on a full
    disk it writes one without raising. A gzip stream ends with its uncompressed size
    (mod 2^32); only when that does not match is the stream decompressed to tell a
    truncation from an unusual file (e.g. several gzip members). Costs ~0.1 ms a slice."""
    import gzip
    import zlib

    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:  # one open: this runs for every slice a loader reads
            head = handle.read(1 << 16)
            if path.suffix != ".gz":
                expected = nifti_bytes_expected(head[:540], path)
                if size < expected:
                    raise DamagedFileError(f"{path}: truncated file ({size} bytes, its header "
                                           f"announces {expected})")
                return
            expected = nifti_bytes_expected(zlib.decompressobj(31).decompress(head, 540), path)
            handle.seek(max(size - 4, 0))
            if int.from_bytes(handle.read(4), "little") == expected % 2 ** 32:
                return
        with gzip.open(path) as stream:
            length = sum(len(chunk) for chunk in iter(lambda: stream.read(1 << 22), b""))
    except (EOFError, OSError, zlib.error) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise  # missing, no permission...: the system's message says it (gzip's have no errno)
        raise DamagedFileError(f"{path}: unreadable or truncated file ({error or 'empty'})") from None
    if length < expected:
        raise DamagedFileError(f"{path}: truncated file ({length} bytes once decompressed, its header "
                               f"announces {expected})")


def all_whole(paths) -> bool:
    """Whether every one of ``paths`` exists and is whole (:func:`check_nifti_complete`): the
    test a resumed run applies to what it keeps."""
    try:
        for path in paths:
            check_nifti_complete(path)
    except (DamagedFileError, OSError):
        return False
    return True


def verify_written(path) -> None:
    """After writing ``path``: raise ``OSError`` (``ENOSPC`` when the disk is nearly full)
    naming it if it is not whole, so that its folder is never renamed into place."""
    import errno

    try:
        check_nifti_complete(path)
    except DamagedFileError as error:
        free = shutil.disk_usage(Path(path).parent).free
        if free < 64 * 2 ** 20:
            raise OSError(errno.ENOSPC, f"written incomplete: no space left on its disk "
                                        f"({free / 2 ** 20:.0f} MB free)", str(path)) from None
        raise OSError(errno.EIO, f"written incomplete ({str(error).split(': ', 1)[-1]})",
                      str(path)) from None


# --- One run at a time --------------------------------------------------------------------
class BusyError(RuntimeError):
    """Another run of the kit holds the folder."""


LOCK_NAME = ".tp3.lock"
_held: set = set()  # folders this process has locked (a lock taken twice is taken once)


@contextlib.contextmanager
def exclusive(folder, command: str = "", wait: bool = False):
    """Hold ``folder`` for this run: a second run (another process) raises :class:`BusyError`
    naming the process that holds it (``wait``: says so, then waits for it). The lock is the
    operating system's (``filelock``), so a crashed or killed run leaves nothing to clean: its
    lock is free again. The holder's
    PID is kept in ``<folder>/.tp3.lock.json`` for that message."""
    import json
    import sys
    import time

    from filelock import FileLock, Timeout

    folder = Path(folder).resolve()
    if folder in _held:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    holder = folder / f"{LOCK_NAME}.json"
    lock = FileLock(str(folder / LOCK_NAME))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        try:
            info = json.loads(holder.read_text())
            who = f"process {info['pid']} (`{info['command']}`, since {info['since']})"
        except (OSError, ValueError, KeyError):
            who = "another process"
        if not wait:
            raise BusyError(f"{folder} is in use by {who}; wait for it to finish, or stop it, "
                            "then rerun") from None
        print(f"{folder} is in use by {who}: waiting for it", flush=True)
        lock.acquire()
    try:
        _held.add(folder)
        write_text_atomic(holder, json.dumps({
            "pid": os.getpid(), "command": command or " ".join(sys.argv),
            "since": time.strftime("%Y-%m-%d %H:%M:%S")}) + "\n")
        yield
    finally:
        _held.discard(folder)
        holder.unlink(missing_ok=True)
        lock.release()
