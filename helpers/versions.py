"""The first cell of every notebook prints the versions of the packages it uses."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version


def print_versions(packages: list[str]) -> None:
    """Print Python's version and each package's version (or 'not installed')."""
    print(f"python: {platform.python_version()}")
    for package in packages:
        try:
            print(f"{package}: {version(package)}")
        except PackageNotFoundError:
            print(f"{package}: not installed")
