"""The OpenAI-compatible Responses API over runs: request, objects, stream events."""
