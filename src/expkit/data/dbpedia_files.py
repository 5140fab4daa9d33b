"""Make the full DBpedia-14 dataset available on disk: find it, or download, verify and extract it.

The archive is the one torchtext used: `dbpedia_csv.tar.gz` holding `dbpedia_csv/train.csv`,
`dbpedia_csv/test.csv`, `dbpedia_csv/classes.txt` and `dbpedia_csv/readme.txt`.

`ensure_dbpedia(data_dir)` returns `data_dir/dbpedia_csv`, doing only what is missing:

1. the extracted folder is there -> nothing to do, no network;
2. `data_dir/dbpedia_csv.tar.gz` is there -> check its MD5, extract it safely;
3. otherwise download it (resumable, retried, Google-Drive aware), check it, extract it.

`download_file` and `extract_tar_safely` are generic and can be reused for other archives.
Only the standard library is needed; `rich` draws a progress bar when stdout is a terminal.
"""

from __future__ import annotations

import hashlib
import html
import http.client
import http.cookiejar
import logging
import os
import posixpath
import re
import shutil
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from gzip import BadGzipFile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from expkit.errors import DataError
from expkit.run.files import exclusive_lock

log = logging.getLogger(__name__)

DBPEDIA_URL = "https://drive.google.com/uc?export=download&id=0Bz8a_Dbh9QhbQ2Vic1kxMmZZQ1k"
DBPEDIA_MD5 = "dca7b1ae12b1091090db52aa7ec5ca64"
DBPEDIA_ARCHIVE = "dbpedia_csv.tar.gz"
DBPEDIA_FOLDER = "dbpedia_csv"
# Held while downloading/extracting, so concurrent runs sharing a data_dir fetch the data once.
DBPEDIA_LOCK = "dbpedia_csv.lock"
DBPEDIA_REQUIRED = ("train.csv", "test.csv")

_USER_AGENT = "expkit-downloader/1.0 (+python urllib)"
_CHUNK = 1 << 20  # 1 MiB
_MAX_HTML = 2 << 20  # read at most 2 MiB of an HTML page looking for a confirm token
_MAX_CONFIRM_HOPS = 3
_MAX_BACKOFF = 30.0


# --------------------------------------------------------------------------------------------
# errors


class DownloadError(DataError):
    """The bytes could not be fetched (network down, HTTP error, HTML page instead of a file).

    `url` is the address asked for and `reason` a short human description of what went wrong.
    """

    def __init__(self, message: str, *, url: str, reason: str) -> None:
        super().__init__(message)
        self.url = url
        self.reason = reason


class ChecksumError(DataError):
    """A file's MD5 is not the expected one."""

    def __init__(self, message: str, *, path: Path, expected: str, actual: str) -> None:
        super().__init__(message)
        self.path = path
        self.expected = expected
        self.actual = actual


class _RetryableError(Exception):
    """Internal: an attempt failed in a way another attempt may fix (reason in args[0])."""


# --------------------------------------------------------------------------------------------
# checksums


def file_md5(path: str | os.PathLike[str], chunk_size: int = _CHUNK) -> str:
    """Hex MD5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# progress


class _Progress:
    """A rich progress bar on a terminal, INFO log lines (every 10 % or 30 s) otherwise."""

    def __init__(self, description: str, enabled: bool | None) -> None:
        self.description = description
        self.total: int | None = None
        self._bar: Any = None
        self._task: Any = None
        self._last_log = 0.0
        self._last_fraction = -1.0
        use_bar = sys.stdout.isatty() if enabled is None else enabled
        if use_bar and sys.stdout.isatty():
            try:
                from rich.progress import (
                    BarColumn,
                    DownloadColumn,
                    Progress,
                    TextColumn,
                    TimeRemainingColumn,
                    TransferSpeedColumn,
                )
            except ImportError:  # rich is optional
                pass
            else:
                self._bar = Progress(
                    TextColumn("{task.description}"),
                    BarColumn(),
                    DownloadColumn(),
                    TransferSpeedColumn(),
                    TimeRemainingColumn(),
                    transient=False,
                )
        self._log_enabled = enabled is not False

    def __enter__(self) -> _Progress:
        if self._bar is not None:
            self._bar.start()
            self._task = self._bar.add_task(self.description, total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def update(self, done: int, total: int | None) -> None:
        if total is not None:
            self.total = total
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=self.total)
            return
        if not self._log_enabled:
            return
        now = time.monotonic()
        if self.total:
            fraction = done / self.total
            finished = done >= self.total and self._last_fraction < 1.0
            if finished or fraction - self._last_fraction >= 0.1 or now - self._last_log >= 30:
                log.info(
                    "%s: %.1f / %.1f MB (%d%%)",
                    self.description,
                    done / 1e6,
                    self.total / 1e6,
                    int(100 * fraction),
                )
                self._last_fraction, self._last_log = fraction, now
        elif now - self._last_log >= 30:
            log.info("%s: %.1f MB", self.description, done / 1e6)
            self._last_log = now


# --------------------------------------------------------------------------------------------
# Google Drive confirmation pages


class _ConfirmPageParser(HTMLParser):
    """Collects forms (action, method, hidden inputs) and links that carry a `confirm=` token."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self.links: list[str] = []
        self._form: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v or "") for k, v in attrs}
        if tag == "form":
            self._form = {"id": a.get("id", ""), "action": a.get("action", ""), "inputs": {}}
            self.forms.append(self._form)
        elif tag == "input" and self._form is not None and a.get("name"):
            if a.get("type", "text").lower() in ("hidden", "text"):
                self._form["inputs"][a["name"]] = a.get("value", "")
        elif tag == "a" and "confirm=" in a.get("href", ""):
            self.links.append(a["href"])

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None


