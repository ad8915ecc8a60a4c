"""`pixmap publish-gh-pages`: put a built map on GitHub Pages, in one of two ways.

    write_workflow("map", "my-repo")              # my-repo/site/ + my-repo/.github/workflows/pages.yml
    push_branch("map", "git@github.com:me/my-map.git")   # the site as the gh-pages branch, with git

1. A workflow (the default): the site is copied into a folder of a repository (`site/` unless told otherwise)
   and `.github/workflows/pages.yml` is written beside it: GitHub's official Pages actions (actions/checkout,
   actions/configure-pages, actions/upload-pages-artifact, actions/deploy-pages) publish that folder on every
   push to the main branch. The user commits and pushes; in Settings > Pages, Source is "GitHub Actions".
   An existing workflow file that differs is never overwritten without force; nor is a folder that is not an
   earlier copy of a map (one holding pixmap's `.pixmap-site` marker).
2. A branch: the site's files are committed (on top of the branch's last commit, when it exists) and pushed to
   the `gh-pages` branch of a repository git can push to (a URL or a path); in Settings > Pages, Source is
   "Deploy from a branch", gh-pages, / (root). The user's working tree is never touched: the commit is made in
   a temporary folder.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

WORKFLOW = Path(".github") / "workflows" / "pages.yml"
SITE_MARKER = ".pixmap-site"
ACTIONS = ("actions/checkout@v4", "actions/configure-pages@v5", "actions/upload-pages-artifact@v3",
           "actions/deploy-pages@v4")


class PublishError(Exception):
    """The site cannot be published as asked; the message says why and what to do."""


def workflow_text(folder: str = "site", branch: str = "main") -> str:
    """The GitHub Actions workflow that publishes `folder` of the repository on each push to `branch`."""
    checkout, configure, upload, deploy = ACTIONS
    return f"""# Written by `pixmap publish-gh-pages`: publishes the map in {folder}/ on GitHub Pages on every push to
# {branch}. Once: in the repository's Settings > Pages, set Source to "GitHub Actions".
name: Publish the map on GitHub Pages

on:
  push:
    branches: [{branch}]
  workflow_dispatch:

permissions:
  contents: read
  pages: write
  id-token: write

concurrency:
  group: pages
  cancel-in-progress: false

jobs:
  deploy:
    environment:
      name: github-pages
      url: ${{{{ steps.deployment.outputs.page_url }}}}
    runs-on: ubuntu-latest
    steps:
      - name: Check out the repository
        uses: {checkout}
      - name: Configure GitHub Pages
        uses: {configure}
      - name: Upload the map
        uses: {upload}
        with:
          path: {folder}
      - name: Deploy to GitHub Pages
        id: deployment
        uses: {deploy}
