"""The image pass on a Dask cluster (pixmap.distributed): a real LocalCluster of 2 worker processes, the real
model on the workers, compared with a local build of the same images."""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import pixmap
from pixmap import distributed, models
from pixmap.options import DEFAULTS
from pixmap.pipeline import BuildError
from pixmap.site import read_metadata

from .badimages import make_bad_folder

DEMO = Path(__file__).resolve().parent.parent / "datasets" / "aic-paintings"


# ---- the option, without a cluster ---------------------------------------------------------------------

def test_dask_values_are_parsed():
    assert distributed.parse("local:2") == ("local", 2)
    assert distributed.parse("LOCAL:3") == ("local", 3)
    assert distributed.parse("local")[0] == "local"
    assert distributed.parse("tcp://scheduler:8786") == ("address", "tcp://scheduler:8786")
    assert distributed.parse("scheduler:8786") == ("address", "tcp://scheduler:8786")
    assert distributed.parse("tls://10.0.0.1:8786") == ("address", "tls://10.0.0.1:8786")
    assert distributed.parse("scheduler.json")[0] == "file"


@pytest.mark.parametrize("value, says", [
    ("local:0", "at least 1 worker"),
    ("local:four", "local:N"),
    ("ftp://host:21", "scheme"),
    ("just words", "local:N"),
    (42, "Client or a string"),
])
def test_bad_dask_values_say_what_to_give(value, says):
    with pytest.raises(distributed.DaskError, match=says):
        distributed.parse(value)


def test_a_bad_dask_value_fails_the_build_before_any_work(tmp_path):
    with pytest.raises(BuildError, match="local:N"):
        pixmap.build(images=DEMO, out_dir=tmp_path / "site", dask="local:many", progress=False)
    assert not (tmp_path / "site").exists()


def test_an_unreachable_scheduler_says_what_to_do():
    with socket.socket() as s:   # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(distributed.DaskError) as err:
        distributed.connect(f"tcp://127.0.0.1:{port}", timeout=2)
    assert time.monotonic() - t0 < 30
    text = str(err.value)
    assert f"127.0.0.1:{port}" in text and "dask scheduler" in text and "local:N" in text


def test_partition_size_follows_the_collection_and_the_workers():
    assert distributed.partition_size(267, 2, 32) == 64          # ~4 tasks per worker, whole batches
    assert distributed.partition_size(10, 8, 32) == 32           # never under one batch
    assert distributed.partition_size(10_000_000, 4, 32) == distributed.MAX_PARTITION
    assert distributed.partition_size(267, 2, 32, given=10) == 10   # --partition-size


# ---- a real cluster ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    """A LocalCluster of 2 worker processes (1 thread each) and its Client."""
    from distributed import Client, LocalCluster

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env = distributed._EnvironRestorer()   # (the nanny's worker settings must not reach later tests' processes)
    lc = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR)
    env.close()
    client = Client(lc, set_as_default=False)
    yield client
    client.close()
    lc.close()
    env.close()


def test_a_local_cluster_leaves_this_process_s_environment_as_it_was():
    """Dask's nanny writes its workers' settings (OMP/OPENBLAS_NUM_THREADS=1, PYTHONHASHSEED) into the parent's
    os.environ; every process the user starts afterwards would inherit a one-thread BLAS."""
    before = dict(os.environ)
    client, owned = distributed.connect("local:1")
    try:
        assert dict(os.environ) == before
        assert client.run(lambda: os.environ.get("OPENBLAS_NUM_THREADS")) != {}   # the workers have theirs
    finally:
        distributed.close(owned)
    assert dict(os.environ) == before


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """One cache folder for every build here, its converted model made before any build (so that every
    process loads the same model file, the way later builds do)."""
    folder = tmp_path_factory.mktemp("dask-cache")
    models.load_from_options({**DEFAULTS, "model_cache_dir": str(folder)})
    return folder


