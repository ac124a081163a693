"""Output-path checks and atomic writes (hrm.runtime.files): a bad path is one UserError, failed writes leave none."""

from __future__ import annotations

import errno
import os

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


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write read-only files")
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
