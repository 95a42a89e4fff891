"""Package layout that pyproject.toml cannot say on its own.

The Alembic scripts stay in the top-level `migrations/` folder (where `alembic` and reviewers look for
them) but ship inside the package as `worker.migrations`, so a wheel and an editable install find them
the same way (worker/store/migrate.py). `packages.find` only finds folders under `worker/`, hence the
mapping here; every other setting is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["worker", "worker.*"]),
        "worker.migrations",
        "worker.migrations.versions",
    ],
    package_dir={"worker.migrations": "migrations", "worker.migrations.versions": "migrations/versions"},
    package_data={
        "worker": ["py.typed", "**/*.ini", "**/*.mako", "web/templates/*.html", "web/static/*"],
        "worker.migrations": ["script.py.mako"],
    },
)
