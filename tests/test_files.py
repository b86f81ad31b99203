"""ovnb.files: a user's save path made a writable file, or one line saying why not and what to do."""
from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from ovnb import files
from ovnb.errors import OvnbError
from ovnb.files import save_target, write_bytes

VIDEO = {"suffixes": (".mp4",), "default": ".mp4", "what": "video"}
SUBTITLES = {"suffixes": (".srt", ".vtt"), "what": "subtitles"}


def refused(expect: str, path: object, **rules: object) -> None:
    with pytest.raises(OvnbError) as caught:
        save_target(path, **rules)  # type: ignore[arg-type]
    assert str(caught.value) == expect


def test_missing_folders_are_made_and_the_default_suffix_added(tmp_path: Path) -> None:
    assert save_target(tmp_path / "a" / "b" / "my clip", **VIDEO) == tmp_path / "a/b/my clip.mp4"
    assert (tmp_path / "a" / "b").is_dir() and not (tmp_path / "a/b/my clip.mp4").exists()
    assert save_target(f" {tmp_path}/clip.MP4 ", **VIDEO) == tmp_path / "clip.MP4"
    assert save_target(tmp_path / "clip.avi", **VIDEO) == tmp_path / "clip.avi.mp4"
    assert save_target(tmp_path / "talk.VTT", **SUBTITLES) == tmp_path / "talk.VTT"
    assert save_target(tmp_path / "notes") == tmp_path / "notes"  # no rules: any name


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert save_target("~/out/cat", (".png",), ".png", "image") == tmp_path / "out" / "cat.png"


def test_a_name_the_rules_refuse(tmp_path: Path) -> None:
    refused("cannot save subtitles as 'talk.txt': end the name in .srt or .vtt",
            tmp_path / "talk.txt", **SUBTITLES)
    refused("cannot save audio as 'speech': end the name in .wav, .flac or .ogg",
            tmp_path / "speech", suffixes=(".wav", ".flac", ".ogg"), what="audio")
    assert not list(tmp_path.iterdir())  # nothing made for a refused name


@pytest.mark.parametrize("given", ["", "   ", Path("")])
def test_an_empty_name(given: object) -> None:
    refused("no file name: type one, such as video.mp4", given, **VIDEO)


def test_a_parent_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "notes").write_text("a file")
    target = tmp_path / "notes" / "deeper" / "clip.mp4"
    refused(f"cannot save to {target}: {tmp_path / 'notes'} is a file, not a folder: choose "
            "another path", target, **VIDEO)


def test_a_target_that_is_a_folder(tmp_path: Path) -> None:
    (tmp_path / "out.mp4").mkdir()
    refused(f"cannot save to {tmp_path / 'out.mp4'}: it is a folder: add a file name, such as "
            f"{tmp_path / 'out.mp4' / 'video.mp4'}", tmp_path / "out.mp4", **VIDEO)
    refused(f"cannot save to {tmp_path}/: it is a folder: add a file name, such as "
            f"{tmp_path / 'subtitles.srt'}", f"{tmp_path}/", **SUBTITLES)


def test_a_folder_that_may_not_be_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: real(p, mode) and Path(p) != locked)
    refused(f"cannot save to {locked / 'clip.mp4'} (Permission denied): choose another folder",
            locked / "clip", **VIDEO)


def test_a_folder_that_cannot_be_made_says_the_os_reason(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    target = tmp_path / "new" / "clip.mp4"
    refused(f"cannot save to {target} (Read-only file system): choose another folder",
            target, **VIDEO)


def test_a_wrong_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="a file name is a str or a pathlib.Path, not int"):
        save_target(3)  # type: ignore[arg-type]


def test_write_bytes_writes_and_replaces(tmp_path: Path) -> None:
    path = write_bytes(tmp_path / "sub" / "clip", b"first", **VIDEO)
    assert path == tmp_path / "sub" / "clip.mp4" and path.read_bytes() == b"first"
    assert write_bytes(path, b"second", **VIDEO) == path and path.read_bytes() == b"second"
    assert sorted(p.name for p in path.parent.iterdir()) == ["clip.mp4"]


def test_a_failed_write_says_why_and_keeps_the_old_file(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_bytes(tmp_path / "speech.wav", b"old")
    monkeypatch.setattr(files, "_write_all", lambda fd, data: (_ for _ in ()).throw(
        OSError(errno.ENOSPC, "No space left on device")))
    with pytest.raises(OvnbError, match=re.escape(
            f"cannot save to {path} (No space left on device): choose another folder")):
        write_bytes(path, b"new")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["speech.wav"]


def test_a_name_too_long_says_the_os_reason(tmp_path: Path) -> None:
    target = tmp_path / ("a" * 300 + ".wav")
    with pytest.raises(OvnbError, match=re.escape("(File name too long): choose another folder")):
        write_bytes(target, b"data")


def test_a_nul_in_the_name(tmp_path: Path) -> None:
    refused("cannot save to 'a\\x00b.mp4': the name holds a NUL character: type it again",
            "a\x00b.mp4", **VIDEO)
