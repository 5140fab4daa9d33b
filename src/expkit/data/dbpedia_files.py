"""Make the full DBpedia-14 dataset available on disk: find it, or download, verify and extract it.

The archive is the one torchtext used: `dbpedia_csv.tar.gz` holding `dbpedia_csv/train.csv`,
`dbpedia_csv/test.csv`, `dbpedia_csv/classes.txt` and `dbpedia_csv/readme.txt`.

`ensure_dbpedia(data_dir)` returns `data_dir/dbpedia_csv`, doing only what is missing:

1. the extracted folder is there -> nothing to do, no network;
2. `data_dir/dbpedia_csv.tar.gz` is there -> check its MD5, extract it safely;
3. otherwise download it (pooch, resumable, retried, Google-Drive aware: `expkit.data.download`),
   check it, extract it (`expkit.data.safe_tar`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pooch

from expkit.data.download import ChecksumError, DownloadError, download_file
from expkit.data.safe_tar import extract_tar_safely
from expkit.errors import DataError
from expkit.files import exclusive_lock

log = logging.getLogger(__name__)

DBPEDIA_URL = "https://drive.google.com/uc?export=download&id=0Bz8a_Dbh9QhbQ2Vic1kxMmZZQ1k"
DBPEDIA_MD5 = "dca7b1ae12b1091090db52aa7ec5ca64"
DBPEDIA_ARCHIVE = "dbpedia_csv.tar.gz"
DBPEDIA_FOLDER = "dbpedia_csv"
# Held while downloading/extracting, so concurrent runs sharing a data_dir fetch the data once.
DBPEDIA_LOCK = "dbpedia_csv.lock"
DBPEDIA_REQUIRED = ("train.csv", "test.csv")


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
            actual = pooch.file_hash(str(archive), alg="md5")
            if actual.lower() != md5.lower():
                raise DataError(
                    f"The DBpedia archive {archive} is corrupt or not the right file: its MD5 is "
                    f"{actual} but {md5} was expected. Delete it (it was left in place) or replace "
                    f"it with a good copy, then run again to re-download it from {url}; or set "
                    "paths.data_dir=... to a folder that holds a good copy, or use "
                    "data=dbpedia_sample to train on the embedded 5,000-row sample."
                )
    else:
        log.info("Downloading the DBpedia archive from %s to %s", url, archive)
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