def _confirm_url(page: str, page_url: str, original_url: str, jar: http.cookiejar.CookieJar) -> str | None:
    """The URL that confirms a Google-Drive "can't scan this file for viruses" page, or None.

    Handles, newest style first: a form (action + hidden inputs id/export/confirm/uuid), a link
    whose href carries `confirm=TOKEN`, a `download_warning*` cookie, a bare `confirm=TOKEN`.
    """
    parser = _ConfirmPageParser()
    try:
        parser.feed(page)
        parser.close()
    except Exception:  # malformed HTML: fall back to the regex below
        pass
    for form in parser.forms:
        inputs = form["inputs"]
        if "confirm" in inputs or (form["id"] == "download-form" and inputs):
            action = urllib.parse.urljoin(page_url, form["action"] or page_url)
            base, _, existing = action.partition("?")
            params = dict(urllib.parse.parse_qsl(existing, keep_blank_values=True))
            params.update(inputs)
            return base + "?" + urllib.parse.urlencode(params)
    for href in parser.links:
        return urllib.parse.urljoin(page_url, html.unescape(href))
    token = None
    for cookie in jar:
        if cookie.name.startswith("download_warning"):
            token = cookie.value
            break
    if token is None:
        match = re.search(r"confirm=([0-9A-Za-z_\-]+)", page)
        if match:
            token = match.group(1)
    if token is None:
        return None
    return _set_query_param(original_url, "confirm", token)


def _set_query_param(url: str, key: str, value: str) -> str:
    parts = urllib.parse.urlsplit(url)
    params = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k != key]
    params.append((key, value))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(params)))


# --------------------------------------------------------------------------------------------
# download


