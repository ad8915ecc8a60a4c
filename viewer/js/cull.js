// View culling for big maps. Zoomed in (2D camera, no layout transition), the main pass draws only the
// images in and around the view, from a sorted list of their draw slots, instead of every image of the
// map: a frame then costs what is on screen, not the million images off it. The list covers the view
// grown by half its size on each side (found with the layout's picking grid) and is rebuilt only when
// the view leaves that area or zooms far into it, so panning rebuilds it now and then, not every frame.
// The overview draws everything as before (the lean main pass).

export const CULL_MIN_IMAGES = 50000; // smaller maps always draw every image (?cull-min=<n> for tests)

export class ViewCull {
  constructor(renderer, n, minImages = CULL_MIN_IMAGES) {
    this.renderer = renderer;
    this.n = n;
    this.minImages = minImages;
    this.capacity = Math.min(262144, Math.floor(n / 4)); // at most this many images in the list
    this.area = null; // {key, rect: [xa, ya, xb, yb]} the list was built for (null: draw everything)
    this.rebuilds = 0;
  }

  get enabled() {
    return this.n >= this.minImages;
  }

  /**
   * Whether this frame draws the main pass from the list (rebuilt here when the view left its area).
   * grid: the layout's Grid2D (picking.js) or null while it is being built; size: quad size (layout units).
   */
  update(entry, grid, camera, vp, size) {
    if (!this.enabled || !grid || camera.kind !== "2d") return false;
    const [xa, ya, xb, yb] = camera.viewRect(vp);
    const w = xb - xa, h = yb - ya, m = size;
    const a = this.area;
    if (a && a.key === entry.name) {
      const [ra, sa, rb, sb] = a.rect;
      const inside = xa - m >= ra && ya - m >= sa && xb + m <= rb && yb + m <= sb;
      if (inside && (rb - ra) * (sb - sa) <= 16 * w * h) return a.on;
    }
    const rect = [xa - w / 2 - m, ya - h / 2 - m, xb + w / 2 + m, yb + h / 2 + m];
    this.area = {key: entry.name, rect, on: false};
    // a view this wide holds too many images for a list: draw everything (no scan)
    if (4 * w * h > (grid.G * grid.cw) * (grid.G * grid.ch) * (this.capacity / this.n) * 4) return false;
    const slots = new Int32Array(this.capacity);
    const slotOf = this.renderer.slotOf;
    let k = 0;
    let over = false;
    grid.forEachInRect(rect[0], rect[1], rect[2], rect[3], (i) => {
      if (k >= slots.length) {
        over = true;
        return true;
      }
      slots[k++] = slotOf[i];
      return false;
    });
    if (over) return false;
    const list = slots.subarray(0, k).sort();
    this.renderer.setCull(list);
    this.rebuilds++;
    this.area.on = true;
    this.count = k;
    return true;
  }

  stats() {
    return {culled: !!(this.area && this.area.on), cullCount: this.area && this.area.on ? this.count : 0,
      cullRebuilds: this.rebuilds};
  }
}
