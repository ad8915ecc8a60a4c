import fcntl
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from pixmap import features


def test_content_hash_depends_on_bytes_only():
    assert features.content_hash(b"abc") == features.content_hash(b"abc")
    assert features.content_hash(b"abc") != features.content_hash(b"abd")


def test_cache_round_trip_and_compaction(tmp_path, monkeypatch):
    key = features.model_key("efficientnet-lite0", "default")
    c = features.FeatureCache(tmp_path, key)
    assert c.get("a") is None
    c.put(["a", "b"], np.ones((2, 4), np.float32))
    c.save()
    c2 = features.FeatureCache(tmp_path, key)
    assert len(c2) == 2 and np.allclose(c2.get("b"), 1)
    monkeypatch.setattr(features, "MAX_SHARDS", 3)
    for i in range(5):
        c2.put([f"k{i}"], np.full((1, 4), i, np.float32))
        c2.save()
    assert len(list((tmp_path / key).glob("shard-*.npz"))) <= 3
    c3 = features.FeatureCache(tmp_path, key)
    assert len(c3) == 7 and c3.get("k4")[0] == 4


def test_damaged_shard_is_ignored(tmp_path):
    key = "m-default"
    (tmp_path / key).mkdir()
    (tmp_path / key / "shard-1.npz").write_bytes(b"not a zip")
    assert len(features.FeatureCache(tmp_path, key)) == 0


def test_model_key(tmp_path):
    w = tmp_path / "w.h5"
    w.write_bytes(b"123")
    k1 = features.model_key("resnet50", str(w))
    w.write_bytes(b"124")
    assert k1 != features.model_key("resnet50", str(w))
    # random weights are never cached
    c = features.FeatureCache(tmp_path, features.model_key("resnet50", None))
    c.put(["x"], np.zeros((1, 2)))
    c.save()
    assert not (tmp_path / "resnet50-random").exists()


# -- the appended, crash- and concurrency-safe cache ------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
KEY = "m-default"


def _vec(i, dim=4):
    return np.full((1, dim), i, np.float32)


def _shards(folder):
    return sorted(p for p in folder.glob("shard-*.npz") if not p.name.endswith(".tmp.npz"))


def _feature_warnings(caplog):
    return [r for r in caplog.records if r.name == features.__name__ and r.levelno >= logging.WARNING]


def _child(tmp_path, body: str, *args, **popen):
    """A real Python process running `body` with pixmap.features imported as `features`."""
    script = tmp_path / f"child_{time.time_ns()}.py"
    script.write_text("import os, signal, sys, time\nimport numpy as np\nfrom pixmap import features\n"
                      + textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], cwd=REPO, env=env, **popen)


def test_shard_appears_every_flush_every_puts_before_save(tmp_path):
    c = features.FeatureCache(tmp_path, KEY, flush_every=10)
    for i in range(9):
        c.put([f"k{i}"], _vec(i))
    assert not (tmp_path / KEY).exists() or _shards(tmp_path / KEY) == []
    c.put(["k9"], _vec(9))
    assert len(_shards(tmp_path / KEY)) == 1
    assert c._buf_keys == [] and c._buf_vecs == []  # no second copy kept after a flush
    assert len(features.FeatureCache(tmp_path, KEY)) == 10
    c.put(["k10", "k11"], np.concatenate([_vec(10), _vec(11)]))
    assert len(features.FeatureCache(tmp_path, KEY)) == 10
    c.flush()
    c.save()  # nothing left: no empty shard
    assert len(_shards(tmp_path / KEY)) == 2
    c2 = features.FeatureCache(tmp_path, KEY)
    assert len(c2) == 12 and c2.get("k11")[0] == 11 and c2.get("k3")[0] == 3
    assert c.writable and c.warning is None


