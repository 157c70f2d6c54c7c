"""The install commands in deploy/madoguchi.service's header give the files the owners and modes the
unit needs: the service user (User=, Group=) reaches and reads config.toml (check-config and serve
run as that user; a config it cannot read is exit 2, which RestartPreventExitStatus=2 makes final)
and owns its data folder; the secrets file is root's alone (systemd reads it as root). Played on a
model of the file system from the header's own commands, so no root is needed (review 43 D4)."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath

from tests.conftest import ROOT

UNIT = ROOT / "deploy" / "madoguchi.service"
CONTAINERFILE = ROOT / "deploy" / "Containerfile"


@dataclass(frozen=True)
class Node:
    owner: str
    group: str
    mode: int


def installed(header: list[str]) -> dict[PurePosixPath, Node]:
    """What the header's `install` commands leave, as GNU install does it: owner and group root and
    mode 0755 unless -o, -g, -m say otherwise."""
    nodes: dict[PurePosixPath, Node] = {}
    for line in header:
        words = shlex.split(line, comments=True)
        if words[:2] != ["sudo", "install"]:
            continue
        options = {"-o": "root", "-g": "root", "-m": "0755"}
        directory, rest, args = False, words[2:], []
        while rest:
            word = rest.pop(0)
            if word == "-d":
                directory = True
            elif word in options:
                options[word] = rest.pop(0)
            else:
                assert not word.startswith("-"), f"an option this test does not know: {line}"
                args.append(word)
        targets = args if directory else args[1:]  # a file: install SOURCE TARGET
        assert directory or len(args) == 2, f"give the file's full target path: {line}"
        for target in targets:
            nodes[PurePosixPath(target)] = Node(options["-o"], options["-g"], int(options["-m"], 8))
    return nodes


def allowed(node: Node, user: str, groups: set[str]) -> int:
    """The rwx bits `user` gets on `node` (0o4 read, 0o2 write, 0o1 enter or run)."""
    if user == "root":
        return 0o7
    if node.owner == user:
        return (node.mode >> 6) & 0o7
    if node.group in groups:
        return (node.mode >> 3) & 0o7
    return node.mode & 0o7


def can(
    nodes: dict[PurePosixPath, Node], user: str, groups: set[str], path: PurePosixPath, want: int
) -> bool:
    """`user` enters every folder on the way (those not installed are the system's, 0755 root) and has
    `want` on `path`."""
    system = Node("root", "root", 0o755)
    on_the_way = all(allowed(nodes.get(folder, system), user, groups) & 0o1 for folder in path.parents)
    return on_the_way and allowed(nodes[path], user, groups) & want == want


def unit() -> tuple[list[str], dict[str, str], str]:
    """The header's commented lines, the unit's settings, and the config file ExecStart serves."""
    lines = UNIT.read_text(encoding="utf-8").splitlines()
    header = [line[1:].strip() for line in lines[: lines.index("[Unit]")]]
    settings = dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))
    exec_start = shlex.split(settings["ExecStart"])
    return header, settings, exec_start[exec_start.index("--config") + 1]


def test_the_service_user_reads_the_config_and_only_root_reads_the_secrets() -> None:
    header, settings, config = unit()
    nodes = installed(header)
    user, groups = settings["User"], {settings["Group"]}
    # The user and its own group (Group=), made by the header.
    assert any("useradd --system --user-group " in line and line.endswith(f" {user}") for line in header)
    assert groups == {user}
    for command in (settings["ExecStartPre"], settings["ExecStart"]):
        assert not command.startswith(("+", "!")), "runs as User=: the checks below assume it"
        assert shlex.split(command)[-1] == config
    config_path = PurePosixPath(config)
    assert config_path in nodes, "the header installs the config file the unit serves"
    assert can(nodes, user, groups, config_path, 0o4), nodes
    assert not can(nodes, user, groups, config_path, 0o2)  # it cannot change its own configuration

    secrets = PurePosixPath(settings["EnvironmentFile"].lstrip("-"))
    assert secrets in nodes, "the header installs the secrets file the unit reads"
    assert not can(nodes, user, groups, secrets, 0o4)  # systemd reads it as root
    assert can(nodes, "root", set(), secrets, 0o4)

    # Other users of the machine: nothing of the configuration or the secrets.
    for path in (config_path.parent, config_path, secrets):
        assert nodes[path].mode & 0o007 == 0, (path, oct(nodes[path].mode))


def test_the_service_user_owns_its_data_folders_and_no_one_else_enters() -> None:
    header, settings, _ = unit()
    nodes = installed(header)
    user, groups = settings["User"], {settings["Group"]}
    for folder in settings["ReadWritePaths"].split():
        path = PurePosixPath(folder)
        assert path in nodes, f"the header creates {folder}"
        assert can(nodes, user, groups, path, 0o7)
        assert nodes[path].mode & 0o007 == 0, (folder, oct(nodes[path].mode))
    assert settings["UMask"] == "0077"


def test_the_container_volume_is_the_app_user_s_alone() -> None:
    text = CONTAINERFILE.read_text(encoding="utf-8").replace("\\\n", " ")
    user = next(line.split()[1] for line in text.splitlines() if line.startswith("USER "))
    run = next(line for line in text.splitlines() if line.startswith("RUN ") and "/data" in line)
    [command] = [c.split() for c in run.split("&&") if c.split()[:2] == ["install", "-d"] and "/data" in c]
    options = dict(zip(command[2:-1:2], command[3:-1:2], strict=True))
    assert command[-1] == "/data"
    assert options == {"-o": user, "-g": user, "-m": "0700"}, options
