"""Extract one top-level folder of a tar archive, refusing an archive that could write outside it.

The policy is Python's own: `tarfile.data_filter`, the filter `extractall(filter="data")` applies
(no `..` or absolute paths out of the destination, no links pointing out of it, no devices or
FIFOs). Every member is checked before anything is written, so a bad archive is refused whole;
then the folder is extracted with that filter on into a temporary folder and moved into place, so
an interrupted extraction never leaves a half folder at the final path.

pooch's `Untar` processor is not used: pooch 1.9 applies the data filter only on Python 3.12+ and
extracts in place.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import tarfile
import tempfile
import time
import zlib
from gzip import BadGzipFile
from pathlib import Path

from expkit.errors import DataError

log = logging.getLogger(__name__)


def _refusal(member: tarfile.TarInfo, dest: str) -> str | None:
    """Why extracting `member` into `dest` could write outside it (a clause naming the member, in
    the data filter's words), or None when it is safe."""
    if member.name.startswith(("/", "\\")) or os.path.isabs(member.name):
        # The data filter would strip the leading "/" and extract it inside: still a sign of a
        # forged archive, and the old behaviour was to refuse it.
        return f"{member.name!r} has an absolute path"
    try:
        tarfile.data_filter(member, dest)
    except tarfile.FilterError as exc:
        return str(exc)
    return None


def _in_folder(name: str, top: str) -> bool:
    while name.startswith("./"):
        name = name[2:]
    return name == top or name.startswith(top + "/")


def extract_tar_safely(archive: str | os.PathLike[str], dest_dir: str | os.PathLike[str], member_prefix: str) -> Path:
    """Extract the `member_prefix` folder of a tar archive into `dest_dir`; return its path.

    `member_prefix` is one top-level folder name (`"dbpedia_csv/"`); members outside it are
    skipped. The whole archive is refused (`DataError`, nothing written) if any member fails
    tarfile's data filter or has an absolute path. An existing folder at the final path is moved
    aside (to `NAME.incomplete-*`).
    """
    archive = Path(archive)
    dest_dir = Path(dest_dir)
    top = member_prefix.strip("/")
    if not top or "/" in top or top in (".", ".."):
        raise ValueError(f"member_prefix must be one top-level folder name, got {member_prefix!r}")
    if not hasattr(tarfile, "data_filter"):
        raise DataError(
            f"Extracting {archive} safely needs tarfile's data filter (Python 3.10.12, 3.11.4, 3.12 or "
            f"later); this is Python {platform.python_version()}. Upgrade Python, or extract the "
            f"{top}/ folder of the archive into {dest_dir} yourself."
        )
    target = dest_dir / top
    dest_dir.mkdir(parents=True, exist_ok=True)

    def bad_archive(problem: str) -> DataError:
        return DataError(
            f"The archive {archive} cannot be extracted: {problem}. Delete it (or replace it with a "
            "good copy) and run again."
        )

    tmp = Path(tempfile.mkdtemp(prefix=f".{top}.extract-", dir=dest_dir))
    try:
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = tar.getmembers()
                for member in members:
                    reason = _refusal(member, str(tmp))
                    if reason is not None:
                        raise DataError(
                            f"The archive {archive} was refused: {reason} (extracting it could write "
                            f"outside {dest_dir}). Nothing was extracted; use a genuine copy of the archive."
                        )
                selected = [m for m in members if _in_folder(m.name, top)]
                if not selected:
                    raise bad_archive(f"it has no {top}/ folder")
                tar.extractall(tmp, members=selected, filter="data")
        except DataError:
            raise
        except tarfile.TarError as exc:  # includes FilterError and ReadError
            raise bad_archive(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__) from exc
        except (EOFError, zlib.error, BadGzipFile) as exc:
            raise bad_archive(f"it is truncated or not a valid archive ({exc})") from exc

        extracted = tmp / top
        if not extracted.is_dir():
            raise bad_archive(f"{top} in it is not a folder")
        if target.exists() or target.is_symlink():
            aside = dest_dir / f"{top}.incomplete-{time.strftime('%Y%m%d-%H%M%S')}"
            log.warning("Moving the existing %s aside to %s before extracting %s.", target, aside, archive)
            os.replace(target, aside)
        os.replace(extracted, target)
    except OSError as exc:
        raise DataError(f"Could not extract {archive} into {dest_dir}: {exc}.") from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("Extracted %s to %s", archive, target)
    return target
