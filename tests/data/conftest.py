import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "io"))
from geotiff_factory import make_geotiff, write_geotiff  # noqa: E402,F401  (fixture shared with tests/io)
