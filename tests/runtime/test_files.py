"""Output-path checks and atomic writes (hrm.runtime.files): a bad path is one UserError, failed writes leave none."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from hrm.errors import UserError
from hrm.runtime import files
from hrm.runtime.files import atomic_write, check_output_dir, check_output_file, os_error_message, write_text_atomic


def test_check_output_file_accepts_new_and_existing_files(tmp_path):
    assert check_output_file(tmp_path / "a" / "b" / "x.png", "--plot") == tmp_path / "a" / "b" / "x.png"
    assert (tmp_path / "a" / "b").is_dir()  # parents are made
    existing = tmp_path / "old.png"
    existing.write_bytes(b"old")
    assert check_output_file(existing, "--plot") == existing
    assert existing.read_bytes() == b"old"  # checking writes nothing


@pytest.mark.parametrize("case", ["folder", "under_file", "dot"])
def test_check_output_file_refuses_folders_and_paths_under_files(tmp_path, case, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("x")
    path = {"folder": tmp_path, "under_file": tmp_path / "afile" / "x.png", "dot": "."}[case]
    with pytest.raises(UserError, match="--plot") as info:
        check_output_file(path, "--plot")
    assert "\n" not in str(info.value)
    assert (tmp_path / "afile").read_text() == "x"


def test_check_output_file_refuses_read_only_file_and_folder(tmp_path, monkeypatch):
    target = tmp_path / "x.json"
    target.write_text("keep")
    # Root may write anything, so the permission answer is simulated; the real chmod case runs for other users.
    monkeypatch.setattr(files.os, "access", lambda p, mode: os.fspath(p) not in (os.fspath(target),))
    with pytest.raises(UserError, match="read-only"):
        check_output_file(target, "--json")
    monkeypatch.setattr(files.os, "access", lambda p, mode: False)
    with pytest.raises(UserError, match="not writable"):
        check_output_file(tmp_path / "new.json", "--json")
    with pytest.raises(UserError, match="not writable"):
        check_output_dir(tmp_path / "newdir", "--out")
    assert target.read_text() == "keep"


@pytest.mark.skipif(getattr(os, "geteuid", lambda: 1)() == 0, reason="root may write read-only files")
def test_check_output_file_real_read_only_folder(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(UserError, match="not writable"):
            check_output_file(ro / "x.png", "--plot")
    finally:
        ro.chmod(0o755)


def test_check_output_dir(tmp_path):
    (tmp_path / "afile").write_text("x")
    assert check_output_dir(tmp_path / "new" / "deeper", "--out") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    with pytest.raises(UserError, match="not a folder"):
        check_output_dir(tmp_path / "afile", "--out")
    with pytest.raises(UserError, match="is a file, not a folder"):
        check_output_dir(tmp_path / "afile" / "sub", "--out")


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "eval.json"
    target.write_text("old")
    with pytest.raises(OSError):
        with atomic_write(target) as f:
            f.write("half")
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.json"]  # no temporary file left
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


def test_os_error_message_names_file_and_fix():
    message = os_error_message(OSError(errno.ENOSPC, "No space left on device", "/x/y.npy"))
    assert message.startswith("/x/y.npy: No space left on device") and "free some space" in message


# ---- DirectoryLock: one holder per folder, its PID in the error, released however the holder ends ----------------

_HOLDER = """
import sys
{prelude}
from hrm.runtime.files import DirectoryLock
lock = DirectoryLock(sys.argv[1]).acquire()
print("locked", flush=True)
sys.stdin.read()
"""


def _holder(folder, prelude: str = "") -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER.format(prelude=prelude), str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_directory_lock_excludes_a_second_holder_in_the_same_process(tmp_path):
    with files.DirectoryLock(tmp_path):
        with pytest.raises(UserError, match=rf"in use by another hrm process \(PID {os.getpid()}\)"):
            files.DirectoryLock(tmp_path).acquire()
    with files.DirectoryLock(tmp_path) as again:  # released on exit: taken again
        assert again.held


def test_directory_lock_is_released_when_its_holder_is_killed(tmp_path):
    holder = _holder(tmp_path)
    try:
        with pytest.raises(UserError, match=rf"PID {holder.pid}\)"):
            files.DirectoryLock(tmp_path).acquire()
    finally:
        holder.kill()  # SIGKILL on POSIX, TerminateProcess on Windows: no clean-up runs in the holder
        holder.wait(timeout=60)
    assert (tmp_path / "run.lock").exists()  # the stale lock file stays behind ...
    with files.DirectoryLock(tmp_path) as lock:  # ... and does not block the next run
        assert lock.held


def test_directory_lock_works_without_fcntl(tmp_path):
    # Windows has no fcntl: the lock must not need it. With the module made unimportable, a second process is
    # still refused while the first holds the folder, and the folder is free once it has finished.
    holder = _holder(tmp_path, prelude="sys.modules['fcntl'] = None")
    try:
        probe = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; sys.modules['fcntl'] = None\n"
                "from hrm.errors import UserError\nfrom hrm.runtime.files import DirectoryLock\n"
                "try:\n    DirectoryLock(sys.argv[1]).acquire()\nexcept UserError as e:\n    print(e)\n",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert f"in use by another hrm process (PID {holder.pid})" in probe.stdout, probe.stdout + probe.stderr
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    with files.DirectoryLock(tmp_path) as lock:
        assert lock.held