def _forget_vectors(cache_dir: Path) -> None:
    """Empty the feature cache (keep the converted model), so the next build computes every vector."""
    for sub in cache_dir.iterdir():
        if sub.is_dir() and sub.name not in ("models", "iiif"):
            shutil.rmtree(sub)


@pytest.fixture(scope="module")
def local_demo(tmp_path_factory, cache_dir):
    """A local build of the whole demo, computed from a cold feature cache."""
    _forget_vectors(cache_dir)
    tmp = tmp_path_factory.mktemp("local-demo")
    return pixmap.build(images=DEMO, metadata=DEMO / "metadata.csv", out_dir=tmp / "site", cache_dir=cache_dir,
                        progress=False)


def _lightbox_files(site: Path) -> set[str]:
    return {p.relative_to(site).as_posix() for p in (site / "data" / "lightbox").rglob("*.webp")}


def test_the_demo_on_two_workers_gives_the_local_build_s_map(tmp_path, cluster, cache_dir, local_demo, caplog):
    _forget_vectors(cache_dir)   # the workers compute every vector
    caplog.set_level(logging.INFO, logger="pixmap")
    res = pixmap.build(images=DEMO, metadata=DEMO / "metadata.csv", out_dir=tmp_path / "site", cache_dir=cache_dir,
                       progress=False, dask=cluster)
    assert "written by the workers" in caplog.text   # auto: the workers see the site folder
    assert res.n_images == local_demo.n_images == 267
    assert res.n_computed == 267                      # made on the workers, cached by the client
    loads = cluster.run(distributed.model_loads)
    assert sorted(loads.values()) == [1, 1], loads    # the model loaded once per worker, not per task
    a, b = local_demo.artifacts_dir, res.artifacts_dir
    md_a, md_b = read_metadata(local_demo.out_dir), read_metadata(res.out_dir)
    assert md_b["ids"] == md_a["ids"] and md_b["rows"] == md_a["rows"]
    fa, fb = np.load(a / "features.npy"), np.load(b / "features.npy")
    np.testing.assert_allclose(fb, fa, rtol=0, atol=1e-5 * float(np.abs(fa).max()))
    for lay in ("umap", "grid", "umap-3d"):
        pa, pb = np.load(a / f"layout_{lay}.npy"), np.load(b / f"layout_{lay}.npy")
        np.testing.assert_allclose(pb, pa, rtol=0, atol=1e-4 * float(np.ptp(pa)), err_msg=lay)
    ma = json.loads((local_demo.out_dir / "data" / "manifest.json").read_text())
    mb = json.loads((res.out_dir / "data" / "manifest.json").read_text())
    assert mb["clusters"]["hotspots"] == ma["clusters"]["hotspots"]
    assert np.array_equal(np.load(b / "clusters.npy"), np.load(a / "clusters.npy"))
    assert mb["atlas"] == ma["atlas"]
    assert _lightbox_files(res.out_dir) == _lightbox_files(local_demo.out_dir)
    cfg = json.loads((b / "config.json").read_text())
    assert cfg["options"]["dask"] == cluster.scheduler.address   # a Client is written as its address

    # the vectors went into the cache under the local build's keys: a local rebuild computes none
    again = pixmap.build(images=DEMO, max_images=20, out_dir=tmp_path / "again", cache_dir=cache_dir, progress=False)
    assert again.n_computed == 0 and not again.model_loaded


def test_bad_inputs_are_reported_as_in_a_local_build_with_files_sent_to_the_client(tmp_path, cluster, cache_dir,
                                                                                    caplog):
    info = make_bad_folder(tmp_path / "photos")
    local = pixmap.build(images=info["root"], out_dir=tmp_path / "local", cache_dir=cache_dir, progress=False)
    caplog.set_level(logging.INFO, logger="pixmap")
    res = pixmap.build(images=info["root"], out_dir=tmp_path / "dask", cache_dir=cache_dir, progress=False,
                       dask=cluster, dask_transfer="client", partition_size=3)
    assert "sent to the client" in caplog.text
    assert res.skipped == local.skipped and len(res.skipped) == len(info["bad"])
    assert read_metadata(res.out_dir)["ids"] == read_metadata(local.out_dir)["ids"]
    assert sorted(r[0] for r in read_metadata(res.out_dir)["rows"]) == sorted(info["good"])
    assert _lightbox_files(res.out_dir) == _lightbox_files(local.out_dir)
    thumbs = list((res.out_dir / "data" / "thumbs").rglob("*.webp"))
    assert len(thumbs) == res.n_images