def test_sigkill_after_n_puts_keeps_all_flushed_vectors(tmp_path):
    n, every = 37, 10
    p = _child(tmp_path, """
        c = features.FeatureCache(sys.argv[1], "m-default", flush_every=int(sys.argv[3]))
        for i in range(int(sys.argv[2])):
            c.put([f"k{i}"], np.full((1, 4), i, np.float32))
        os.kill(os.getpid(), signal.SIGKILL)
    """, tmp_path, n, every)
    assert p.wait(timeout=60) == -signal.SIGKILL
    c = features.FeatureCache(tmp_path, KEY)
    assert len(c) >= n - every
    for i in range(len(c)):
        assert c.get(f"k{i}")[0] == i


def test_sigkill_at_any_moment_leaves_no_damaged_file(tmp_path, monkeypatch, caplog):
    """Killed while writing shards and compacting, again and again: every file a reader sees is whole."""
    monkeypatch.setattr(features, "MAX_SHARDS", 3)
    start, expected = 0, []
    for delay in (0.05, 0.2, 0.35, 0.5):
        p = _child(tmp_path, """
            features.MAX_SHARDS = 3
            c = features.FeatureCache(sys.argv[1], "m-default", flush_every=3)
            i = start = int(sys.argv[2])
            while True:
                c.put([f"k{i}"], np.full((1, 64), i, np.float32))
                i += 1
                if (i - start) % 3 == 0:  # just flushed
                    print(i, flush=True)
        """, tmp_path, start, stdout=subprocess.PIPE, text=True)
        first = int(p.stdout.readline())  # it has started writing
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        out = p.stdout.read().split()
        p.wait(timeout=30)
        flushed = int(out[-1]) if out else first
        with caplog.at_level(logging.WARNING):
            c = features.FeatureCache(tmp_path, KEY)
        assert _feature_warnings(caplog) == []
        expected += range(start, flushed)
        for i in expected:  # every vector of a completed flush survived, in this round and earlier ones
            assert c.get(f"k{i}") is not None and c.get(f"k{i}")[0] == i, (delay, i, flushed)
        start = flushed + 1000
    for shard in _shards(tmp_path / KEY):
        with np.load(shard) as z:
            assert len(z["keys"]) == len(z["vectors"])


