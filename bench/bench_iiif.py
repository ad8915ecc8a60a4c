"""IIIF benchmark: a 1,000-canvas manifest served from 127.0.0.1, built end to end in this process.

Prints images/s end to end, the stages, and the share of the image pass that decoding spent waiting for
downloads, without added latency and with 100 ms added to every request (as from a museum's server far
away). Each canvas's image is made distinct (a small mark derived from its identifier on top of one of
the demo paintings), so every image is downloaded, decoded, packed and run through the model: nothing is
served from the feature cache. The server answers the timed build from memory (a first, untimed build
made it render every answer), because it shares this machine's cores. What it leaves out: real servers'
throughput limits and TLS handshakes, and big originals (each answer is a ~1024 px JPEG of ~100 KB).

    python bench/bench_iiif.py               # 1,000 canvases, latency 0 and 100 ms
    python bench/bench_iiif.py --n 200 --latency 0.1
"""
from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def distinct_images(server_cls) -> None:
    """Stamp every rendered image with a mark derived from its identifier (distinct content)."""
    from PIL import ImageDraw

    original = server_cls._render

    def render(self, key, full, region, size):
        im = original(self, key, full, region, size)
        digest = hashlib.sha1(key.encode()).digest()
        draw = ImageDraw.Draw(im)
        w, h = im.size
        for k in range(6):
            colour = tuple(digest[3 * k: 3 * k + 3])
            draw.rectangle([k * w // 6, 0, (k + 1) * w // 6, max(2, h // 8)], fill=colour)
        return im

    server_cls._render = render


def answers_from_memory(server_cls) -> None:
    """Keep every image answer the server rendered, so a second build is served from memory: the local
    server shares this machine's two cores, and rendering costs more than the build's own decoding."""
    original = server_cls._image_request
    memo: dict = {}

    def image_request(self, *args):
        if args not in memo:
            memo[args] = original(self, *args)
        return memo[args]

    server_cls._image_request = image_request


def run(n: int, latency: float, workers: int) -> dict:
    import pixmap
    from tests.iiif_server import PAINTINGS, SHARED_IIIF, IIIFServer

    with tempfile.TemporaryDirectory() as tmp, IIIFServer(SHARED_IIIF, PAINTINGS, latency=latency) as srv:
        url = srv.synthetic_manifest_url(n, version=3)
        # a first build fills the server's memory of its answers (untimed); the timed build starts from
        # an empty cache of its own, so it downloads, decodes and runs the model on every image again
        pixmap.build(iiif=url, out_dir=Path(tmp) / "warm", cache_dir=Path(tmp) / "warm-cache",
                     progress=False, layouts="umap", download_workers=workers)
        srv.clear_requests()
        t = time.perf_counter()
        res = pixmap.build(iiif=url, out_dir=Path(tmp) / "map", cache_dir=Path(tmp) / "cache",
                           progress=False, layouts="umap", download_workers=workers)
        total = time.perf_counter() - t
        pass_s = res.timings["images_and_features"]
        wait = res.timings.get("download_wait", 0.0)
        return {"n": res.n_images, "skipped": len(res.skipped), "latency_ms": latency * 1000, "total_s": total,
                "img_per_s": res.n_images / total, "image_pass_s": pass_s, "model_s": res.timings["model_inference"],
                "download_wait_s": wait, "wait_share": wait / pass_s if pass_s else 0.0,
                "requests": len(srv.requests), "max_in_flight": srv.max_in_flight}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1000, help="canvases in the manifest")
    ap.add_argument("--latency", type=float, action="append", help="seconds added per request (repeatable)")
    ap.add_argument("--workers", type=int, default=8, help="--download-workers")
    args = ap.parse_args()
    from tests.iiif_server import IIIFServer

    distinct_images(IIIFServer)
    answers_from_memory(IIIFServer)
    for latency in args.latency or [0.0, 0.1]:
        r = run(args.n, latency, args.workers)
        print(f"{r['n']} IIIF images (latency {r['latency_ms']:.0f} ms, {args.workers} download workers): "
              f"{r['total_s']:.1f} s end to end = {r['img_per_s']:.1f} img/s; image pass {r['image_pass_s']:.1f} s "
              f"(model {r['model_s']:.1f} s), decoding waited on the network {r['download_wait_s']:.1f} s = "
              f"{100 * r['wait_share']:.0f}% of the pass; {r['requests']} requests, at most "
              f"{r['max_in_flight']} at once; {r['skipped']} skipped", flush=True)


if __name__ == "__main__":
    main()
