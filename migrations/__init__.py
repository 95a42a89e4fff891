"""onair's Alembic scripts, shipped inside the package as `worker.migrations` (see setup.py).

Nothing imports from here: worker/store/migrate.py hands this folder to Alembic as its script location.
"""