def _describe(exc: BaseException) -> str:
    """A short reason for a network exception, e.g. 'Connection refused' or 'timed out'."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, OSError) and reason.strerror:
            return reason.strerror
        return str(reason)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, _RetryableError):
        return str(exc.args[0])
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _parse_content_range(value: str | None) -> tuple[int, int | None] | None:
    """`bytes START-END/TOTAL` -> (START, TOTAL or None); None when absent or unreadable."""
    if not value:
        return None
    match = re.match(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", value)
    if not match:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), total


def _is_html(response: http.client.HTTPResponse) -> bool:
    return (response.headers.get_content_type() or "").lower() in ("text/html", "application/xhtml+xml")


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    md5: str | None = None,
    retries: int = 3,
    timeout: float = 30.0,
    *,
    backoff: float = 1.0,
    chunk_size: int = _CHUNK,
    progress: bool | None = None,
) -> Path:
    """Download `url` to `dest` and return `dest`'s path.

    - If `dest` exists already and matches `md5` (or `md5` is None), nothing is fetched; if it
      exists but its MD5 differs, `ChecksumError` is raised and the file is left in place.
    - Bytes go to `dest + ".part"` in chunks; an existing `.part` is resumed with a
      `Range: bytes=N-` request (206 -> append, 200 -> start again from zero).
    - Connection errors, timeouts, 5xx answers and truncated bodies are retried, resuming from
      what is on disk, after `backoff * 2**k` seconds. `retries` counts retries in a row that
      brought no new bytes: an attempt that got further than any before resets the count.
    - A Google-Drive "confirm download" HTML page is followed (form or `confirm=` token).
    - When complete the `.part` is checked against `md5` (deleted on mismatch -> ChecksumError)
      and renamed atomically to `dest`.

    Raises `DownloadError` (a `DataError`) when the file could not be fetched.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    if dest.exists():
        if md5 is not None:
            _check_md5(dest, md5, what="existing file")
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar := http.cookiejar.CookieJar()))
    current_url = url
    confirm_hops = 0
    failures = 0
    best = part.stat().st_size if part.exists() else 0
    attempts = 0

    with _Progress(f"Downloading {dest.name}", progress) as bar:
        log.info("Downloading %s to %s", url, dest)
        while True:
            attempts += 1
            try:
                outcome = _attempt(opener, jar, current_url, url, part, timeout, chunk_size, bar)
            except _RetryableError as exc:
                size = part.stat().st_size if part.exists() else 0
                if size > best:
                    best, failures = size, 0
                failures += 1
                reason = _describe(exc.args[1] if len(exc.args) > 1 else exc)
                if failures > retries:
                    tries = f"{attempts} attempt{'s' if attempts != 1 else ''}"
                    raise DownloadError(
                        f"Could not download {url} to {dest}: {reason} (gave up after {tries}).",
                        url=url,
                        reason=f"{reason}, after {tries}",
                    ) from (exc.args[1] if len(exc.args) > 1 else None)
                delay = min(backoff * 2 ** (failures - 1), _MAX_BACKOFF)
                log.warning(
                    "Download of %s failed (%s); retry %d/%d in %.1f s, resuming from byte %d.",
                    url, reason, failures, retries, delay, size,
                )
                time.sleep(delay)
                continue
            if isinstance(outcome, str):  # a confirmation page: follow it
                confirm_hops += 1
                if confirm_hops > _MAX_CONFIRM_HOPS:
                    raise DownloadError(
                        f"Could not download {url}: the server kept answering with a confirmation "
                        "page instead of the file.",
                        url=url,
                        reason="the server kept answering with a confirmation page",
                    )
                log.info("Following the download confirmation page of %s", url)
                current_url = outcome
                continue
            break

    if md5 is not None:
        actual = file_md5(part)
        if actual.lower() != md5.lower():
            part.unlink(missing_ok=True)
            raise ChecksumError(
                f"The file downloaded from {url} has MD5 {actual} but {md5} was expected, so it is "
                f"corrupt or not the expected file; the partial download {part} was deleted, run "
                "again to download it afresh.",
                path=dest,
                expected=md5,
                actual=actual,
            )
    os.replace(part, dest)
    log.info("Downloaded %s (%.1f MB)", dest, dest.stat().st_size / 1e6)
    return dest


