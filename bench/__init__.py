"""Benchmarks of Parley against baselines measured in the same run (issue 2): `make bench`."""
