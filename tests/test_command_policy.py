"""Tests for the command allowlist policy (ssh_mcp.policy.commands)."""

from __future__ import annotations

import pytest

from ssh_mcp.errors import CommandNotAllowed, PolicyDenied
from ssh_mcp.policy.commands import check_command, split_simple_commands

ALLOW = ["ls", "cat", "echo", "grep", "uptime"]

# Every entry must be refused with ALLOW. Grouped by the technique it tries.
BYPASSES = [
    # chaining onto a second program
    "ls; rm -rf /",
    "ls && rm x",
    "ls || rm x",
    "ls | sh",
    "ls\nrm x",
    "ls & rm x",
    "ls |& rm x",
    "ls;rm",
    "ls&&rm",
    "ls #comment\nrm x",
    "ls &>/dev/null rm x",
    "ls &>>log rm x",
    "ls & >/dev/null",
    "> /tmp/x",
    "ls\n>&-",
    "ls; <in",
    "<<<x",
    "ls >&-x",
    "ls >& -'x;y'",
    "ls <&\\\n-x",
    "12>/dev/null ls",
    # constructs other shells read differently (zsh, fish)
    ">! ls rm x",
    "ls >!x rm",
    "ls >|rm x",
    "ls 2>|rm x",
    "ls x}\\\n rm x",
    "ls {a,b}",
    "ls {}",
    "{ls}",
    "echo ok\r\nrm x",
    # substitutions
    "$(rm x)",
    "`rm x`",
    'echo "$(rm x)"',
    'echo "`id`"',
    "echo $(rm x)",
    "ls $((1+1))",
    "ls $[1+1]",
    "cat <(rm x)",
    "ls >(rm x)",
    "echo ${x:-$(rm x)}",
    "echo ${x@P}",
    "echo ${!x}",
    "echo ${a[$i]}",
    "echo ${x:1}",
    "echo $'\\x60id\\x60'",
    'echo $"x"',
    # data that bash builtins would evaluate later
    "echo '$(rm x)'",
    "echo '`id`'",
    "echo \\$\\(id\\)",
    # wrappers, shells and eval-like builtins
    "eval ls",
    "exec ls",
    "sh -c ls",
    "/bin/sh -c ls",
    "bash -c 'ls'",
    "env ls",
    "/usr/bin/env ls",
    "xargs rm",
    "sudo ls",
    "command ls",
    ". ./script",
    "source ./script",
    "nohup ls",
    "time ls",
    "busybox rm x",
    # non-literal or disguised program words
    "FOO=1 ls",
    "PATH=/tmp ls",
    "\\r\\m x",
    "'rm' x",
    '"r"m x',
    "$CMD",
    "${CMD}",
    "$CMD ls",
    "l* ",
    "l? x",
    "[l]s",
    "{ls,rm} x",
    "~/ls",
    "=ls",
    "/usr/bin/rm",
    "./ls",
    "/tmp/ls",
    "ｌｓ",
    "ls\x00; rm x",
    "ls\u202e",
    # subshells, groups, keywords
    "(rm x)",
    "ls (x)",
    "{ rm x; }",
    "if true; then rm x; fi",
    "! rm x",
    "while true; do ls; done",
    "[[ -f x ]]",
    "case x in x) ls;; esac",
    "function f { ls; }",
    "f() { ls; }",
    # malformed or uncertain input
    "ls 'unterminated",
    'ls "unterminated',
    "ls \\",
    "; ls",
    "ls ;; ls",
    "ls |",
    "ls &&",
    "ls | | grep x",
    "ls >",
    "ls > ;",
    "ls 'x\\'",
    # here-documents
    "cat <<EOF\n$(rm x)\nEOF",
    "cat <<EOF\n`rm x`\nEOF",
    "cat <<EOF\nunterminated\n",
    "cat <<EOF",
    "cat <<EOF\n'\nEOF\nrm x\n'",
    "cat <<EOF\nx\\\nEOF\nls '\nEOF\nrm x\n'",
    "cat <<EOF 'a\nb'\nEOF",
    "cat <<$X\nx\n$X",
]


@pytest.mark.parametrize("command", BYPASSES)
def test_bypass_is_refused(command: str) -> None:
    with pytest.raises(CommandNotAllowed) as info:
        check_command(command, ALLOW, allow_any=False)
    message = str(info.value)
    assert message.startswith("command not allowed: ")
    assert "\n" not in message and "\r" not in message and "\x00" not in message


