"""Runs: one chat turn each, from submit to a terminal status."""
