"""expkit.data.dbpedia_files (and the download/safe_tar modules under it) against a real HTTP server on
127.0.0.1 (no mocks of requests or pooch)."""

from __future__ import annotations

import hashlib
import io
import logging
import socket
import tarfile
import subprocess
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from expkit.data.dbpedia_files import ensure_dbpedia
from expkit.data.download import ChecksumError, DownloadError, download_file
from expkit.data.safe_tar import extract_tar_safely
from expkit.errors import DataError

FAST = dict(retries=3, timeout=2.0, backoff=0.001, progress=False)

TRAIN = (
    '1,"E. D. Abbott Ltd"," Abbott of Farnham E D Abbott Limited was a British coachbuilding business."\n'
    '2,"Schwan-Stabilo"," Schwan-STABILO is a German maker of pens for writing colouring and cosmetics."\n'
    '3,"Q-workshop"," Q-workshop is a Polish company located in Poznań that specializes in dice."\n'
) * 40  # big enough that "half the bytes" is a meaningful cut
TEST = '14,"Tunnel Tales"," Tunnel Tales is a 2007 book by Jon Leo about subway myths."\n'
CLASSES = "\n".join(
    "Company EducationalInstitution Artist Athlete OfficeHolder MeanOfTransportation Building "
    "NaturalPlace Village Animal Plant Album Film WrittenWork".split()
) + "\n"


# ------------------------------------------------------------------------------------ helpers


