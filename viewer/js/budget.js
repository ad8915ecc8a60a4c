// GPU memory budget: every texture the map allocates is counted here (atlas level 0 pages, data
// textures, level-1 tiles, thumbnails, the lightbox-size image), and allocations that may wait
// (tiles, thumbnails) are made only while they fit. Default 512 MB; 256 MB on phones and small
// devices; `?gpu-budget=<MB>` sets it. Kinds with a reservation (data textures, the big image, the
// thumbnail array: reserveBudget) count at least their reservation, so tiles never take the room
// those will need, and atlas level 0 is scaled down when it would take more than half of what is left.

import {dataTextureShape} from "./gl.js";

const MB = 1024 * 1024;
export const MAX_POSITION_TEXTURES = 3; // layouts kept on the GPU at once (a frame uses at most 2)

/** The budget in bytes: ?gpu-budget=<MB>, else 256 MB on phone-like devices, else 512 MB. */
export function budgetBytes(query = new URLSearchParams(location.search)) {
  const asked = Number(query.get("gpu-budget"));
  if (query.has("gpu-budget") && Number.isFinite(asked) && asked > 0) return Math.round(asked * MB);
  const memory = navigator.deviceMemory; // GB, Chromium only
  const coarse = typeof matchMedia === "function" && matchMedia("(pointer: coarse)").matches;
  const small = Math.min(screen.width || 9999, screen.height || 9999) <= 820;
  return (memory && memory <= 4) || (coarse && small) ? 256 * MB : 512 * MB;
}

/** Bytes of an RGBA8 texture (width x height, `levels` mip levels) times `layers`. */
export function textureBytes(width, height, levels = 1, layers = 1) {
  let total = 0;
  for (let l = 0; l < levels; l++) total += Math.max(1, width >> l) * Math.max(1, height >> l) * 4;
  return total * layers;
}

export class GpuBudget {
  constructor(limit) {
    this.limit = limit;
    this.used = {pages: 0, data: 0, tiles: 0, thumbs: 0, big: 0};
    this.reserved = {pages: 0, data: 0, tiles: 0, thumbs: 0, big: 0};
    this.peak = 0;
  }

  /** Bytes allocated now. */
  total() {
    let t = 0;
    for (const k in this.used) t += this.used[k];
    return t;
  }

  /** Keep `bytes` for a kind that allocates later (counted as used by the others' fits()). */
  reserve(kind, bytes) {
    this.reserved[kind] = Math.max(0, bytes);
  }

  _claimed(except) {
    let t = 0;
    for (const k in this.used) t += k === except ? this.used[k] : Math.max(this.used[k], this.reserved[k]);
    return t;
  }

  /** Whether `bytes` more of `kind` fit. */
  fits(kind, bytes) {
    return this._claimed(kind) + bytes <= this.limit;
  }

  /** Bytes still free for `kind`. */
  room(kind) {
    return Math.max(0, this.limit - this._claimed(kind));
  }

  add(kind, bytes) {
    this.used[kind] += bytes;
    this.peak = Math.max(this.peak, this.total());
  }

  sub(kind, bytes) {
    this.used[kind] = Math.max(0, this.used[kind] - bytes);
  }

  stats() {
    return {gpuBytes: this.total(), gpuBudget: this.limit, gpuPeak: this.peak, gpuBytesByKind: {...this.used}};
  }
}

/**
 * Reserve what the map will allocate later: its data textures (per image: cell, hotspot, member
 * list, MAX_POSITION_TEXTURES layouts), the thumbnail array and the lightbox-size image. Returns the
 * sizes chosen for those: {hasThumbs, thumbSize, thumbSlots (fewer on a small budget), bigMax}.
 */
export function reserveBudget(budget, manifest, caps) {
  const thumbs = manifest.thumbs || {}, lightbox = manifest.lightbox || {};
  const hasThumbs = thumbs.size !== 0;
  const thumbSize = Math.min(thumbs.size || 256, 512, caps.maxTextureSize);
  const thumbSlots = Math.max(16, Math.min(128, Math.floor((0.1 * budget.limit) / textureBytes(thumbSize, thumbSize))));
  const bigMax = Math.min(lightbox.size || 1024, caps.maxTextureSize);
  const shape = dataTextureShape(manifest.count, caps.maxTextureSize);
  budget.reserve("data", shape.width * shape.height * (16 + 4 + 4 + 16 * MAX_POSITION_TEXTURES) + MB);
  budget.reserve("big", bigMax * bigMax * 4);
  if (hasThumbs) budget.reserve("thumbs", textureBytes(thumbSize, thumbSize, 1, thumbSlots));
  return {hasThumbs, thumbSize, thumbSlots, bigMax};
}
