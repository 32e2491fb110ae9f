"""Agents users configure: instructions, model, temperature, tool sources, versioned."""