def test_bypass_corpus_is_large() -> None:
    assert len(BYPASSES) >= 40


@pytest.mark.parametrize(
    "command",
    [
        "ls -la /tmp",
        "ls | grep x",
        "cat /etc/os-release && uptime",
        "echo 'a;b|c'",
        'echo "x" > /tmp/out',
        "ls 2>/dev/null",
        "2>/dev/null ls",
        "ls 2>&1 | grep -v x",
        "ls &>/dev/null",
        "ls -la &>>log 2>&1",
        "ls >&- 2>&-",
        "ls '{}' \"{a,b}\"",
        "grep -E 'a{2}' file",
        "grep -r 'a$' .",
        "grep -r a$ .",
        "echo $HOME ${HOME} ${#HOME} ${HOME:-/root} ${f%.*} $1 $?",
        'echo "$HOME is home"',
        "l\\s",
        "'ls' -la",
        '"ls"',
        "ls # ; rm -rf /",
        "ls;",
        "ls &",
        "ls &&\nuptime",
        "\n\nls\n\n",
        "cat <<EOF\nhello; rm x $HOME\nEOF",
        "cat <<'EOF'\n${x@P} ; rm x\nEOF\nls",
        "cat <<-EOF\n\tbody\n\tEOF\nuptime",
        "cat <<<'a;b'",
        "echo a#b",
        "echo \\#x ; ls",
        "grep -e '[$](' file",
        "ls 'x\\\\'",
    ],
)
def test_allowed(command: str) -> None:
    check_command(command, ALLOW, allow_any=False)


def test_absolute_path_entries_match_exactly() -> None:
    check_command("/usr/bin/ls -la", ["/usr/bin/ls"], allow_any=False)
    for command in ("ls", "/bin/ls", "/usr/bin//ls"):
        with pytest.raises(CommandNotAllowed):
            check_command(command, ["/usr/bin/ls"], allow_any=False)


@pytest.mark.parametrize(
    ("command", "allowlist"),
    [
        ("sudo ls", ["sudo", "ls"]),
        ("/usr/bin/env ls", ["/usr/bin/env", "ls"]),
        ("bash -c ls", ["bash"]),
        ("/bin/SH -c ls", ["/bin/SH"]),
        ("if ls; then ls; fi", ["if", "then", "fi", "ls"]),
        ("declare -i n", ["declare"]),
    ],
)
def test_wrappers_and_keywords_refused_even_if_listed(command: str, allowlist: list[str]) -> None:
    with pytest.raises(CommandNotAllowed):
        check_command(command, allowlist, allow_any=False)


def test_not_allowlisted_message_names_program_and_fix() -> None:
    with pytest.raises(CommandNotAllowed) as info:
        check_command("ls; rm -rf /", ["ls", "cat"], allow_any=False)
    assert str(info.value) == (
        "command not allowed: program 'rm' is not in the command allowlist (ls, cat), which "
        "is SSH_COMMAND_ALLOWLIST; use a listed program, or have the operator add it there"
    )


def test_refusal_names_the_hosts_own_list_when_that_is_in_force() -> None:
    from ssh_mcp.config.inventory import HostConfig
    from ssh_mcp.config.settings import Settings
    from ssh_mcp.policy import hosts

    settings = Settings(_env_file=None, ssh_command_allowlist=["cat"])
    own = HostConfig("web1", "web1", command_allowlist=("ls",))
    listed, name = hosts.command_allowlist(own, settings), hosts.command_allowlist_name(own)
    with pytest.raises(CommandNotAllowed) as info:
        check_command("rm x", listed, allow_any=False, source=name)
    assert "(ls), which is the command_allowlist of [hosts.web1] in hosts.toml;" in str(info.value)
    assert "SSH_COMMAND_ALLOWLIST" not in str(info.value)
    plain = HostConfig("web2", "web2")
    assert hosts.command_allowlist_name(plain) == "SSH_COMMAND_ALLOWLIST"


@pytest.mark.parametrize(
    ("command", "needle"),
    [
        ("$(rm x)", "command substitution"),
        ("cat <(rm x)", "process substitution"),
        ("ls $((1+1))", "arithmetic"),
        ("(rm x)", "subshell"),
        ("env ls", "'env'"),
        ("FOO=1 ls", "'FOO=1'"),
        ("$CMD", "'$CMD'"),
        ("ls 'x", "quote"),
        ("ls \\", "backslash"),
        ("echo ok\r\nrm x", "U+000D"),
        ("ｌｓ", "'\\uff4c\\uff53'"),
    ],
)
def test_messages_name_the_construct(command: str, needle: str) -> None:
    with pytest.raises(CommandNotAllowed) as info:
        check_command(command, ALLOW, allow_any=False)
    assert needle in str(info.value)


