"""pixmap.notebook: a real notebook executed headless in a real kernel (nbclient): a build from a DataFrame of
20 demo paintings, result.show() gives an IFrame whose URL serves the map (fetched from here while the kernel
runs), pixmap.show() of the same folder reuses that server, and load() round-trips the ids and positions."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("pandas")
pytest.importorskip("ipykernel")

REPO = Path(__file__).resolve().parent.parent
IMAGES = REPO / "datasets" / "aic-paintings" / "images"

CELLS = [
    """import json, numpy as np, pandas as pd, pixmap
from pathlib import Path
paths = sorted(str(p) for p in Path(IMAGES).iterdir())[:20]
df = pd.DataFrame({"path": paths, "label": [["a", "b"][i % 2] for i in range(20)], "rank": list(range(20))})
result = pixmap.build(images=df, image_column="path", out_dir=OUT, cache_dir=CACHE, progress=False)""",
    """frame = result.show(height=450)
frame""",
    """again = pixmap.show(OUT, height=300)
print(json.dumps({"src": frame.src, "again": again.src, "height": frame.height}))""",
    """back = pixmap.load(OUT)
site = Path(OUT)
manifest = json.loads((site / "data" / "manifest.json").read_text())
ids = json.loads((site / "data" / "ids" / "0.json").read_text())
umap = np.fromfile(site / "data" / "layouts" / "umap.f32", dtype="<f4").reshape(-1, 2)
print(json.dumps({"ids": back["id"].tolist() == ids, "n": len(back),
                  "x": bool((back["umap_x"].to_numpy(np.float32) == umap[:, 0]).all()),
                  "y": bool((back["umap_y"].to_numpy(np.float32) == umap[:, 1]).all()),
                  "rank": sorted(back["rank"].tolist()) == list(range(20))}))""",
]


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.status, r.read()


def test_a_real_notebook_builds_shows_and_loads_a_map(tmp_path):
    out, cache = tmp_path / "map", tmp_path / "cache"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(f"IMAGES, OUT, CACHE = {str(IMAGES)!r}, {str(out)!r}, {str(cache)!r}")]
    nb.cells += [nbformat.v4.new_code_cell(src) for src in CELLS]
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            client.execute_cell(cell, index)
        # the IFrame cell displays an <iframe> to the local server
        shown = nb.cells[2].outputs[0]
        assert shown["output_type"] == "execute_result"
        html = shown["data"]["text/html"]
        assert "<iframe" in html and 'height="450"' in html
        info = json.loads(nb.cells[3].outputs[0]["text"])
        src = info["src"]
        assert src.startswith("http://127.0.0.1:") and src.endswith("/") and src in html
        assert info["again"] == src and info["height"] == 450   # one server per site, reused
        status, page = _get(src)     # the kernel's server serves the map while the kernel runs
        assert status == 200 and b'<canvas id="map"' in page and b'src="js/main.js"' in page
        status, body = _get(src + "data/manifest.json")
        manifest = json.loads(body)
        assert status == 200 and manifest["count"] == 20
        with pytest.raises(urllib.error.HTTPError):
            _get(src + ".pixmap-site")   # the same rules as `pixmap serve`
        loaded = json.loads(nb.cells[4].outputs[0]["text"])
        assert loaded == {"ids": True, "n": 20, "x": True, "y": True, "rank": True}
    with pytest.raises(OSError):     # the server stopped with the kernel
        _get(src + "data/manifest.json")
