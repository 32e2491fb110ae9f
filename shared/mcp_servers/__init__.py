"""External MCP servers the operator configures (MCP_SERVERS_FILE) and agents may use."""