def _attempt(
    opener: urllib.request.OpenerDirector,
    jar: http.cookiejar.CookieJar,
    current_url: str,
    original_url: str,
    part: Path,
    timeout: float,
    chunk_size: int,
    bar: _Progress,
) -> str | None:
    """One request. Returns None when `part` is complete, or a URL to follow (confirm page).

    Raises `_RetryableError(reason, cause)` for failures worth retrying, `DownloadError` otherwise.
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(current_url, headers=headers)
    try:
        response = opener.open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        with exc:
            if exc.code == 416 and offset:
                # Range not satisfiable: the .part is complete already, or bigger than the file.
                cr = exc.headers.get("Content-Range", "") if exc.headers else ""
                match = re.match(r"\s*bytes\s+\*/(\d+)", cr)
                if match and int(match.group(1)) == offset:
                    return None
                part.unlink(missing_ok=True)
                raise _RetryableError("the partial download did not match the server's file", exc)
            if exc.code >= 500 or exc.code in (408, 429):
                raise _RetryableError(_describe(exc), exc)
            raise DownloadError(
                f"Could not download {original_url}: the server answered {_describe(exc)}.",
                url=original_url,
                reason=f"the server answered {_describe(exc)}",
            ) from exc
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        raise _RetryableError(_describe(exc), exc) from exc

    with response:
        try:
            if _is_html(response):
                page = response.read(_MAX_HTML).decode(
                    response.headers.get_content_charset() or "utf-8", errors="replace"
                )
                next_url = _confirm_url(page, response.geturl(), current_url, jar)
                if next_url is None:
                    snippet = " ".join(re.sub(r"<[^>]+>", " ", page).split())[:200]
                    raise DownloadError(
                        f"Could not download {original_url}: the server sent a web page instead of "
                        f"the file ({snippet!r}); for Google Drive this usually means the daily "
                        "download quota is exceeded or the file is not public.",
                        url=original_url,
                        reason="the server sent a web page instead of the file"
                        + (f": {snippet!r}" if snippet else ""),
                    )
                return next_url

            status = response.status
            length = response.headers.get("Content-Length")
            length = int(length) if length and length.isdigit() else None
            if status == 206:
                content_range = _parse_content_range(response.headers.get("Content-Range"))
                if content_range is None or content_range[0] != offset:
                    part.unlink(missing_ok=True)
                    raise _RetryableError("the server resumed at the wrong offset")
                start = offset
                total = content_range[1] if content_range[1] is not None else (
                    offset + length if length is not None else None
                )
                mode = "ab"
            else:  # 200: the server sends the whole file
                if offset:
                    log.info("The server does not resume downloads; starting again from zero.")
                start = 0
                total = length
                mode = "wb"

            done = start
            bar.update(done, total)
            with open(part, mode) as f:
                while chunk := response.read(chunk_size):
                    f.write(chunk)
                    done += len(chunk)
                    bar.update(done, total)
                f.flush()
                os.fsync(f.fileno())
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            raise _RetryableError(_describe(exc), exc) from exc
    if total is not None and done < total:
        raise _RetryableError(f"connection closed after {done} of {total} bytes")
    return None


def _check_md5(path: Path, expected: str, what: str) -> None:
    actual = file_md5(path)
    if actual.lower() != expected.lower():
        raise ChecksumError(
            f"The {what} {path} is corrupt or not the expected file: its MD5 is {actual} but "
            f"{expected} was expected. Delete it (or replace it with a good copy) and run again to "
            "download it afresh.",
            path=path,
            expected=expected,
            actual=actual,
        )


# --------------------------------------------------------------------------------------------
# extraction


def _unsafe_reason(member: tarfile.TarInfo, top: str) -> str | None:
    """Why extracting `member` could write outside the destination, or None when it is safe."""
    name = member.name
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or os.path.isabs(name):
        return "has an absolute path"
    if ".." in re.split(r"[\\/]+", name):
        return "has a '..' component"
    if member.isdev():
        return "is a device or FIFO"
    if member.issym() or member.islnk():
        target = member.linkname
        if target.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", target) or os.path.isabs(target):
            return f"links to the absolute path {target!r}"
        if member.issym():
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
        else:
            resolved = posixpath.normpath(target)
        if resolved.startswith("../") or resolved == ".." or not (
            resolved == top or resolved.startswith(top + "/")
        ):
            return f"links outside {top}/ (to {target!r})"
    elif not (member.isfile() or member.isdir()):
        return "is not a regular file or folder"
    return None


def extract_tar_safely(
    archive: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    member_prefix: str = DBPEDIA_FOLDER + "/",
) -> Path:
    """Extract the `member_prefix` folder of a tar archive into `dest_dir`; return its path.

    `member_prefix` is one top-level folder name (`"dbpedia_csv/"`); members outside it are
    skipped. The whole archive is refused (`DataError`, nothing written) if any member has an
    absolute path or a `..` component, is a device/FIFO, or is a link pointing outside the
    folder. Members are extracted into a temporary folder inside `dest_dir` that is then moved
    into place with `os.replace`, so an interrupted extraction never leaves a half folder at the
    final path. An existing folder at the final path is moved aside (to `NAME.incomplete-*`).
    """
    archive = Path(archive)
    dest_dir = Path(dest_dir)
    top = member_prefix.strip("/")
    if not top or "/" in top or top in (".", ".."):
        raise ValueError(f"member_prefix must be one top-level folder name, got {member_prefix!r}")
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
                selected = []
                for member in members:
                    reason = _unsafe_reason(member, top)
                    if reason is not None:
                        raise DataError(
                            f"The archive {archive} was refused because its member {member.name!r} "
                            f"{reason}, which could write outside {dest_dir}. Nothing was "
                            "extracted; use a genuine copy of the archive."
                        )
                    name = member.name
                    while name.startswith("./"):
                        name = name[2:]
                    if name == top or name.startswith(top + "/"):
                        selected.append(member)
                if not selected:
                    raise bad_archive(f"it has no {top}/ folder")
                if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.12: defence in depth
                    tar.extractall(tmp, members=selected, filter="data")
                else:
                    tar.extractall(tmp, members=selected)
        except DataError:
            raise
        except tarfile.TarError as exc:  # includes FilterError (3.12+) and ReadError
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


# --------------------------------------------------------------------------------------------
# DBpedia


def _manual_fix(data_dir: Path) -> str:
    return (
        f"To fix it, put {DBPEDIA_ARCHIVE} (or the extracted {DBPEDIA_FOLDER}/ folder with "
        f"train.csv and test.csv) in {data_dir} (so that {data_dir / DBPEDIA_ARCHIVE} exists), or "
        "set paths.data_dir=... to a folder that holds them, or use data=dbpedia_sample to train "
        "on the embedded 5,000-row sample."
    )


def _has_dataset(folder: Path) -> bool:
    return all((folder / name).is_file() for name in DBPEDIA_REQUIRED)


def ensure_dbpedia(
    data_dir: str | os.PathLike[str],
    url: str = DBPEDIA_URL,
    md5: str | None = DBPEDIA_MD5,
    retries: int = 3,
    timeout: float = 30.0,
    *,
    backoff: float = 1.0,
    progress: bool | None = None,
) -> Path:
    """Return the folder holding DBpedia-14's train.csv, test.csv and classes.txt.

    Uses `data_dir/dbpedia_csv/` if it has train.csv and test.csv (no network); otherwise
    extracts `data_dir/dbpedia_csv.tar.gz` after checking its MD5 (a mismatching archive the
    user put there is reported, never deleted); otherwise downloads the archive from `url`
    (see `download_file`) first. Processes sharing `data_dir` take turns through the lock file
    `data_dir/dbpedia_csv.lock`, so one downloads and the others find its folder. Raises
    `DataError` with what to do when that fails.
    """
    data_dir = Path(os.path.abspath(os.path.expanduser(os.fspath(data_dir))))
    folder = data_dir / DBPEDIA_FOLDER
    if _has_dataset(folder):
        return folder
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(
            f"Could not create the data folder {data_dir} ({exc.strerror or exc}) to download "
            f"DBpedia into. Set paths.data_dir=... to a writable folder, or use "
            "data=dbpedia_sample to train on the embedded 5,000-row sample."
        ) from exc
    waiting = f"Waiting for another expkit process that is fetching DBpedia into {data_dir} ..."
    with exclusive_lock(data_dir / DBPEDIA_LOCK, waiting):
        return _fetch_dbpedia(data_dir, url, md5, retries, timeout, backoff, progress)


def _fetch_dbpedia(
    data_dir: Path, url: str, md5: str | None, retries: int, timeout: float, backoff: float, progress: bool | None
) -> Path:
    folder = data_dir / DBPEDIA_FOLDER
    archive = data_dir / DBPEDIA_ARCHIVE
    if _has_dataset(folder):  # another process finished while this one waited for the lock
        return folder

    if archive.exists():
        log.info("Using the local archive %s", archive)
        if md5 is not None:
            actual = file_md5(archive)
            if actual.lower() != md5.lower():
                raise DataError(
                    f"The DBpedia archive {archive} is corrupt or not the right file: its MD5 is "
                    f"{actual} but {md5} was expected. Delete it (it was left in place) or replace "
                    f"it with a good copy, then run again to re-download it from {url}; or set "
                    "paths.data_dir=... to a folder that holds a good copy, or use "
                    "data=dbpedia_sample to train on the embedded 5,000-row sample."
                )
    else:
        try:
            download_file(url, archive, md5, retries=retries, timeout=timeout, backoff=backoff, progress=progress)
        except DownloadError as exc:
            raise DataError(
                f"The DBpedia archive could not be downloaded from {url} ({exc.reason}). "
                + _manual_fix(data_dir)
            ) from exc
        except ChecksumError as exc:
            raise DataError(
                f"The DBpedia archive downloaded from {url} is corrupt: its MD5 is {exc.actual} but "
                f"{exc.expected} was expected (the partial download was deleted; run again to "
                "re-download it). " + _manual_fix(data_dir)
            ) from exc

    extract_tar_safely(archive, data_dir, DBPEDIA_FOLDER + "/")
    if not _has_dataset(folder):
        missing = ", ".join(n for n in DBPEDIA_REQUIRED if not (folder / n).is_file())
        raise DataError(
            f"The archive {archive} was extracted to {folder} but it lacks {missing}: it is not the "
            "DBpedia-14 archive. Replace it with dbpedia_csv.tar.gz (train.csv, test.csv, "
            "classes.txt inside dbpedia_csv/) and delete the folder, or use data=dbpedia_sample."
        )
    return folder
