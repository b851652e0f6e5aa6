"""Where the project keeps its data and its outputs."""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
OUTPUT_DIR = PROJECT_ROOT / "outputs"


def output_path(*parts: str) -> Path:
    """Return a path under the git-ignored `outputs/` folder, creating its parent folders."""
    path = OUTPUT_DIR.joinpath(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path