def test_two_processes_writing_and_compacting_at_once(tmp_path, caplog):
    n = 150
    body = """
        features.MAX_SHARDS = 2
        go = float(sys.argv[3])
        while time.time() < go:
            time.sleep(0.001)
        c = features.FeatureCache(sys.argv[1], "m-default", flush_every=2)
        for i in range(int(sys.argv[4])):
            c.put([f"{sys.argv[2]}{i}"], np.full((1, 8), i, np.float32))
        c.save()
        assert c.writable and c.warning is None, c.warning
    """
    go = time.time() + 3  # both interpreters are up by then, and start together
    procs = [_child(tmp_path, body, tmp_path, tag, go, n) for tag in ("a", "b")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    with caplog.at_level(logging.WARNING):
        c = features.FeatureCache(tmp_path, KEY)
    assert _feature_warnings(caplog) == []
    assert len(c) == 2 * n
    for tag in ("a", "b"):
        for i in range(n):
            assert c.get(f"{tag}{i}")[0] == i
    folder = tmp_path / KEY
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    assert len(_shards(folder)) <= 4  # compacted (each process may have left a last shard or two)
    for shard in _shards(folder):
        with np.load(shard) as z:
            assert len(z["keys"]) == len(z["vectors"])


def test_compaction_is_skipped_while_another_holds_the_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(features, "MAX_SHARDS", 2)
    folder = tmp_path / KEY
    folder.mkdir()
    c = features.FeatureCache(tmp_path, KEY, flush_every=1)
    with open(folder / ".lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as another process compacting would
        for i in range(5):
            c.put([f"k{i}"], _vec(i))
        assert len(_shards(folder)) == 5
    c.put(["k5"], _vec(5))
    assert len(_shards(folder)) <= 2
    assert len(features.FeatureCache(tmp_path, KEY)) == 6


def test_compaction_merges_the_small_shards_and_deletes_only_those(tmp_path, monkeypatch):
    monkeypatch.setattr(features, "MAX_SHARDS", 4)
    c = features.FeatureCache(tmp_path, KEY)
    c.put([f"big{i}" for i in range(500)], np.ones((500, 4), np.float32))
    c.save()
    folder = tmp_path / KEY
    big = _shards(folder)[0]
    for i in range(4):
        c.put([f"k{i}"], _vec(i))
        c.save()
    assert len(_shards(folder)) <= 4 and big.exists()  # the large shard is not rewritten for small ones
    # a shard another process wrote (not in this one's index) is merged from disk
    other = features.FeatureCache(tmp_path, KEY)
    other.put(["x"], _vec(42))
    other.save()
    c.put(["y"], _vec(43))
    c.save()
    c2 = features.FeatureCache(tmp_path, KEY)
    assert len(c2) == 506 and c2.get("x")[0] == 42 and c2.get("y")[0] == 43


def test_damaged_shard_is_a_warning_and_compacted_away(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(features, "MAX_SHARDS", 2)
    folder = tmp_path / KEY
    folder.mkdir()
    (folder / "shard-1.npz").write_bytes(b"not a zip")
    with caplog.at_level(logging.WARNING):
        c = features.FeatureCache(tmp_path, KEY, flush_every=1)
        assert len(_feature_warnings(caplog)) == 1
        for i in range(3):
            c.put([f"k{i}"], _vec(i))
    assert not (folder / "shard-1.npz").exists()
    assert c.writable and c.warning is None
    assert len(features.FeatureCache(tmp_path, KEY)) == 3


def _unwritable_cases(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("in the way")
    cases = {"file in place of the folder": blocker, "folder under a file": blocker / "sub"}
    return cases


@pytest.mark.parametrize("case", ["file in place of the folder", "folder under a file", "key folder is a file"])
def test_unwritable_cache_folder_is_one_warning(tmp_path, caplog, case):
    if case == "key folder is a file":
        cache_dir = tmp_path / "cache"
        cache_dir.mkdir()
        (cache_dir / KEY).write_text("in the way")
    else:
        cache_dir = _unwritable_cases(tmp_path)[case]
    with caplog.at_level(logging.WARNING):
        c = features.FeatureCache(cache_dir, KEY, flush_every=3)
        for i in range(10):
            c.put([f"k{i}"], _vec(i))
        c.save()
        c.flush()
    warnings = _feature_warnings(caplog)
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    assert c.warning == warnings[0].getMessage()
    assert str(Path(cache_dir) / KEY) in c.warning
    assert "--cache-dir" in c.warning and "--cache-dir none" in c.warning
    assert not c.writable
    assert len(c) == 10 and c.get("k7")[0] == 7  # what is in memory still serves the build
    assert c._buf_keys == []


def _chmod_stops_me(tmp_path) -> bool:
    """False where file modes do not apply (root, CAP_DAC_OVERRIDE): then a file in the way is the test."""
    probe = tmp_path / "probe"
    probe.mkdir()
    probe.chmod(0o500)
    try:
        (probe / "x").write_text("")
    except PermissionError:
        return True
    finally:
        probe.chmod(0o700)
    return False


def test_read_only_cache_folder_still_reads_and_warns_once(tmp_path, caplog):
    if not _chmod_stops_me(tmp_path):
        pytest.skip("file modes do not stop this user (root)")
    c = features.FeatureCache(tmp_path, KEY)
    c.put(["old"], _vec(1))
    c.save()
    folder = tmp_path / KEY
    folder.chmod(0o500)
    try:
        with caplog.at_level(logging.WARNING):
            c = features.FeatureCache(tmp_path, KEY, flush_every=2)
            assert c.get("old")[0] == 1
            for i in range(7):
                c.put([f"k{i}"], _vec(i))
            c.save()
        assert len(_feature_warnings(caplog)) == 1
        assert "Permission denied" in c.warning and not c.writable
        assert c.get("k6")[0] == 6
    finally:
        folder.chmod(0o700)


def test_unlistable_cache_folder_warns_once(tmp_path, caplog):
    if not _chmod_stops_me(tmp_path):
        pytest.skip("file modes do not stop this user (root)")
    folder = tmp_path / KEY
    folder.mkdir()
    folder.chmod(0)
    try:
        with caplog.at_level(logging.WARNING):
            c = features.FeatureCache(tmp_path, KEY, flush_every=1)
            c.put(["a"], _vec(1))
            c.save()
        assert len(_feature_warnings(caplog)) == 1 and not c.writable
        assert c.get("a")[0] == 1
    finally:
        folder.chmod(0o700)


def test_leftover_temp_files_are_ignored_then_cleaned(tmp_path, monkeypatch, caplog):
    c = features.FeatureCache(tmp_path, KEY)
    c.put(["a", "b"], np.ones((2, 4), np.float32))
    c.save()
    folder = tmp_path / KEY
    whole = _shards(folder)[0].read_bytes()
    stale = folder / ".tmp-123-4-deadbeef.npz"         # a killed writer's half shard
    stale.write_bytes(whole[: len(whole) // 2])
    legacy = folder / "shard-99.tmp.npz"                 # the same, from an older version
    legacy.write_bytes(whole[:100])
    fresh = folder / ".tmp-456-7-cafef00d.npz"           # a live writer's, right now
    fresh.write_bytes(whole[:10])
    hour_ago = time.time() - 2 * features.STALE_TMP_S
    os.utime(stale, (hour_ago, hour_ago))
    os.utime(legacy, (hour_ago, hour_ago))
    with caplog.at_level(logging.WARNING):
        c = features.FeatureCache(tmp_path, KEY)
    assert _feature_warnings(caplog) == [] and len(c) == 2
    assert not stale.exists() and not legacy.exists() and fresh.exists()
    # and compaction never merges or deletes a temp file that is not stale
    monkeypatch.setattr(features, "MAX_SHARDS", 1)
    c.put(["c"], _vec(3))
    c.save()
    assert fresh.exists() and len(features.FeatureCache(tmp_path, KEY)) == 3


# -- the lazy index: vectors read from their shard when asked for ------------------------------------------

def _fill(tmp_path, n, dim, flush_every=1000):
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(n, dim)).astype(np.float32)
    c = features.FeatureCache(tmp_path, KEY, flush_every=flush_every)
    c.put([f"k{i}" for i in range(n)], vecs)
    c.save()
    return vecs


def test_vectors_are_read_from_disk_only_when_asked_for(tmp_path):
    """Opening a cache of 4,000 vectors of 1,000 floats (16 MB) allocates a small index, not the
    vectors; get() then returns each one exactly."""
    import tracemalloc

    vecs = _fill(tmp_path, 4000, 1000)
    tracemalloc.start()
    try:
        c = features.FeatureCache(tmp_path, KEY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < vecs.nbytes / 8, peak          # ~16 MB of vectors; the index is ~100 KB
    assert len(c) == 4000 and "k3999" in c and "nope" not in c
    for i in (0, 1, 1234, 3999):
        got = c.get(f"k{i}")
        assert got.dtype == np.float32 and np.array_equal(got, vecs[i])
        got[0] = 1e9                               # a copy: the caller may change it
    assert c.get("k0")[0] == vecs[0, 0] and c.get("nope") is None


def test_a_shard_compacted_away_by_another_process_stays_readable(tmp_path, monkeypatch):
    monkeypatch.setattr(features, "MAX_SHARDS", 2)
    reader = features.FeatureCache(tmp_path, KEY)  # empty now; sees nothing new until it looks again
    writer = features.FeatureCache(tmp_path, KEY, flush_every=1)
    for i in range(2):
        writer.put([f"k{i}"], _vec(i))
    before = set(_shards(tmp_path / KEY))
    reader = features.FeatureCache(tmp_path, KEY)  # indexes the 2 shards
    for i in range(2, 6):                         # the writer compacts them away
        writer.put([f"k{i}"], _vec(i))
    assert not before & set(_shards(tmp_path / KEY))
    assert [reader.get(f"k{i}")[0] for i in range(2)] == [0, 1]
    assert reader.get("k5") is None               # written after it indexed the folder
    assert [features.FeatureCache(tmp_path, KEY).get(f"k{i}")[0] for i in range(6)] == list(range(6))


def test_shards_with_compressed_vectors_are_still_read(tmp_path):
    """Shards written by np.savez_compressed (or another dtype) are read into memory once."""
    folder = tmp_path / KEY
    folder.mkdir()
    np.savez_compressed(folder / "shard-1-0-a.npz", keys=np.array(["a", "b"]),
                        vectors=np.array([[1, 2], [3, 4]], np.float32))
    np.savez(folder / "shard-2-0-b.npz", keys=np.array(["c"]), vectors=np.array([[5, 6]], np.float64))
    c = features.FeatureCache(tmp_path, KEY)
    assert len(c) == 3
    assert c.get("a").tolist() == [1, 2] and c.get("b").tolist() == [3, 4] and c.get("c").tolist() == [5, 6]
    c.put(["d"], np.array([[7, 8]], np.float32))
    c.save()
    assert features.FeatureCache(tmp_path, KEY).get("d").tolist() == [7, 8]


def test_cache_with_caching_off_keeps_a_bounded_number_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(features, "MEMORY_MAX", 5)
    c = features.FeatureCache(None, KEY)
    for i in range(8):
        c.put([f"k{i}"], _vec(i))
    assert [c.get(f"k{i}")[0] for i in range(5)] == list(range(5))
    assert c.get("k7") is None and len(c) == 5


def _mp_writer(folder, tag, n, start_at, shared):
    """One of two processes (multiprocessing, spawn) writing to one cache folder at once: its own keys
    and, for half of them, keys the other process writes too (same key, same vector), compacting often;
    halfway it opens the folder again and reads back everything it wrote so far."""
    features.MAX_SHARDS = 3
    while time.time() < start_at:
        time.sleep(0.001)
    c = features.FeatureCache(folder, KEY, flush_every=7)
    for i in range(n):
        c.put([f"{tag}{i}", f"shared{i}"], np.stack([np.full(16, i, np.float32),
                                                     np.full(16, -i, np.float32)]))
        if i == n // 2:
            c.save()
            again = features.FeatureCache(folder, KEY)
            for j in range(i + 1):
                assert again.get(f"{tag}{j}")[0] == j and again.get(f"shared{j}")[0] == -j
    c.save()
    assert c.writable and c.warning is None, c.warning
    shared.put(tag)


def test_two_processes_share_one_cache_folder_with_multiprocessing(tmp_path, caplog):
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    done = ctx.Queue()
    n = 200
    start_at = time.time() + 4  # both interpreters are up by then, and start together
    procs = [ctx.Process(target=_mp_writer, args=(tmp_path, tag, n, start_at, done)) for tag in ("a", "b")]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0]
    assert sorted(done.get(timeout=5) for _ in procs) == ["a", "b"]
    with caplog.at_level(logging.WARNING):
        c = features.FeatureCache(tmp_path, KEY)
    assert _feature_warnings(caplog) == []
    assert len(c) == 3 * n
    for i in range(n):
        assert c.get(f"a{i}")[0] == i and c.get(f"b{i}")[0] == i and c.get(f"shared{i}")[0] == -i
    folder = tmp_path / KEY
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    for shard in _shards(folder):
        with np.load(shard) as z:
            assert len(z["keys"]) == len(z["vectors"]) == len(set(z["keys"].tolist()))


def test_get_from_threads_while_another_thread_flushes_and_compacts(tmp_path, monkeypatch):
    """Readers never miss a vector that was put, whether it is in the buffer, being flushed, or in a
    shard that a compaction is replacing."""
    import threading

    monkeypatch.setattr(features, "MAX_SHARDS", 3)
    c = features.FeatureCache(tmp_path, KEY, flush_every=5)
    written = [0]
    stop = threading.Event()
    errors = []

    def reader(seed):
        rng = np.random.default_rng(seed)
        while not stop.is_set():
            upto = written[0]
            if upto:
                i = int(rng.integers(0, upto))
                v = c.get(f"k{i}")
                if v is None or v[0] != i:
                    errors.append((i, None if v is None else v[0]))

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(400):
            c.put([f"k{i}"], _vec(i))
            written[0] = i + 1
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    assert len(_shards(tmp_path / KEY)) <= 3 + 1
