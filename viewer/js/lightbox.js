// The lightbox: large image, every metadata field (as text), permalink, download, previous/next.
import {el, safeHttpUrl, displayValue} from "./dom.js";

export class Lightbox {
  /**
   * root: the #lightbox element; site: {ids, fields, rows, manifest};
   * onChange(index | -1): called when the shown image changes or the lightbox closes.
   */
  constructor(root, site, onChange) {
    this.root = root;
    this.site = site;
    this.onChange = onChange;
    this.index = -1;
    this.list = null; // {length, at(k), indexOf(i), label}
    this.returnFocus = null;
    root.addEventListener("click", (e) => {
      if (e.target === root || e.target.tagName === "FIGURE") this.close();
    });
  }

  get isOpen() {
    return this.index >= 0;
  }

  imageUrl(i) {
    const lb = this.site.manifest.lightbox;
    return `${lb.dir}/${encodeURIComponent(this.site.ids[i])}.${lb.ext}`;
  }

  /** Open image i; list: the images previous/next walk through (a hotspot, the selection, all). */
  open(i, list) {
    if (!this.isOpen) this.returnFocus = document.activeElement;
    this.index = i;
    this.list = list;
    this.render();
    this.root.hidden = false;
    const close = this.root.querySelector(".close");
    if (close) close.focus({preventScroll: true});
    this.onChange(i);
  }

  close() {
    if (!this.isOpen) return;
    this.index = -1;
    this.root.hidden = true;
    this.root.replaceChildren();
    if (this.returnFocus && this.returnFocus.focus) this.returnFocus.focus({preventScroll: true});
    this.onChange(-1);
  }

  step(delta) {
    if (!this.isOpen || !this.list) return;
    const k = this.list.indexOf(this.index);
    const next = k + delta;
    if (k < 0 || next < 0 || next >= this.list.length) return;
    this.open(this.list.at(next), this.list);
  }

  render() {
    const i = this.index;
    const {ids, fields, rows, manifest} = this.site;
    const row = rows[i] || [];
    const value = (name) => {
      const k = fields.indexOf(name);
      return k >= 0 ? row[k] : null;
    };
    const filename = String(value("filename") || ids[i]);
    const title = value("title") || filename.split("/").pop();
    const url = this.imageUrl(i);

    const img = el("img", {src: url, alt: String(title), decoding: "async"});
    const dl = el("dl");
    fields.forEach((field, k) => {
      const v = row[k];
      const link = field === "permalink" ? safeHttpUrl(v) : null;
      const dd = link
        ? el("dd", {}, el("a", {href: link, target: "_blank", rel: "noopener noreferrer"}, link))
        : el("dd", {text: displayValue(v)});
      dl.append(el("dt", {text: field}), dd);
    });

    const links = el("p", {className: "links"});
    const permalink = safeHttpUrl(value("permalink"));
    if (permalink) {
      links.append(el("a", {href: permalink, target: "_blank", rel: "noopener noreferrer", className: "permalink"},
        "Open source page"));
    }
    links.append(el("a", {href: url, download: `${ids[i]}.${manifest.lightbox.ext}`, className: "download"}, "Download"));

    const list = this.list;
    const k = list ? list.indexOf(i) : -1;
    const counter = list && k >= 0
      ? el("p", {className: "counter", text: `${k + 1} of ${list.length}${list.label ? " · " + list.label : ""}`})
      : null;

    const prev = el("button", {type: "button", className: "nav prev", "aria-label": "Previous image", title: "Previous (←)",
      onclick: () => this.step(-1)}, "‹");
    const next = el("button", {type: "button", className: "nav next", "aria-label": "Next image", title: "Next (→)",
      onclick: () => this.step(1)}, "›");
    prev.disabled = !(k > 0);
    next.disabled = !(k >= 0 && k < list.length - 1);
    const close = el("button", {type: "button", className: "close", "aria-label": "Close", title: "Close (Esc)",
      onclick: () => this.close()}, "×");

    this.root.replaceChildren(
      el("figure", {}, img),
      el("section", {className: "info"}, el("h2", {text: String(title)}), counter, dl, links),
      prev, next, close,
    );
  }
}
