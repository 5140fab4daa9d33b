"""A sweep job's folder name: `<N>_<overrides>` made safe as one path component.

Hydra joins a job's overrides into its folder name as they are, so a `/` in a value
(`monitor.metric=val/mae`, `data.train_path=dir/x.csv`) nests the job in folders of its own, and a
long override list passes the file systems' 255-byte limit on one name (`OSError: File name too
long`). conf/hydra/default.yaml passes the name through `${expkit_job_folder:...}`.
"""

from __future__ import annotations

import hashlib

# Most file systems (ext4, xfs, btrfs, NFS, Lustre) allow 255 bytes in one path component.
MAX_NAME_BYTES = 255
# What stands for `/` in a value: URL encoding, which reads as the character it replaces.
SLASH = "%2F"
# What a shortened name ends with: `~` and the first hex digits of the full name's SHA-1, so two
# long names that share their beginning stay two folders, and the same job gets the same folder.
DIGEST_CHARS = 10
# hydra.sweep.subdir of conf/hydra/default.yaml (the Optuna sweeper rebuilds it with rounded values).
DEFAULT_SUBDIR = "${expkit_job_folder:'${hydra.job.num}_${hydra.job.override_dirname}'}"


def job_folder_name(name: str) -> str:
    """`name` with each `/` as `%2F`, shortened to 255 bytes (UTF-8) when longer: its beginning
    (the job number first, so `<N>_` still starts it), `~`, and a digest of the whole name."""
    safe = str(name).replace("/", SLASH)
    encoded = safe.encode("utf-8")
    if len(encoded) <= MAX_NAME_BYTES:
        return safe
    digest = hashlib.sha1(encoded).hexdigest()[:DIGEST_CHARS]
    head = encoded[: MAX_NAME_BYTES - 1 - DIGEST_CHARS].decode("utf-8", errors="ignore")
    return f"{head}~{digest}"
