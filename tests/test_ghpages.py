"""pixmap.ghpages and the site's .nojekyll: a real small build, the GitHub Actions workflow (parsed as YAML),
and a real push to the gh-pages branch of a local bare repository (git, no network)."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pixmap import ghpages
from pixmap.cli import main

yaml = pytest.importorskip("yaml")

REPO = Path(__file__).resolve().parent.parent
DEMO = REPO / "datasets" / "aic-paintings"
needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    import pixmap

    tmp = tmp_path_factory.mktemp("ghpages")
    return pixmap.build(images=DEMO / "images", out_dir=tmp / "site", cache_dir=tmp / "cache", max_images=12,
                        progress=False)


def test_the_site_has_nojekyll_listed_as_pixmaps(built):
    site = built.out_dir
    assert (site / ".nojekyll").is_file() and (site / ".nojekyll").stat().st_size == 0
    assert ".nojekyll" in json.loads((site / ".pixmap-site").read_text())["files"]


def test_a_rebuild_takes_over_a_users_empty_nojekyll(tmp_path):
    import pixmap

    site = tmp_path / "site"
    pixmap.build(images=DEMO / "images", out_dir=site, cache_dir=tmp_path / "cache", max_images=4, progress=False)
    marker = json.loads((site / ".pixmap-site").read_text())
    marker["files"].remove(".nojekyll")      # as if the user had added it to a site built before it was written
    (site / ".pixmap-site").write_text(json.dumps(marker))
    pixmap.build(images=DEMO / "images", out_dir=site, cache_dir=tmp_path / "cache", max_images=4, progress=False,
                 force=True)
    assert ".nojekyll" in json.loads((site / ".pixmap-site").read_text())["files"]


def test_the_workflow_is_valid_yaml_with_the_official_pages_steps(built, tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    out = CliRunner().invoke(main, ["publish-gh-pages", str(built.out_dir), "--repo", str(repo)])
    assert out.exit_code == 0, out.output
    assert "GitHub Pages: fits" in out.output and "Settings > Pages > Source: GitHub Actions" in out.output
    doc = yaml.safe_load((repo / ".github" / "workflows" / "pages.yml").read_text())
    trigger = doc["on"] if "on" in doc else doc[True]   # YAML 1.1 reads the key `on` as True
    assert trigger["push"]["branches"] == ["main"] and "workflow_dispatch" in trigger
    assert doc["permissions"] == {"contents": "read", "pages": "write", "id-token": "write"}
    steps = doc["jobs"]["deploy"]["steps"]
    assert [s["uses"].split("@")[0] for s in steps] == ["actions/checkout", "actions/configure-pages",
                                                        "actions/upload-pages-artifact", "actions/deploy-pages"]
    assert steps[2]["with"]["path"] == "site"
    assert doc["jobs"]["deploy"]["environment"]["name"] == "github-pages"
    copied = repo / "site"
    assert (copied / "index.html").read_bytes() == (built.out_dir / "index.html").read_bytes()
    assert (copied / ".nojekyll").exists() and (copied / "data" / "manifest.json").exists()
    assert sorted(p.relative_to(copied) for p in copied.rglob("*") if p.is_file()) == \
        sorted(p.relative_to(built.out_dir) for p in built.out_dir.rglob("*") if p.is_file())
    # again: the earlier copy and the same workflow are replaced without --force
    assert CliRunner().invoke(main, ["publish-gh-pages", str(built.out_dir), "--repo", str(repo)]).exit_code == 0


def test_a_users_workflow_or_folder_is_never_overwritten_without_force(built, tmp_path):
    repo = tmp_path / "repo"
    (repo / ".github" / "workflows").mkdir(parents=True)
    mine = repo / ".github" / "workflows" / "pages.yml"
    mine.write_text("name: mine\n")
    out = CliRunner().invoke(main, ["publish-gh-pages", str(built.out_dir), "--repo", str(repo)])
    assert out.exit_code != 0 and "is not the one pixmap writes" in out.output and "--force" in out.output
    assert mine.read_text() == "name: mine\n" and not (repo / "site").exists()
    mine.unlink()
    (repo / "docs").mkdir()
    (repo / "docs" / "notes.md").write_text("mine")
    with pytest.raises(ghpages.PublishError, match="not a map pixmap copied there"):
        ghpages.write_workflow(built.out_dir, repo, folder="docs", force=False)
    assert (repo / "docs" / "notes.md").read_text() == "mine" and not mine.exists()
    done = ghpages.write_workflow(built.out_dir, repo, folder="docs", force=True)
    assert done["folder"] == repo / "docs" and "path: docs" in mine.read_text()


@needs_git
def test_push_to_the_gh_pages_branch_of_a_bare_repository(built, tmp_path):
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    out = CliRunner().invoke(main, ["publish-gh-pages", str(built.out_dir), "--repo", str(bare), "--push"])
    assert out.exit_code == 0, out.output
    assert "Deploy from a branch, gh-pages" in out.output
    ls = subprocess.run(["git", "--git-dir", str(bare), "ls-tree", "-r", "--name-only", "gh-pages"],
                        capture_output=True, text=True, check=True).stdout.split()
    assert "index.html" in ls and ".nojekyll" in ls and "data/manifest.json" in ls
    shown = subprocess.run(["git", "--git-dir", str(bare), "show", "gh-pages:data/manifest.json"],
                           capture_output=True, check=True).stdout
    assert shown == (built.out_dir / "data" / "manifest.json").read_bytes()
    # a second push goes on top of the first: history kept, no force push
    done = ghpages.push_branch(built.out_dir, bare)
    count = subprocess.run(["git", "--git-dir", str(bare), "rev-list", "--count", "gh-pages"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert count == "2" and done["branch"] == "gh-pages"


def test_not_a_site_is_refused(tmp_path):
    with pytest.raises(ghpages.PublishError, match="not a map written by `pixmap build`"):
        ghpages.write_workflow(tmp_path, tmp_path / "repo")
