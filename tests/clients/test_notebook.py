"""examples/notebook.py against the demo server, as a user runs it; then
the charts it wrote must be real images with something drawn on them."""

import os
import runpy
import shutil
from pathlib import Path

from PIL import Image

root = Path(__file__).resolve().parents[2]
out = root / "target" / "clients" / "notebook"
shutil.rmtree(out, ignore_errors=True)
os.environ["QUARRY_URL"] = (
    f"postgresql+psycopg://quarry@127.0.0.1:{os.environ['QUARRY_DEMO_PORT']}/quarry"
)
os.environ["QUARRY_NOTEBOOK_OUT"] = str(out)
# The demo server is plain and trusts local connections.
os.environ.pop("PGSSLMODE", None)
os.environ.pop("PGPASSWORD", None)
runpy.run_path(str(root / "examples" / "notebook.py"), run_name="__main__")

for name in ["roc.png", "lift.png", "drift.png"]:
    path = out / name
    assert path.is_file() and path.stat().st_size > 0, f"{name} was not written"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        width, height = image.size
        assert width >= 300 and height >= 300, (name, image.size)
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 10, f"{name} is blank"
print("notebook: ok")
