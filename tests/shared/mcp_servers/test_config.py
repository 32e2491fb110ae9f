"""MCP_SERVERS_FILE: YAML or JSON, validated at start-up with a reason that names the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.mcp_servers.config import HttpServer, ServersFileError, StdioServer, load_servers

YAML = """
servers:
  - name: notes
    transport: streamable_http
    url: https://notes.example.com/mcp
    headers: {Authorization: "Bearer ${NOTES_TOKEN}"}
    timeout_seconds: 5
    allowed_tools: [search]
  - name: files
    transport: stdio
    command: npx
    args: ["-y", "@modelcontextprotocol/server-filesystem", "/srv"]
"""


def test_yaml_and_json_files_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTES_TOKEN", "s3cret")
    path = tmp_path / "servers.yaml"
    path.write_text(YAML)
    notes, files = load_servers(str(path)).servers
    assert isinstance(notes, HttpServer) and isinstance(files, StdioServer)
    assert notes.headers == {"Authorization": "Bearer s3cret"}  # the secret from the env
    assert (notes.timeout_seconds, notes.allowed_tools) == (5, ("search",))
    assert (files.command, files.timeout_seconds, files.allowed_tools) == ("npx", 30, None)

    bare = tmp_path / "servers.json"
    bare.write_text('[{"name": "a", "transport": "stdio", "command": "x"}]')
    assert [s.name for s in load_servers(str(bare)).servers] == ["a"]
    assert load_servers(None).servers == ()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("servers: [", "not valid JSON/YAML"),
        ("servers: [{name: a, transport: ftp}]", "servers.0"),
        ("servers: [{name: a__b, transport: stdio, command: x}]", "servers.0.stdio.name"),
        ("servers: [{name: a, transport: streamable_http, url: 'file:///x'}]", "url"),
        ("servers: [{name: a, transport: stdio, command: x, timeout_seconds: 0}]", "timeout"),
        (
            "servers: [{name: a, transport: stdio, command: x}, "
            "{name: a, transport: stdio, command: y}]",
            "unique: a",
        ),
        ("servers: [{name: a, transport: stdio, command: x, env: {K: '${NOPE_UNSET}'}}]", "NOPE"),
        ("servers: [{name: a, transport: stdio, command: x, colour: red}]", "colour"),
    ],
)
def test_an_invalid_file_says_where_and_why(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "servers.yaml"
    path.write_text(text)
    with pytest.raises(ServersFileError) as caught:
        load_servers(str(path))
    assert str(path) in str(caught.value) and reason in str(caught.value)


def test_a_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ServersFileError, match="cannot read"):
        load_servers(str(tmp_path / "absent.yaml"))
