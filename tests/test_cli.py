import click
from click.testing import CliRunner

from pixmap.cli import main

from .conftest import DEMO


def test_every_option_has_help():
    for name, cmd in main.commands.items():
        for p in cmd.params:
            if isinstance(p, click.Option):
                assert p.help and len(p.help) > 10, f"pixmap {name} {p.opts} has no help text"
        out = CliRunner().invoke(main, [name, "--help"])
        assert out.exit_code == 0 and "Usage" in out.output


def test_build_command_end_to_end_and_refuses_to_overwrite(tmp_path):
    out = tmp_path / "map"
    args = ["build", "--images", str(DEMO / "images"), "--out", str(out), "--max-images", "12", "--quiet",
            "--cache-dir", str(tmp_path / "cache")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    assert "Map of 12 images" in r.output and (out / "data" / "manifest.json").exists()
    r = CliRunner().invoke(main, args)
    assert r.exit_code != 0 and "--force" in r.output
    r = CliRunner().invoke(main, args + ["--force"])
    assert r.exit_code == 0, r.output


def test_bad_metadata_file_names_the_line(tmp_path):
    bad = tmp_path / "m.csv"
    bad.write_text('filename,title\na.jpg,"unterminated\n', encoding="utf-8")
    r = CliRunner().invoke(main, ["build", "--images", str(DEMO / "images"), "--metadata", str(bad),
                                  "--out", str(tmp_path / "o"), "--quiet"])
    assert r.exit_code != 0 and "line" in r.output and "m.csv" in r.output


def test_max_pixels_skips_big_images_and_reports_them(tmp_path):
    import shutil

    from PIL import Image

    imgs = tmp_path / "imgs"
    imgs.mkdir()
    for p in sorted((DEMO / "images").glob("*.jpg"))[:2]:   # 640 px paintings: ~300,000 pixels
        shutil.copy(p, imgs / p.name)
    for i in range(3):
        Image.new("RGB", (100, 80), (40 * i, 90, 200)).save(imgs / f"small{i}.png")
    r = CliRunner().invoke(main, ["build", "--images", str(imgs), "--out", str(tmp_path / "o"), "--quiet",
                                  "--max-pixels", "50000", "--cache-dir", str(tmp_path / "cache")])
    assert r.exit_code == 0, r.output
    assert "Map of 3 images" in r.output
    assert r.output.count("decompression bomb") == 2 and "--max-pixels" in r.output


def test_sigterm_ends_a_build_cleanly_and_keeps_its_work(tmp_path):
    """`kill` during a build (here in the layouts stage, after the image pass): the command exits at
    once, leaves no hidden staging folder and no half-built map, and the cache holds every vector."""
    import os
    import signal
    import subprocess
    import sys

    from pixmap import features

    out, cache = tmp_path / "map", tmp_path / "cache"
    cmd = [sys.executable, "-m", "pixmap.cli", "build", "--images", str(DEMO / "images"), "--out", str(out),
           "--cache-dir", str(cache), "--max-images", "40", "--layouts", "umap"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = ""
    for line in proc.stdout:
        seen += line
        if line.startswith("layouts:"):
            proc.send_signal(signal.SIGTERM)
            break
    rest, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, seen + rest
    assert not out.exists() and not (tmp_path / "map-artifacts").exists()
    assert [p for p in os.listdir(tmp_path) if p.startswith(".")] == []
    assert len(features.FeatureCache(cache, features.model_key("efficientnet-lite0", "default"))) == 40


def test_build_without_images_or_iiif_says_what_to_give(tmp_path):
    r = CliRunner().invoke(main, ["build", "--out", str(tmp_path / "o"), "--quiet"])
    assert r.exit_code == 2 and "--images" in r.output and "--iiif" in r.output
    assert not (tmp_path / "o").exists()
