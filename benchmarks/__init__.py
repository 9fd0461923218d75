"""
Benchmarks of audit_logging against its peers, each in the same run (see ``README.md`` here).

``python -m benchmarks`` runs them all and prints one table; every ``bench_*.py`` also runs
on its own (``python benchmarks/bench_bus.py --quick``).
"""
