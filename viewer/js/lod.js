// Level of detail: per-image thumbnails (and one lightbox-size image) for what is in view.
// Bounded concurrency, nearest to the view centre first, requests for images that left the view
// are aborted. A texture slot is keyed by image index and only assigned after its upload, so a
// slot never shows one image's pixels for another. URLs may be promises (version 3: the id comes
// from an id chunk). A site without per-image thumbnails (thumbs.size 0) loads only the big image.

export class ThumbLoader {
  /**
   * renderer: the Renderer (setThumb / setBig / slotImage)
   * thumbUrl(i), bigUrl(i): URLs (or promises of URLs); thumbSize: square texel size of a slot;
   * thumbs: false when the site has no per-image thumbnails; bigMax: largest side of the big image
   * (larger ones are scaled down); onChange(): request a redraw
   */
  constructor({renderer, thumbUrl, bigUrl, thumbSize, thumbs = true, bigMax = 0, concurrency = 6, onChange}) {
    this.renderer = renderer;
    this.enabled = thumbs;
    this.bigMax = bigMax;
    this.thumbUrl = thumbUrl;
    this.bigUrl = bigUrl;
    this.thumbSize = thumbSize;
    this.concurrency = concurrency;
    this.onChange = onChange;
    this.slots = renderer.thumbSlots;
    this.slotOfImage = new Map();
    this.lastUse = new Float64Array(this.slots);
    this.inflight = new Map(); // image -> AbortController
    this.failed = new Set();
    this.wanted = new Set();
    this.big = {wanted: -1, loading: -1, controller: null};
    this.counts = {requested: 0, loaded: 0, aborted: 0, failed: 0, bigRequested: 0, bigLoaded: 0};
  }

  /** wanted: image indices in priority order; bigWanted: image index or -1. */
  update(wanted, bigWanted = -1) {
    if (!this.enabled) wanted = [];
    const now = performance.now();
    this.wanted = new Set(wanted);
    for (const [i, controller] of this.inflight) {
      if (!this.wanted.has(i)) {
        controller.abort();
        this.inflight.delete(i);
        this.counts.aborted++;
      }
    }
    for (const i of wanted) {
      const slot = this.slotOfImage.get(i);
      if (slot !== undefined) {
        this.lastUse[slot] = now;
        continue;
      }
      if (this.inflight.size >= this.concurrency) continue;
      if (this.inflight.has(i) || this.failed.has(i)) continue;
      this._load(i);
    }
    this._updateBig(bigWanted);
  }

  _freeSlot() {
    let best = -1, bestUse = Infinity;
    for (let s = 0; s < this.slots; s++) {
      const img = this.renderer.slotImage[s];
      if (img < 0) return s;
      if (this.wanted.has(img)) continue;
      if (this.lastUse[s] < bestUse) { best = s; bestUse = this.lastUse[s]; }
    }
    return best;
  }

  async _load(i) {
    const controller = new AbortController();
    this.inflight.set(i, controller);
    this.counts.requested++;
    let bitmap = null;
    try {
      const url = await this.thumbUrl(i);
      if (controller.signal.aborted) throw new DOMException("aborted", "AbortError");
      const res = await fetch(url, {signal: controller.signal});
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const blob = await res.blob();
      bitmap = await createImageBitmap(blob, {
        resizeWidth: this.thumbSize, resizeHeight: this.thumbSize, resizeQuality: "high",
        premultiplyAlpha: "none", colorSpaceConversion: "none",
      });
    } catch (err) {
      if (this.inflight.get(i) === controller) this.inflight.delete(i);
      if (err.name !== "AbortError") { this.failed.add(i); this.counts.failed++; }
      return;
    }
    // verify on completion: still the request for this image, still wanted, and a slot is free
    const current = this.inflight.get(i) === controller && !controller.signal.aborted;
    if (current) this.inflight.delete(i);
    if (!current || !this.wanted.has(i) || this.slotOfImage.has(i)) {
      bitmap.close();
      return;
    }
    const slot = this._freeSlot();
    if (slot < 0) {
      bitmap.close();
      return;
    }
    const prev = this.renderer.slotImage[slot];
    if (prev >= 0) this.slotOfImage.delete(prev);
    this.renderer.setThumb(slot, i, bitmap);
    bitmap.close();
    this.slotOfImage.set(i, slot);
    this.lastUse[slot] = performance.now();
    this.counts.loaded++;
    this.onChange();
    this.update([...this.wanted], this.big.wanted); // start the next ones
  }

  _updateBig(i) {
    const big = this.big;
    big.wanted = i;
    if (big.loading >= 0 && big.loading !== i) {
      big.controller.abort();
      big.loading = -1;
      big.controller = null;
    }
    if (i < 0 || big.loading === i || this.renderer.bigImage === i || this.failed.has(-1 - i)) return;
    const controller = new AbortController();
    big.loading = i;
    big.controller = controller;
    this.counts.bigRequested++;
    (async () => {
      let bitmap;
      try {
        const url = await this.bigUrl(i);
        if (controller.signal.aborted) throw new DOMException("aborted", "AbortError");
        const res = await fetch(url, {signal: controller.signal});
        if (!res.ok) throw new Error(`HTTP ${res.status}`);
        bitmap = await createImageBitmap(await res.blob(), {premultiplyAlpha: "none", colorSpaceConversion: "none"});
        if (this.bigMax && Math.max(bitmap.width, bitmap.height) > this.bigMax) {
          const s = this.bigMax / Math.max(bitmap.width, bitmap.height);
          const scaled = await createImageBitmap(bitmap, {resizeWidth: Math.max(1, Math.round(bitmap.width * s)),
            resizeHeight: Math.max(1, Math.round(bitmap.height * s)), resizeQuality: "high"});
          bitmap.close();
          bitmap = scaled;
        }
      } catch (err) {
        if (big.controller === controller) { big.loading = -1; big.controller = null; }
        if (err.name !== "AbortError") this.failed.add(-1 - i);
        return;
      }
      if (big.controller !== controller || big.wanted !== i) {
        bitmap.close();
        return;
      }
      big.loading = -1;
      big.controller = null;
      this.renderer.setBig(i, bitmap);
      bitmap.close();
      this.counts.bigLoaded++;
      this.onChange();
    })();
  }

  stats() {
    return {
      thumbsLoaded: this.slotOfImage.size,
      thumbsInflight: this.inflight.size,
      thumbsRequested: this.counts.requested,
      thumbsUploaded: this.counts.loaded,
      thumbsAborted: this.counts.aborted,
      thumbsFailed: this.counts.failed,
      bigRequested: this.counts.bigRequested,
      bigLoaded: this.counts.bigLoaded,
      bigImage: this.renderer.bigImage,
    };
  }
}
