"""The benchmark suite behind ``./dev bench`` (entry point: ``benchmarks/run_all.py``): one module per
row or pair of rows, the table and ``RESULTS.md`` formatting, machine facts, the harness runner."""