"""


def _check_site(site) -> Path:
    site = Path(os.path.expanduser(str(site))).resolve()
    if not (site / "index.html").is_file() or not (site / "data" / "manifest.json").is_file():
        raise PublishError(f"{site} is not a map written by `pixmap build` (no index.html and data/manifest.json)")
    return site


def _site_files(site: Path) -> list[Path]:
    """The site's files to publish: everything but hidden folders (.git ...) and hidden files other than
    .nojekyll and the marker."""
    out = []
    for path in sorted(site.rglob("*")):
        rel = path.relative_to(site)
        hidden = [p for p in rel.parts if p.startswith(".")]
        if hidden and (len(rel.parts) > 1 or rel.name not in (".nojekyll", SITE_MARKER)):
            continue
        if path.is_file():
            out.append(path)
    return out


def _copy_site(site: Path, target: Path) -> int:
    from tqdm.auto import tqdm

    files = _site_files(site)
    for path in tqdm(files, desc="copying the site", unit="file", disable=len(files) < 2000):
        dest = target / path.relative_to(site)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    (target / ".nojekyll").touch()
    return len(files)


def write_workflow(site, repo, *, folder: str = "site", branch: str = "main", force: bool = False) -> dict:
    """Copy the site into repo/folder and write repo/.github/workflows/pages.yml. Returns {"workflow", "folder",
    "files"}. PublishError when the workflow file differs (force=False) or the folder holds other files."""
    site = _check_site(site)
    repo = Path(os.path.expanduser(str(repo))).resolve()
    if not repo.is_dir():
        raise PublishError(f"{repo} is not a folder: give the folder of your repository (git clone it first)")
    rel = Path(folder)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts or rel.parts[0].startswith("."):
        raise PublishError(f"--folder {folder!r} must be a plain folder name inside the repository, such as site")
    target = repo / rel
    if site == target or site in target.parents or target in site.parents:
        raise PublishError(f"the site {site} and the folder {target} overlap; give another --folder")
    workflow = repo / WORKFLOW
    text = workflow_text(rel.as_posix(), branch)
    if workflow.exists() and workflow.read_text(encoding="utf-8", errors="replace") != text and not force:
        raise PublishError(f"{workflow} exists and is not the one pixmap writes; it was left as it is. Move it "
                           f"away, or pass --force to replace it")
    if target.exists():
        if not target.is_dir():
            raise PublishError(f"{target} is a file; give another --folder")
        earlier = (target / SITE_MARKER).exists()
        if any(target.iterdir()) and not earlier and not force:
            raise PublishError(f"{target} holds files that are not a map pixmap copied there; they were left as "
                               f"they are. Give another --folder, or pass --force to replace them")
        shutil.rmtree(target)
    n = _copy_site(site, target)
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(text, encoding="utf-8")
    return {"workflow": workflow, "folder": target, "files": n}


def _git(args, cwd, env=None) -> subprocess.CompletedProcess:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True)
    except FileNotFoundError:
        raise PublishError("git is not installed; install it, or publish with the workflow (without --push)") from None
    return done


def push_branch(site, remote, *, branch: str = "gh-pages", message: str | None = None) -> dict:
    """Commit the site's files and push them to `branch` of `remote` (a URL or path git can push to), on top of
    the branch's last commit when it exists. Returns {"commit", "branch", "remote", "files"}."""
    site = _check_site(site)
    remote = str(remote)
    if "://" not in remote and ":" not in remote.split("/")[0] and os.path.exists(os.path.expanduser(remote)):
        remote = str(Path(os.path.expanduser(remote)).resolve())
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="pixmap-gh-pages-") as tmp:
        work = Path(tmp)
        _git(["init", "-q"], work)
        has_identity = bool(_git(["config", "user.email"], work).stdout.strip())
        if not has_identity:
            env.update(GIT_AUTHOR_NAME="pixmap", GIT_AUTHOR_EMAIL="pixmap@localhost",
                       GIT_COMMITTER_NAME="pixmap", GIT_COMMITTER_EMAIL="pixmap@localhost")
        n = _copy_site(site, work)
        fetched = _git(["fetch", "-q", "--depth", "1", remote, f"refs/heads/{branch}"], work, env)
        parent = ["-p", "FETCH_HEAD"] if fetched.returncode == 0 else []
        if fetched.returncode != 0 and "couldn't find remote ref" not in fetched.stderr.lower() \
                and "could not find remote ref" not in fetched.stderr.lower():
            raise PublishError(f"cannot reach {remote}: {fetched.stderr.strip() or 'git fetch failed'}")
        add = _git(["add", "-A", "-f", "."], work, env)
        tree = _git(["write-tree"], work, env)
        if add.returncode or tree.returncode:
            raise PublishError(f"git could not stage the site: {(add.stderr or tree.stderr).strip()}")
        msg = message or f"Publish the map ({n} files) with pixmap"
        commit = _git(["commit-tree", tree.stdout.strip(), *parent, "-m", msg], work, env)
        if commit.returncode:
            raise PublishError(f"git could not commit the site: {commit.stderr.strip()}")
        sha = commit.stdout.strip()
        pushed = _git(["push", "-q", remote, f"{sha}:refs/heads/{branch}"], work, env)
        if pushed.returncode:
            raise PublishError(f"git push to {remote} ({branch}) failed: {pushed.stderr.strip()}")
    return {"commit": sha, "branch": branch, "remote": remote, "files": n}
