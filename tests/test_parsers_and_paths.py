"""Pure logic: host-command parsers and path confinement decisions."""

from __future__ import annotations

import pytest

from ssh_mcp.errors import PathNotAllowed
from ssh_mcp.policy.paths import check_path, is_within, precheck
from ssh_mcp.tools.host import _parse


def test_os_release() -> None:
    text = 'NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n# c\nID=debian\n'
    assert _parse.os_release(text)["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert _parse.os_release(text)["ID"] == "debian"


def test_meminfo() -> None:
    assert _parse.meminfo("MemTotal:  2048 kB\nHugePages_Total: 0\n") == {
        "MemTotal": 2048 * 1024,
        "HugePages_Total": 0,
    }


def test_df_keeps_spaces_in_mounts() -> None:
    text = (
        "Filesystem 1024-blocks Used Available Capacity Mounted on\n"
        "/dev/vda1 100 40 60 40% /\n"
        "tank 10 1 9 10% /mnt/my disk\n"
        "bad line\n"
    )
    rows = _parse.df_posix(text)
    assert [r["mount"] for r in rows] == ["/", "/mnt/my disk"]
    assert rows[0]["size_bytes"] == 102400 and rows[0]["use_percent"] == 40
    assert rows[0]["fs_type"] is None
    typed = _parse.df_posix(
        "Filesystem Type 1024-blocks Used Available Capacity Mounted on\n"
        "/dev/vda1 ext4 100 40 60 40% /\n"
        "tank zfs 10 1 9 10% /mnt/my disk\n"
    )
    assert [(r["fs_type"], r["mount"], r["used_bytes"]) for r in typed] == [
        ("ext4", "/", 40960),
        ("zfs", "/mnt/my disk", 1024),
    ]


def test_cpu_model() -> None:
    x86 = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC 7B13\n"
    assert _parse.cpu_model(x86) == "AMD EPYC 7B13"
    assert _parse.cpu_model("processor : 0\nBogoMIPS : 50\nModel : Raspberry Pi 4\n") == (
        "Raspberry Pi 4"
    )
    assert _parse.cpu_model("nothing here\n") == ""


def test_ps_rows() -> None:
    rows = _parse.ps_rows("  1 root 0.5 0.1 1000 99 systemd\n  x bad\n")
    assert rows == [
        {
            "pid": 1,
            "user": "root",
            "cpu_percent": 0.5,
            "mem_percent": 0.1,
            "rss_bytes": 1024000,
            "elapsed_seconds": 99,
            "command": "systemd",
        }
    ]


@pytest.mark.parametrize(
    ("path", "root", "inside"),
    [
        ("/srv/app", "/srv/app", True),
        ("/srv/app/x", "/srv/app", True),
        ("/srv/application", "/srv/app", False),
        ("/srv/app/", "/srv/app", True),
        ("/srv", "/srv/app", False),
        ("/anything", "/", True),
        ("/srv/app", "/srv/app/", True),
        ("//srv/app", "/srv/app", True),
    ],
)
def test_is_within_whole_components(path: str, root: str, inside: bool) -> None:
    assert is_within(path, root) is inside


def test_check_path() -> None:
    check_path("/srv/app/x", ["/srv/app"], ["/srv/app/secrets"])
    with pytest.raises(PathNotAllowed, match="restricted zone /srv/app/secrets"):
        check_path("/srv/app/secrets/k", ["/srv/app"], ["/srv/app/secrets"])
    with pytest.raises(PathNotAllowed, match="outside the path allowlist"):
        check_path("/srv/application", ["/srv/app"], [])
    with pytest.raises(PathNotAllowed, match="no path allowlist"):
        check_path("/srv/app", [], [])


@pytest.mark.parametrize("bad", ["/a\x00b", "/a\x1bb", "/a\u200bb", "/a\u202eb", "/" + "a" * 5000])
def test_precheck_refuses(bad: str) -> None:
    with pytest.raises(PathNotAllowed):
        precheck(bad)


@pytest.mark.parametrize(
    "bad", ["/a\u2215b", "/a\uff0fb", "/a\u2044b", "/a/.\u0307/b", "/a\uff0e\uff0e"]
)
def test_precheck_refuses_lookalike_separators(bad: str) -> None:
    with pytest.raises(PathNotAllowed, match="looks like a path separator"):
        precheck(bad)