def make_tar(path: Path, files: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> Path:
    """A .tar.gz holding `files` (name -> bytes) plus raw `extra` members (links, devices...)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return path


def dbpedia_members() -> dict[str, bytes]:
    return {
        "dbpedia_csv/train.csv": TRAIN.encode(),
        "dbpedia_csv/test.csv": TEST.encode(),
        "dbpedia_csv/classes.txt": CLASSES.encode(),
        "dbpedia_csv/readme.txt": b"DBPedia Ontology Classification Dataset (test copy)\n",
    }


@pytest.fixture
def archive(tmp_path: Path) -> tuple[bytes, str]:
    """(bytes, md5) of a small dbpedia_csv.tar.gz in the real layout."""
    (tmp_path / "src").mkdir()
    path = make_tar(tmp_path / "src" / "dbpedia_csv.tar.gz", dbpedia_members())
    data = path.read_bytes()
    return data, hashlib.md5(data).hexdigest()


class State:
    """What the test server serves and what it saw."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []  # (path?query, headers)
        self.truncate_first: set[str] = set()  # first GET of these paths sends half then closes
        self.ignore_range = False
        self.fail_first: int = 0  # answer 503 to this many requests first
        self.confirm: str | None = None  # None | "link" | "form" | "cookie" | "no-token"
        self.seconds_per_body = 0.0  # send each body in 10 pieces over this long
        self.base = ""
        self.lock = threading.Lock()

    def ranges(self) -> list[str]:
        return [h["Range"] for _, h in self.requests if "Range" in h]


TOKEN = "Xy_9-tok"
UUID = "4bd6a1c2-uuid"
FILE_ID = "0Bz8a_test"


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def send_bytes(self, code: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            with state.lock:
                state.requests.append((self.path, dict(self.headers.items())))
                fail = state.fail_first > 0
                if fail:
                    state.fail_first -= 1
            if fail:
                self.send_bytes(503, b"busy", "text/plain")
                return
            split = urllib.parse.urlsplit(self.path)
            query = dict(urllib.parse.parse_qsl(split.query))
            path = split.path

            if state.confirm is not None and path == "/uc":
                if state.confirm in ("link", "cookie") and query.get("confirm") == TOKEN:
                    return self.serve_file("/dbpedia_csv.tar.gz")
                self.send_confirm_page()
                return
            if state.confirm == "form" and path == "/download":
                ok = (query.get("confirm"), query.get("uuid"), query.get("id")) == ("t", UUID, FILE_ID)
                if ok:
                    return self.serve_file("/dbpedia_csv.tar.gz")
                self.send_bytes(403, b"bad confirm", "text/plain")
                return
            self.serve_file(path)

        def send_confirm_page(self) -> None:
            extra = {}
            if state.confirm == "link":
                body = (
                    "<html><body><p>Google Drive can't scan this file for viruses.</p>"
                    f'<a id="uc-download-link" href="/uc?export=download&amp;confirm={TOKEN}'
                    f'&amp;id={FILE_ID}">Download anyway</a></body></html>'
                )
            elif state.confirm == "form":
                body = (
                    "<!DOCTYPE html><html><body><p>Google Drive can't scan this file for viruses.</p>"
                    f'<form id="download-form" action="{state.base}/download" method="get">'
                    '<input type="submit" id="uc-download-link" value="Download anyway"/>'
                    f'<input type="hidden" name="id" value="{FILE_ID}">'
                    '<input type="hidden" name="export" value="download">'
                    '<input type="hidden" name="confirm" value="t">'
                    f'<input type="hidden" name="uuid" value="{UUID}">'
                    "</form></body></html>"
                )
            elif state.confirm == "cookie":
                body = "<html><body>Virus scan warning. Please confirm.</body></html>"
                extra["Set-Cookie"] = f"download_warning_13058876669334088843_{FILE_ID}={TOKEN}; Path=/"
            else:  # "no-token": e.g. Drive's quota-exceeded page
                body = "<html><body><p>Too many users have viewed or downloaded this file recently.</p></body></html>"
            self.send_bytes(200, body.encode(), "text/html; charset=utf-8", extra)

        def serve_file(self, path: str) -> None:
            data = state.files.get(path)
            if data is None:
                self.send_bytes(404, b"not found", "text/plain")
                return
            ctype = "application/gzip"
            with state.lock:
                truncate = path in state.truncate_first
                state.truncate_first.discard(path)
            if truncate:  # promise everything, send half, hang up
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            rng = self.headers.get("Range")
            if rng and not state.ignore_range:
                start = int(rng.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_bytes(416, b"", "text/plain", {"Content-Range": f"bytes */{len(data)}"})
                    return
                self.send_bytes(
                    206, data[start:], ctype, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}
                )
                return
            if state.seconds_per_body:
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                step = -(-len(data) // 10)
                for start in range(0, len(data), step):
                    self.wfile.write(data[start : start + step])
                    self.wfile.flush()
                    time.sleep(state.seconds_per_body / 10)
                return
            self.send_bytes(200, data, ctype)

    return Handler


@pytest.fixture
def server():
    state = State()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(state))
    httpd.daemon_threads = True
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


@pytest.fixture
def dead_url() -> str:
    """A URL on a 127.0.0.1 port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/dbpedia_csv.tar.gz"


def assert_extracted(folder: Path, data_dir: Path) -> None:
    assert folder == data_dir.absolute() / "dbpedia_csv"
    assert (folder / "train.csv").read_text() == TRAIN
    assert (folder / "test.csv").read_text() == TEST
    assert (folder / "classes.txt").read_text() == CLASSES
    leftovers = [p.name for p in data_dir.iterdir() if p.name.startswith(".") or p.name.endswith(".part")]
    assert leftovers == []


# ------------------------------------------------------------------------------------ download


def test_download_verify_and_extract(tmp_path, server, archive, caplog):
    data, md5 = archive
    server.files["/dbpedia_csv.tar.gz"] = data
    data_dir = tmp_path / "data"
    with caplog.at_level(logging.INFO, logger="expkit.data.dbpedia_files"):
        folder = ensure_dbpedia(data_dir, url=server.base + "/dbpedia_csv.tar.gz", md5=md5, **FAST)
    assert_extracted(folder, data_dir)
    assert (data_dir / "dbpedia_csv.tar.gz").read_bytes() == data
    assert len(server.requests) == 1 and server.ranges() == []
    assert "Downloading" in caplog.text  # stdout is not a TTY under pytest: plain log lines


@pytest.mark.slow
def test_concurrent_processes_download_once(tmp_path, server, archive):
    # Two runs sharing a data_dir (e.g. two jobs of a sweep) start together: the second waits
    # for the first's lock instead of writing the same .part file, then finds the folder.
    data, md5 = archive
    server.files["/dbpedia_csv.tar.gz"] = data
    server.seconds_per_body = 2.0
    data_dir = tmp_path / "data"
    code = (
        "import logging, sys; logging.basicConfig(level=logging.INFO, stream=sys.stdout);"
        "from expkit.data.dbpedia_files import ensure_dbpedia;"
        f"print('FOLDER', ensure_dbpedia({str(data_dir)!r}, url={server.base + '/dbpedia_csv.tar.gz'!r}, "
        f"md5={md5!r}, retries=1, timeout=10, backoff=0.001, progress=False))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    assert all(f"FOLDER {data_dir / 'dbpedia_csv'}" in out for out in outputs), outputs
    assert sum("Waiting for another expkit process" in out for out in outputs) == 1, outputs
    assert len(server.requests) == 1, server.requests
    assert_extracted(data_dir / "dbpedia_csv", data_dir)


def test_second_call_needs_no_network(tmp_path, server, archive, dead_url):
    data, md5 = archive
    server.files["/dbpedia_csv.tar.gz"] = data
    data_dir = tmp_path / "data"
    first = ensure_dbpedia(data_dir, url=server.base + "/dbpedia_csv.tar.gz", md5=md5, **FAST)
    assert ensure_dbpedia(data_dir, url=dead_url, md5=md5, **FAST) == first
    assert len(server.requests) == 1


def test_download_with_wrong_md5_is_deleted_and_reported(tmp_path, server, archive):
    data, md5 = archive
    server.files["/dbpedia_csv.tar.gz"] = data
    data_dir = tmp_path / "data"
    wrong = "0" * 32
    with pytest.raises(DataError) as err:
        ensure_dbpedia(data_dir, url=server.base + "/dbpedia_csv.tar.gz", md5=wrong, **FAST)
    msg = str(err.value)
    assert wrong in msg and md5 in msg and "corrupt" in msg
    assert str(data_dir) in msg
    assert sorted(p.name for p in data_dir.iterdir()) == []  # no .part, no archive, no folder


def test_connection_dropped_midway_is_resumed_with_range(tmp_path, server, archive):
    data, md5 = archive
    server.files["/dbpedia_csv.tar.gz"] = data
    server.truncate_first.add("/dbpedia_csv.tar.gz")
    data_dir = tmp_path / "data"
    folder = ensure_dbpedia(data_dir, url=server.base + "/dbpedia_csv.tar.gz", md5=md5, **FAST)
    assert_extracted(folder, data_dir)
    assert server.ranges() == [f"bytes={len(data) // 2}-"]
    assert len(server.requests) == 2
    assert hashlib.md5((data_dir / "dbpedia_csv.tar.gz").read_bytes()).hexdigest() == md5


def test_existing_part_file_is_resumed(tmp_path, server, archive):
    data, md5 = archive
    server.files["/dbpedia_csv.tar.gz"] = data
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "dbpedia_csv.tar.gz.part").write_bytes(data[:100])
    folder = ensure_dbpedia(data_dir, url=server.base + "/dbpedia_csv.tar.gz", md5=md5, **FAST)
    assert_extracted(folder, data_dir)
    assert server.ranges() == ["bytes=100-"] and len(server.requests) == 1


def test_server_ignoring_range_restarts_from_zero(tmp_path, server, archive):
    data, md5 = archive
    server.files["/dbpedia_csv.tar.gz"] = data
    server.ignore_range = True
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "dbpedia_csv.tar.gz.part").write_bytes(b"garbage from another download" * 3)
    folder = ensure_dbpedia(data_dir, url=server.base + "/dbpedia_csv.tar.gz", md5=md5, **FAST)
    assert_extracted(folder, data_dir)
    assert len(server.ranges()) == 1


def test_complete_part_file_answered_416_is_accepted(tmp_path, server, archive):
    data, md5 = archive
    server.files["/dbpedia_csv.tar.gz"] = data
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "dbpedia_csv.tar.gz.part").write_bytes(data)
    folder = ensure_dbpedia(data_dir, url=server.base + "/dbpedia_csv.tar.gz", md5=md5, **FAST)
    assert_extracted(folder, data_dir)
    assert server.ranges() == [f"bytes={len(data)}-"]


def test_server_errors_are_retried(tmp_path, server, archive):
    data, md5 = archive
    server.files["/dbpedia_csv.tar.gz"] = data
    server.fail_first = 2
    folder = ensure_dbpedia(tmp_path / "data", url=server.base + "/dbpedia_csv.tar.gz", md5=md5, **FAST)
    assert_extracted(folder, tmp_path / "data")
    assert len(server.requests) == 3


def test_http_404_fails_at_once_with_the_fix(tmp_path, server):
    data_dir = tmp_path / "data"
    with pytest.raises(DataError) as err:
        ensure_dbpedia(data_dir, url=server.base + "/missing.tar.gz", **FAST)
    msg = str(err.value)
    assert "404" in msg and str(data_dir / "dbpedia_csv.tar.gz") in msg
    assert len(server.requests) == 1


@pytest.mark.parametrize("style", ["link", "form", "cookie"])
def test_google_drive_confirmation_page_is_followed(tmp_path, server, archive, style):
    data, md5 = archive
    server.files["/dbpedia_csv.tar.gz"] = data
    server.confirm = style
    url = server.base + f"/uc?export=download&id={FILE_ID}"
    folder = ensure_dbpedia(tmp_path / "data", url=url, md5=md5, **FAST)
    assert_extracted(folder, tmp_path / "data")
    paths = [p for p, _ in server.requests]
    assert len(paths) == 2
    if style == "form":
        q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(paths[1]).query))
        assert paths[1].startswith("/download?") and q == {"id": FILE_ID, "export": "download",
                                                            "confirm": "t", "uuid": UUID}
    else:
        assert f"confirm={TOKEN}" in paths[1] and f"id={FILE_ID}" in paths[1]
    if style == "cookie":
        assert TOKEN in server.requests[1][1].get("Cookie", "")


def test_html_page_without_token_is_a_clear_error(tmp_path, server):
    server.confirm = "no-token"
    data_dir = tmp_path / "data"
    with pytest.raises(DataError) as err:
        ensure_dbpedia(data_dir, url=server.base + "/uc?export=download&id=x", **FAST)
    msg = str(err.value)
    assert "web page" in msg and "Too many users" in msg and str(data_dir) in msg
    assert not (data_dir / "dbpedia_csv.tar.gz").exists()


# ------------------------------------------------------------------------------------ offline


def test_offline_error_says_where_to_put_the_archive(tmp_path, dead_url, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as err:
        ensure_dbpedia("data", url=dead_url, **FAST)  # relative: message must show it absolute
    msg = str(err.value)
    data_dir = tmp_path / "data"
    assert "\n" not in msg
    assert dead_url in msg
    assert str(data_dir) in msg and str(data_dir / "dbpedia_csv.tar.gz") in msg
    assert "dbpedia_csv.tar.gz" in msg and "paths.data_dir=" in msg and "data=dbpedia_sample" in msg
    assert "refused" in msg.lower()
    assert isinstance(err.value.__cause__, DownloadError)


def test_timeouts_are_retried_then_reported(tmp_path):
    with socket.socket() as listener:  # accepts connections (backlog) but never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/dbpedia_csv.tar.gz"
        with pytest.raises(DataError) as err:
            ensure_dbpedia(tmp_path / "data", url=url, retries=1, timeout=0.3, backoff=0.001, progress=False)
    msg = str(err.value)
    assert "timed out" in msg and "2 attempts" in msg and str(tmp_path / "data") in msg


# ------------------------------------------------------------------------------------ local files


def test_existing_folder_is_used_without_network(tmp_path, dead_url):
    folder = tmp_path / "data" / "dbpedia_csv"
    folder.mkdir(parents=True)
    (folder / "train.csv").write_text(TRAIN)
    (folder / "test.csv").write_text(TEST)
    assert ensure_dbpedia(tmp_path / "data", url=dead_url, retries=0, timeout=0.5) == folder


def test_local_archive_is_extracted_without_network(tmp_path, archive, dead_url):
    data, md5 = archive
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "dbpedia_csv.tar.gz").write_bytes(data)
    folder = ensure_dbpedia(data_dir, url=dead_url, md5=md5, **FAST)
    assert_extracted(folder, data_dir)
    assert (data_dir / "dbpedia_csv.tar.gz").exists()  # kept


def test_corrupt_local_archive_is_reported_not_deleted(tmp_path, archive, dead_url):
    data, md5 = archive
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    bad = data[:-10] + b"0123456789"
    (data_dir / "dbpedia_csv.tar.gz").write_bytes(bad)
    with pytest.raises(DataError) as err:
        ensure_dbpedia(data_dir, url=dead_url, md5=md5, **FAST)
    msg = str(err.value)
    assert "corrupt" in msg and md5 in msg and hashlib.md5(bad).hexdigest() in msg
    assert str(data_dir / "dbpedia_csv.tar.gz") in msg and "Delete it" in msg
    assert (data_dir / "dbpedia_csv.tar.gz").read_bytes() == bad
    assert not (data_dir / "dbpedia_csv").exists()


def test_truncated_archive_without_md5_leaves_no_half_folder(tmp_path, archive, dead_url):
    data, _ = archive
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "dbpedia_csv.tar.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cannot be extracted"):
        ensure_dbpedia(data_dir, url=dead_url, md5=None, **FAST)
    assert sorted(p.name for p in data_dir.iterdir()) == ["dbpedia_csv.tar.gz"]


def test_archive_without_test_csv_is_rejected(tmp_path, dead_url):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    make_tar(data_dir / "dbpedia_csv.tar.gz", {"dbpedia_csv/train.csv": TRAIN.encode()})
    with pytest.raises(DataError, match="lacks test.csv"):
        ensure_dbpedia(data_dir, url=dead_url, md5=None, **FAST)


def test_incomplete_folder_is_replaced_and_kept_aside(tmp_path, archive, dead_url):
    data, md5 = archive
    data_dir = tmp_path / "data"
    (data_dir / "dbpedia_csv").mkdir(parents=True)
    (data_dir / "dbpedia_csv" / "train.csv").write_text("half")
    (data_dir / "dbpedia_csv.tar.gz").write_bytes(data)
    folder = ensure_dbpedia(data_dir, url=dead_url, md5=md5, **FAST)
    assert (folder / "train.csv").read_text() == TRAIN and (folder / "test.csv").read_text() == TEST
    aside = [p for p in data_dir.iterdir() if p.name.startswith("dbpedia_csv.incomplete-")]
    assert len(aside) == 1 and (aside[0] / "train.csv").read_text() == "half"


# ------------------------------------------------------------------------------------ safe extraction


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info


@pytest.mark.parametrize(
    "case",
    ["dotdot", "nested-dotdot", "absolute", "symlink-out", "symlink-abs", "hardlink-out", "device"],
)
def test_unsafe_archives_are_rejected(tmp_path, dead_url, case):
    data_dir = tmp_path / "work" / "data"
    data_dir.mkdir(parents=True)
    outside = tmp_path / "outside"
    files = dbpedia_members()
    extra: list[tarfile.TarInfo] = []
    if case == "dotdot":
        files["../evil.txt"] = b"pwned"
    elif case == "nested-dotdot":
        files["dbpedia_csv/../../../outside/evil.txt"] = b"pwned"
    elif case == "absolute":
        files[str(outside / "evil.txt")] = b"pwned"
    elif case == "symlink-out":
        extra.append(_link("dbpedia_csv/link", "../../../outside", tarfile.SYMTYPE))
    elif case == "symlink-abs":
        extra.append(_link("dbpedia_csv/link", str(outside), tarfile.SYMTYPE))
    elif case == "hardlink-out":
        extra.append(_link("dbpedia_csv/passwd", "/etc/passwd", tarfile.LNKTYPE))
    else:
        extra.append(_device("dbpedia_csv/null"))
    if case.startswith("symlink"):
        files["dbpedia_csv/link/evil.txt"] = b"pwned"  # the classic write-through-a-link attack
    make_tar(data_dir / "dbpedia_csv.tar.gz", files, extra)

    with pytest.raises(DataError, match="refused"):
        ensure_dbpedia(data_dir, url=dead_url, md5=None, **FAST)
    assert not outside.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["work"]
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["data"]
    assert sorted(p.name for p in data_dir.iterdir()) == ["dbpedia_csv.tar.gz"]


def test_extract_only_takes_the_prefix_folder(tmp_path):
    files = dbpedia_members() | {"other/notes.txt": b"x", "top.txt": b"y"}
    extra = [_link("dbpedia_csv/train_link.csv", "train.csv", tarfile.SYMTYPE)]  # inside: allowed
    archive = make_tar(tmp_path / "a.tar.gz", files, extra)
    dest = tmp_path / "dest"
    folder = extract_tar_safely(archive, dest, "dbpedia_csv/")
    assert folder == dest / "dbpedia_csv"
    assert sorted(p.name for p in dest.iterdir()) == ["dbpedia_csv"]
    assert (folder / "train_link.csv").read_text() == TRAIN


def test_extract_rejects_bad_prefix(tmp_path):
    with pytest.raises(ValueError):
        extract_tar_safely(tmp_path / "a.tar.gz", tmp_path, "../x")


# ------------------------------------------------------------------------------------ download_file


def test_download_file_generic_and_existing_dest(tmp_path, server, dead_url):
    payload = bytes(range(256)) * 1000
    md5 = hashlib.md5(payload).hexdigest()
    server.files["/blob.bin"] = payload
    dest = tmp_path / "sub" / "blob.bin"
    assert download_file(server.base + "/blob.bin", dest, md5, retries=1, timeout=2, backoff=0.001,
                         chunk_size=4096, progress=False) == dest
    assert dest.read_bytes() == payload
    # already there and matching: no network at all
    assert download_file(dead_url, dest, md5, retries=0, timeout=0.5) == dest
    with pytest.raises(ChecksumError) as err:
        download_file(dead_url, dest, "f" * 32, retries=0, timeout=0.5)
    assert err.value.actual == md5 and dest.exists()