def test_message_truncates_long_program_words() -> None:
    with pytest.raises(CommandNotAllowed) as info:
        check_command("x" * 500, ALLOW, allow_any=False)
    assert len(str(info.value)) < 250


@pytest.mark.parametrize("command", ["", "   ", "\n\t "])
@pytest.mark.parametrize("allow_any", [False, True])
def test_empty_command_refused(command: str, allow_any: bool) -> None:
    for allowlist in ([], ALLOW):
        with pytest.raises(CommandNotAllowed, match="empty"):
            check_command(command, allowlist, allow_any=allow_any)


def test_comment_only_has_no_program() -> None:
    with pytest.raises(CommandNotAllowed, match="no program"):
        check_command("# just a comment", ALLOW, allow_any=False)


def test_empty_allowlist_without_allow_any_refuses_everything() -> None:
    for allowlist in ([], [""], ["  "]):
        with pytest.raises(CommandNotAllowed) as info:
            check_command("ls", allowlist, allow_any=False)
        message = str(info.value)
        assert "SSH_COMMAND_ALLOWLIST" in message
        assert "command_allowlist" in message
        assert "ALLOW_ANY_COMMAND=true" in message


@pytest.mark.parametrize("command", ["ls", "rm -rf /tmp/x; $(id)", "sh -c 'x", "`id`"])
def test_empty_allowlist_with_allow_any_allows_anything(command: str) -> None:
    check_command(command, [], allow_any=True)


def test_allow_any_does_not_bypass_a_set_allowlist() -> None:
    with pytest.raises(CommandNotAllowed):
        check_command("rm x", ALLOW, allow_any=True)


def test_refusal_is_a_policy_denial() -> None:
    with pytest.raises(PolicyDenied) as info:
        check_command("rm x", ALLOW, allow_any=False)
    assert info.value.outcome == "denied"


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("ls", [["ls"]]),
        ("ls -la /tmp", [["ls", "-la", "/tmp"]]),
        ("ls; rm x", [["ls"], ["rm", "x"]]),
        ("a && b || c | d |& e & f\ng", [["a"], ["b"], ["c"], ["d"], ["e"], ["f"], ["g"]]),
        ("ls > out", [["ls"]]),
        ("ls >out 2>&1 <in", [["ls"]]),
        ("2>/dev/null ls -a", [["ls", "-a"]]),
        ("ls >>log x", [["ls", "x"]]),
        ("echo 'a;b|c' \"d e\"", [["echo", "a;b|c", "d e"]]),
        ("echo a\\ b", [["echo", "a b"]]),
        ("l\\s", [["ls"]]),
        ("l\\\ns", [["ls"]]),
        ("echo ''", [["echo", ""]]),
        ('echo $HOME "${HOME}/x"', [["echo", "$HOME", "${HOME}/x"]]),
        ('echo "a\\"b\\$c\\d"', [["echo", 'a"b$c\\d']]),
        ("ls # rm; x", [["ls"]]),
        ("ls a#b", [["ls", "a#b"]]),
        ("ls &> /dev/null", [["ls"]]),
        ("ls >&- x", [["ls", "x"]]),
        ("ls 1\\\n>x", [["ls", "1"]]),
        ("ls 1>x", [["ls"]]),
        ("cat <<EOF\nx; rm y\nEOF\nls", [["cat"], ["ls"]]),
        ("cat <<A <<'B'\na\nA\nb\nB\nuptime", [["cat"], ["uptime"]]),
        ("cat <<-EOF\n\tx\n\tEOF", [["cat"]]),
        ("cat <<<'x y' z", [["cat", "z"]]),
        ("", []),
        ("# only", []),
    ],
)
def test_split_simple_commands(command: str, expected: list[list[str]]) -> None:
    assert split_simple_commands(command) == expected


@pytest.mark.parametrize("command", ["echo $(x)", "(a)", "a 'b", "a |", "cat <<EOF\nx"])
def test_split_refuses_what_it_cannot_split(command: str) -> None:
    with pytest.raises(CommandNotAllowed):
        split_simple_commands(command)