def test_a_worker_killed_mid_build_still_gives_a_complete_map(tmp_path, cluster, cache_dir, local_demo):
    """One worker process is SIGKILLed once the first images are written: its tasks run again elsewhere
    (the nanny starts a new worker), and the map is complete and the same."""
    _forget_vectors(cache_dir)   # cold: the workers have the model to run, so the build takes a while
    pids = set(cluster.run(os.getpid).values())
    assert len(pids) == 2
    victim = sorted(pids)[0]
    killed, stop = threading.Event(), threading.Event()

    def kill_when_started():
        while not stop.is_set():
            if sum(1 for _ in tmp_path.rglob("lightbox/*/*.webp")) >= 24:
                os.kill(victim, signal.SIGKILL)
                killed.set()
                return
            time.sleep(0.05)

    watcher = threading.Thread(target=kill_when_started, daemon=True)
    watcher.start()
    n = 120
    res = pixmap.build(images=DEMO, max_images=n, out_dir=tmp_path / "site", cache_dir=cache_dir, progress=False,
                       dask=cluster, partition_size=8)
    stop.set()
    watcher.join(timeout=5)
    assert killed.is_set(), "the build ended before a worker could be killed"
    assert res.n_images == n and res.skipped == []
    assert victim not in set(cluster.run(os.getpid).values())   # it really died (and was replaced)
    ids = read_metadata(res.out_dir)["ids"]
    assert ids == read_metadata(local_demo.out_dir)["ids"][:n]
    fa = np.load(local_demo.artifacts_dir / "features.npy")[:n]
    np.testing.assert_allclose(np.load(res.artifacts_dir / "features.npy"), fa, rtol=0,
                               atol=1e-5 * float(np.abs(fa).max()))
    assert len(_lightbox_files(res.out_dir)) == n
    cells = np.fromfile(res.out_dir / "data" / "atlas" / "cells.u16", "<u2").reshape(-1, 5)
    assert cells.shape == (n, 5) and (cells[:, 3] > 0).all()


def test_ctrl_c_cancels_the_work_left_on_the_cluster(tmp_path, cluster, cache_dir):
    """KeyboardInterrupt on the client (here from the --vectors callback, called as results come in)
    stops the pass, and no task of it is left on the cluster."""
    from pixmap import features, imagepass, sources

    _, srcs = sources.find_images(DEMO, max_images=60)
    cache = features.FeatureCache(cache_dir, features.model_key("efficientnet-lite0", "default"))
    opts = {**DEFAULTS, "thumb_size": 64, "dask": cluster, "partition_size": 2}
    calls = []

    def interrupt_soon(_src):
        calls.append(1)
        if len(calls) == 40:   # the submissions (up to 6 partitions) and a few results in
            raise KeyboardInterrupt
        return None

    with pytest.raises(KeyboardInterrupt):
        imagepass.run(srcs, tmp_path / "data", opts, cache, cell_size=32, progress=False,
                      features_path=tmp_path / "features.npy", vectors_for=interrupt_soon)
    assert len(calls) == 40   # stopped there: the rest of the 60 images was not taken in

    def pixmap_tasks(dask_scheduler):
        return sum(1 for key in dask_scheduler.tasks if "pixmap-images" in str(key))

    deadline = time.monotonic() + 30
    while cluster.run_on_scheduler(pixmap_tasks) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert cluster.run_on_scheduler(pixmap_tasks) == 0
