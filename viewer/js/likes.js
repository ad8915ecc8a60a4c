// Likes: the images someone marked with a heart, kept in the browser's localStorage per map (by the
// folder the map is served from), as image ids (stable across rebuilds; docs/site-format.md, "Likes").
// Where localStorage is unavailable (private modes, storage disabled) likes live for the page only.

/** The storage key of the map at this page's URL: its folder's path (index.html dropped). */
export function likesKey(loc = location) {
  const path = String(loc.pathname || "/").replace(/index\.html$/, "");
  return `pixmap:likes:${path}`;
}

export class Likes {
  constructor(key = likesKey(), storage = globalThis.localStorage) {
    this.key = key;
    this.storage = storage || null;
    this.list = [];
    this.listeners = new Set();
    try {
      const saved = JSON.parse((this.storage && this.storage.getItem(key)) || "[]");
      if (Array.isArray(saved)) this.list = [...new Set(saved.filter((v) => typeof v === "string"))];
    } catch {
      this.list = [];
    }
    this.set = new Set(this.list);
    // another tab of the same map: follow its likes
    if (typeof window !== "undefined") {
      window.addEventListener("storage", (e) => {
        if (e.key !== this.key) return;
        try {
          const next = JSON.parse(e.newValue || "[]");
          this.list = Array.isArray(next) ? next.filter((v) => typeof v === "string") : [];
        } catch {
          this.list = [];
        }
        this.set = new Set(this.list);
        this._emit();
      });
    }
  }

  /** The liked ids, oldest first. */
  ids() {
    return this.list.slice();
  }

  get size() {
    return this.list.length;
  }

  has(id) {
    return this.set.has(String(id));
  }

  add(id) {
    id = String(id);
    if (this.set.has(id)) return false;
    this.set.add(id);
    this.list.push(id);
    this._save();
    return true;
  }

  remove(id) {
    id = String(id);
    if (!this.set.delete(id)) return false;
    this.list = this.list.filter((v) => v !== id);
    this._save();
    return true;
  }

  clear() {
    if (!this.list.length) return;
    this.list = [];
    this.set.clear();
    this._save();
  }

  /** fn(ids) after every change; returns a function that removes it. */
  onChange(fn) {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  _save() {
    try {
      if (this.storage) {
        if (this.list.length) this.storage.setItem(this.key, JSON.stringify(this.list));
        else this.storage.removeItem(this.key);
      }
    } catch (err) {
      console.warn("pixmap: likes could not be saved in this browser:", err.message || err);
    }
    this._emit();
  }

  _emit() {
    for (const fn of this.listeners) {
      try {
        fn(this.ids());
      } catch (err) {
        console.warn("pixmap: a likes listener failed:", err);
      }
    }
  }
}
