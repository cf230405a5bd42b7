"""Build the Pillow layer: ``python build_layer.py [OUT.zip]`` pip-installs Pillow
into ``python/`` of a build directory, as wheels for this interpreter's platform and
version (run it with the Python the function's runtime uses: the runtime is named
after it, e.g. ``python3.11``), and zips it (default ``build/pillow-layer.zip``).
An existing zip is reused; delete it to rebuild."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_ZIP = HERE / "build" / "pillow-layer.zip"
REQUIREMENT = "Pillow>=10"


def runtime() -> str:
    """The Lambda runtime matching this interpreter (the layer's wheels are for it)."""
    return f"python{sys.version_info.major}.{sys.version_info.minor}"


def build_layer(out: Path = DEFAULT_ZIP) -> Path:
    """The layer zip at ``out``, built unless it exists; written to a temporary name
    and renamed, so an interrupted build leaves no half a zip."""
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as build:
        site = Path(build) / "python"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--target",
                str(site),
                REQUIREMENT,
            ],
            check=True,
        )
        shutil.rmtree(site / "bin", ignore_errors=True)
        partial = Path(build) / "layer.zip"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(site.rglob("*")):
                if path.is_file() and "__pycache__" not in path.parts:
                    archive.write(path, path.relative_to(build).as_posix())
        partial.replace(out)
    return out


if __name__ == "__main__":
    print(build_layer(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_ZIP))
