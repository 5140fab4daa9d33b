"""Download one file with pooch, resuming a broken download and following Google Drive's
confirmation page.

`download_file(url, dest, md5)` is `pooch.retrieve`: pooch checks the MD5 and moves the finished
file into place. Its own HTTP downloader neither resumes nor knows Drive's confirmation page, so
`ResumableDownloader` is plugged in: it keeps the bytes received so far in `dest + ".part"`, so a
retry, or the next run, asks the server only for the rest (`Range: bytes=N-`).
"""

from __future__ import annotations

import logging
import os
import re
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pooch
import requests

from expkit.data.google_drive import confirm_url
from expkit.errors import DataError

log = logging.getLogger(__name__)

_USER_AGENT = "expkit-downloader/1.0 (+python requests)"
_CHUNK = 1 << 20  # 1 MiB
_MAX_HTML = 2 << 20  # read at most 2 MiB of an HTML page looking for a confirm token
_MAX_CONFIRM_HOPS = 3
_MAX_BACKOFF = 30.0


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


class _Retry(Exception):
    """An attempt failed in a way another attempt may fix; str() says how."""


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
    """Download `url` to `dest` (see `ResumableDownloader`) and return `dest`'s path.

    If `dest` exists already and matches `md5` (or `md5` is None), nothing is fetched; if it
    exists but its MD5 differs, `ChecksumError` is raised and the file is left in place. A download
    whose MD5 differs is deleted (`ChecksumError`). Raises `DownloadError` (a `DataError`) when
    the file could not be fetched.
    """
    dest = Path(dest)
    if dest.exists() and md5 is not None:
        actual = pooch.file_hash(str(dest), alg="md5")
        if actual.lower() != md5.lower():
            raise ChecksumError(
                f"The existing file {dest} is corrupt or not the expected file: its MD5 is {actual} but "
                f"{md5} was expected. Delete it (or replace it with a good copy) and run again to "
                "download it afresh.",
                path=dest,
                expected=md5,
                actual=actual,
            )
    part = dest.with_name(dest.name + ".part")
    downloader = ResumableDownloader(part, retries, timeout, backoff=backoff, chunk_size=chunk_size, progress=progress)
    try:
        with _pooch_quiet():
            pooch.retrieve(url, f"md5:{md5}" if md5 else None, fname=dest.name, path=dest.parent, downloader=downloader)
    except ValueError as exc:  # pooch: the download's hash is not the known one (pooch deleted it)
        actual = downloader.md5 or "unknown"
        raise ChecksumError(
            f"The file downloaded from {url} has MD5 {actual} but {md5} was expected, so it is "
            f"corrupt or not the expected file; the partial download {part} was deleted, run "
            "again to download it afresh.",
            path=dest,
            expected=md5 or "",
            actual=actual,
        ) from exc
    log.info("Downloaded %s (%.1f MB)", dest, dest.stat().st_size / 1e6)
    return dest


@contextmanager
def _pooch_quiet() -> Iterator[None]:
    """pooch logs to stderr on its own handler ("Downloading data from ...", and without a known
    hash a SHA256 with advice for pooch users); expkit says what it does itself."""
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


