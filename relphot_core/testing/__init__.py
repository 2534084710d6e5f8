"""Synthetic data for the tests and the benchmarks (`relphot_core.testing.synth`).

Production modules never import this package (tested in
``tests/test_architecture.py``).
"""
