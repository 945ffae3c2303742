"""`vendyz bench`: the flash-sale benchmark, side by side with the database's own limit.

runner.py runs it (`run_bench(BenchOptions(...)) -> dict`), load.py is the HTTP load
generator, database.py measures db_limit and reserve_path, report.py shapes the report and
command.py is the command line. Kept empty so `vendyz --help` imports nothing heavy.
"""
