"""What an allowlisted command becomes (pure logic): every program behind ``env --``, and
the files its redirections write (ssh_mcp.policy.commands.check_command)."""

from __future__ import annotations

import pytest

from ssh_mcp.errors import CommandNotAllowed
from ssh_mcp.policy.commands import check_command, rewrite

ALLOW = ["ls", "cat", "echo", "grep", "uptime", "printf", "/usr/bin/ls"]


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("ls", "env -- ls"),
        ("  ls -la", "  env -- ls -la"),
        ("echo hi | cat", "env -- echo hi | env -- cat"),
        ("ls|cat|&grep x", "env -- ls|env -- cat|&env -- grep x"),
        (
            "ls && uptime || cat x; echo a & echo b\nls",
            "env -- ls && env -- uptime || env -- cat x; env -- echo a & env -- echo b\nenv -- ls",
        ),
        ("ls &&\nuptime", "env -- ls &&\nenv -- uptime"),
        ("\n\nls\n\n", "\n\nenv -- ls\n\n"),
        # redirections before the program word stay where they are
        ("2>/dev/null ls -a", "2>/dev/null env -- ls -a"),
        ("<in >out 2>&1 cat", "<in >out 2>&1 env -- cat"),
        ("ls >out 2>&1 <in", "env -- ls >out 2>&1 <in"),
        # quoting and escapes of the program word are kept byte for byte
        ("'ls' -la", "env -- 'ls' -la"),
        ('"ls"', 'env -- "ls"'),
        ("l\\s", "env -- l\\s"),
        ("l\\\ns x", "env -- l\\\ns x"),
        ("/usr/bin/ls", "env -- /usr/bin/ls"),
        ("echo 'a;b|c' \"d e\" a\\ b", "env -- echo 'a;b|c' \"d e\" a\\ b"),
        ('echo "$HOME is ${HOME}"', 'env -- echo "$HOME is ${HOME}"'),
        # here-documents: bodies untouched, even when they look like commands
        (
            "cat <<EOF\nls; rm x\nEOF\necho done",
            "env -- cat <<EOF\nls; rm x\nEOF\nenv -- echo done",
        ),
        ("cat <<EOF | grep x\nbody\nEOF", "env -- cat <<EOF | env -- grep x\nbody\nEOF"),
        ("<<EOF cat\nbody\nEOF", "<<EOF env -- cat\nbody\nEOF"),
        ("cat <<-'E'\n\tls\n\tE\nls", "env -- cat <<-'E'\n\tls\n\tE\nenv -- ls"),
        ("cat <<<'x y' z", "env -- cat <<<'x y' z"),
        # comments are not commands
        ("ls # c; rm\necho", "env -- ls # c; rm\nenv -- echo"),
        ("# only a comment\nls", "# only a comment\nenv -- ls"),
        ("echo a#b", "env -- echo a#b"),
    ],
)
def test_every_program_word_gets_env(command: str, expected: str) -> None:
    checked = check_command(command, ALLOW, allow_any=False)
    assert checked is not None and checked.run == expected
    assert rewrite(command) == expected


def test_builtins_and_brackets_are_rewritten_too() -> None:
    """The rewrite does not care which program it is: a builtin name is just a word."""
    assert rewrite("printf -v x y; read v; [ -v x ]") == (
        "env -- printf -v x y; env -- read v; env -- [ -v x ]"
    )


def test_allow_any_without_allowlist_changes_nothing() -> None:
    assert check_command("declare x; cd /; $(id)", [], allow_any=True) is None


@pytest.mark.parametrize(
    ("command", "writes"),
    [
        ("echo x > out", ("out",)),
        ("echo x >>/abs/f 2>&1", ("/abs/f",)),
        ("echo x &>~/f", ("~/f",)),
        ("echo x &>>f", ("f",)),
        ("cat <>f", ("f",)),
        ("echo x 3>f", ("f",)),
        ('echo x >"~/q"', ("./~/q",)),  # a quoted ~ is a directory named "~"
        ("echo x >'a b' > c", ("a b", "c")),
        ("cat <<EOF >o\nx\nEOF", ("o",)),
        (">o echo x", ("o",)),
        # fd duplication, closing, /dev/null and reads write no file
        ("echo >/dev/null 2>&1 <in >&2 <&0 >&- 2>&- 1>&2", ()),
        ("echo x &>/dev/null", ()),
        ("cat <<<x <<EOF\ny\nEOF", ()),
    ],
)
def test_write_targets_are_returned(command: str, writes: tuple[str, ...]) -> None:
    checked = check_command(command, ALLOW, allow_any=False)
    assert checked is not None and checked.writes == writes


@pytest.mark.parametrize(
    ("command", "needle"),
    [
        ("echo x >$HOME/f", "expansion, glob or tilde"),
        ("echo x >${HOME}/f", "expansion, glob or tilde"),
        ('echo x >"$HOME"/f', "expansion, glob or tilde"),
        ("echo x >~root/f", "expansion, glob or tilde"),
        ("echo x >~", "expansion, glob or tilde"),
        ("echo x >~/$f", "expansion, glob or tilde"),
        ("echo x >*.txt", "expansion, glob or tilde"),
        ("echo x >f?", "expansion, glob or tilde"),
        ("echo x >=ls", "expansion, glob or tilde"),
        ("echo x >''", "expansion, glob or tilde"),
        ("echo x >&f", "not fd duplication"),
        ("echo x >& f", "not fd duplication"),
        ("echo x <&file", "not fd duplication"),
        ("echo x >&$fd", "not fd duplication"),
        ("echo x 2>&12", "not fd duplication"),
    ],
)
def test_unclear_write_targets_are_refused(command: str, needle: str) -> None:
    with pytest.raises(CommandNotAllowed) as info:
        check_command(command, ALLOW, allow_any=False)
    message = str(info.value)
    assert needle in message and "\n" not in message, message


def test_reads_are_not_write_targets() -> None:
    checked = check_command("cat </etc/shadow", ALLOW, allow_any=False)
    assert checked is not None and checked.writes == ()


@pytest.mark.parametrize("program", ["a=b", "a-b=c", "x+=1", "./x=y"])
def test_a_program_word_with_equals_is_refused(program: str) -> None:
    """env would take it for an assignment and run the next word, or print the
    environment."""
    with pytest.raises(CommandNotAllowed, match=r"'='|assignment"):
        check_command(f"{program} arg", [program], allow_any=False)