class ResumableDownloader:
    """A pooch downloader (`downloader(url, output_file, pooch)`) that resumes and retries.

    - Bytes go to `part` in chunks; an existing `part` is resumed with a `Range: bytes=N-`
      request (206 -> append, 200 -> start again from zero, 416 with the same size -> complete).
      When complete, `part` is moved to pooch's `output_file` and its MD5 kept in `self.md5`.
    - Connection errors, timeouts, 5xx/408/429 answers and truncated bodies are retried, resuming
      from what is on disk, after `backoff * 2**k` seconds (30 at most). `retries` counts retries
      in a row that brought no new bytes: an attempt that got further than any before resets it.
    - A Google-Drive "can't scan this file for viruses" page is followed (`google_drive`).
    """

    def __init__(
        self,
        part: Path,
        retries: int = 3,
        timeout: float = 30.0,
        *,
        backoff: float = 1.0,
        chunk_size: int = _CHUNK,
        progress: bool | None = None,
    ) -> None:
        self.part, self.retries, self.timeout = Path(part), retries, timeout
        self.backoff, self.chunk_size, self.progress = backoff, chunk_size, progress
        self.attempts = 0
        self.md5: str | None = None

    def _size(self) -> int:
        return self.part.stat().st_size if self.part.exists() else 0

    def __call__(self, url: str, output_file: str, _pooch: Any = None) -> None:
        dest = self.part.with_name(self.part.name.removesuffix(".part"))
        current, hops, failures, best = url, 0, 0, self._size()
        with requests.Session() as session, _Progress(f"Downloading {dest.name}", self.progress) as bar:
            session.headers.update({"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"})
            while True:
                self.attempts += 1
                try:
                    next_url = self._attempt(session, current, url, bar)
                except _Retry as exc:
                    size = self._size()
                    if size > best:
                        best, failures = size, 0
                    failures += 1
                    if failures > self.retries:
                        tries = f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"
                        raise DownloadError(
                            f"Could not download {url} to {dest}: {exc} (gave up after {tries}).",
                            url=url,
                            reason=f"{exc}, after {tries}",
                        ) from exc.__cause__
                    delay = min(self.backoff * 2 ** (failures - 1), _MAX_BACKOFF)
                    log.warning(
                        "Download of %s failed (%s); retry %d/%d in %.1f s, resuming from byte %d.",
                        url, exc, failures, self.retries, delay, size,
                    )
                    time.sleep(delay)
                    continue
                if next_url is None:
                    break
                hops += 1
                if hops > _MAX_CONFIRM_HOPS:
                    raise DownloadError(
                        f"Could not download {url}: the server kept answering with a confirmation "
                        "page instead of the file.",
                        url=url,
                        reason="the server kept answering with a confirmation page",
                    )
                log.info("Following the download confirmation page of %s", url)
                current = next_url
        self.md5 = pooch.file_hash(str(self.part), alg="md5")
        os.replace(self.part, output_file)

    def _attempt(self, session: requests.Session, url: str, original_url: str, bar: _Progress) -> str | None:
        """One request. Returns None when `part` is complete, or a URL to follow (confirm page).

        Raises `_Retry` for failures worth retrying, `DownloadError` otherwise.
        """
        offset = self._size()
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            response = session.get(url, headers=headers, stream=True, timeout=self.timeout)
        except requests.RequestException as exc:
            raise _Retry(_describe(exc)) from exc
        with response:
            status = response.status_code
            if status == 416 and offset:
                # Range not satisfiable: `part` is complete already, or bigger than the file.
                match = re.match(r"\s*bytes\s+\*/(\d+)", response.headers.get("Content-Range", ""))
                if match and int(match.group(1)) == offset:
                    return None
                self.part.unlink(missing_ok=True)
                raise _Retry("the partial download did not match the server's file")
            if status >= 500 or status in (408, 429):
                raise _Retry(f"HTTP {status} {response.reason}")
            if status >= 400:
                raise DownloadError(
                    f"Could not download {original_url}: the server answered HTTP {status} {response.reason}.",
                    url=original_url,
                    reason=f"the server answered HTTP {status} {response.reason}",
                )
            if response.headers.get("Content-Type", "").split(";")[0].strip().lower() in (
                "text/html", "application/xhtml+xml",
            ):
                return self._confirmation(response, session, url, original_url)
            return self._receive(response, offset, bar)

    def _confirmation(self, response: requests.Response, session: requests.Session, url: str, original_url: str) -> str:
        """The URL a confirmation page points to; `DownloadError` for any other web page."""
        # requests assumes ISO-8859-1 for text/html without a charset; Drive's pages are UTF-8.
        encoding = response.encoding if "charset=" in response.headers.get("Content-Type", "") else "utf-8"
        try:
            page = response.raw.read(_MAX_HTML, decode_content=True).decode(encoding or "utf-8", "replace")
        except (requests.RequestException, OSError) as exc:
            raise _Retry(_describe(exc)) from exc
        next_url = confirm_url(page, response.url, url, session.cookies)
        if next_url is None:
            snippet = " ".join(re.sub(r"<[^>]+>", " ", page).split())[:200]
            raise DownloadError(
                f"Could not download {original_url}: the server sent a web page instead of "
                f"the file ({snippet!r}); for Google Drive this usually means the daily "
                "download quota is exceeded or the file is not public.",
                url=original_url,
                reason="the server sent a web page instead of the file" + (f": {snippet!r}" if snippet else ""),
            )
        return next_url

    def _receive(self, response: requests.Response, offset: int, bar: _Progress) -> None:
        """Append (206) or write (200) the body to `part`; `_Retry` when it stops short."""
        length = response.headers.get("Content-Length", "")
        length = int(length) if length.isdigit() else None
        if response.status_code == 206:
            match = re.match(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*$", response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != offset:
                self.part.unlink(missing_ok=True)
                raise _Retry("the server resumed at the wrong offset")
            total = int(match.group(2)) if match.group(2) != "*" else (offset + length if length is not None else None)
            done, mode = offset, "ab"
        else:  # 200: the server sends the whole file
            if offset:
                log.info("The server does not resume downloads; starting again from zero.")
            done, total, mode = 0, length, "wb"
        bar.update(done, total)
        # urllib3 drops the bytes of a read that hits a connection closed early (IncompleteRead);
        # without its length check they arrive, and the check below notices the short body.
        response.raw.enforce_content_length = False
        error: BaseException | None = None
        with open(self.part, mode) as f:
            try:
                for chunk in response.iter_content(self.chunk_size):
                    f.write(chunk)
                    done += len(chunk)
                    bar.update(done, total)
            except (requests.RequestException, OSError) as exc:
                error = exc  # what arrived stays in `part` for the next attempt
            f.flush()
            os.fsync(f.fileno())
        if total is not None and done < total:
            raise _Retry(f"connection closed after {done} of {total} bytes") from error
        if error is not None:
            raise _Retry(_describe(error)) from error
        return None


def _describe(exc: BaseException) -> str:
    """A short reason for a network exception, e.g. 'Connection refused' or 'timed out'.

    requests wraps the operating system's error in urllib3's (MaxRetryError -> NewConnectionError
    -> ConnectionRefusedError); its words are found down that chain.
    """
    if isinstance(exc, (requests.Timeout, TimeoutError)):
        return "timed out"
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, OSError) and seen.strerror:
            return seen.strerror
        inner = getattr(seen, "reason", None) or (seen.args[0] if seen.args else None)
        seen = inner if isinstance(inner, BaseException) else (seen.__cause__ or seen.__context__)
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class _Progress:
    """A rich progress bar on a terminal, INFO log lines (every 10 % or 30 s) otherwise."""

    def __init__(self, description: str, enabled: bool | None) -> None:
        self.description = description
        self.total: int | None = None
        self._bar: Any = None
        self._last_log = 0.0
        self._last_fraction = -1.0
        self._log_enabled = enabled is not False
        if (sys.stdout.isatty() if enabled is None else enabled) and sys.stdout.isatty():
            from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                                 TransferSpeedColumn(), TimeRemainingColumn())

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
        now = time.monotonic()
        if not self._log_enabled:
            return
        if self.total:
            fraction = done / self.total
            finished = done >= self.total and self._last_fraction < 1.0
            if finished or fraction - self._last_fraction >= 0.1 or now - self._last_log >= 30:
                log.info("%s: %.1f / %.1f MB (%d%%)", self.description, done / 1e6, self.total / 1e6, int(100 * fraction))
                self._last_fraction, self._last_log = fraction, now
        elif now - self._last_log >= 30:
            log.info("%s: %.1f MB", self.description, done / 1e6)
            self._last_log = now
