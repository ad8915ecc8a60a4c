// GLSL ES 3.00 sources of the map. Every image is a quad of 6 vertices; the vertex shader finds
// its image from gl_VertexID (vertex pulling) and reads everything else from data textures.
// One shader source, several variants (defines):
//   LIST    the quad's slot comes from a list texture (thumbnails, a hotspot's members, tiles, the
//           culled main pass), else
//   SINGLE  from a uniform (hover outline, lightbox-size image), else it is gl_VertexID / 6;
//   SOURCE  0 atlas cell, 1 thumbnail array layer, 2 the big image, 3 none (outline only),
//           4 the image's cell in a level-1 tile (list entry: slot, layer, cell x | y << 16, w | h << 16);
//   RICH    per-quad shade and outline (every pass but the main one, which stays as lean as a
//           minimal vertex-pulling shader: positions, cell, 3 varyings);
//   STATE   per-image state from a texture (search and filters: matched, dimmed, highlighted; a
//           colour-by colour drawn as a tinted border, or as the whole dot at overview zoom). Only
//           while search, filters or colouring are in use: otherwise the lean variants are drawn.
export const MAP_VS = `
precision highp float;
precision highp int;
precision highp sampler2D;
precision highp isampler2D;
uniform sampler2D uPosA;      // x, y, z, atlas page (-1: hidden in this layout), per slot
uniform sampler2D uPosB;      // the layout being transitioned to
uniform sampler2D uRect;      // atlas cell: u0, v0, du, dv (half a texel inside the cell)
uniform int uDataWidth;
#if TRANSITION
uniform float uT;             // transition 0..1 (eased)
#endif
uniform float uSize;          // quad size now (longest side, layout units; 2D: at least 1 device px)
#if DIMS == 3
uniform mat4 uViewProj;
uniform float uPxScale;       // device pixels per view unit at clip w = 1
uniform float uMinPx;         // smallest quad side in device pixels
#else
uniform vec4 uView2D;         // clip = position * xy + zw (orthographic, no rotation)
#endif
uniform vec2 uClipScale;      // projection's x and y scale (billboard offsets in view space)
uniform float uAtlasInv;      // 1 / atlas page size
uniform float uPageBase;      // first page of the bound group
#if LIST
uniform isampler2D uList;     // (slot, thumbnail or tile layer, [tile cell]) per quad
uniform int uListWidth;
uniform int uListOffset;
#if SOURCE == 4
uniform float uTileInv;       // 1 / the tile size the cells are given in
#endif
#elif SINGLE
uniform int uSlot;
#endif
#if STATE
uniform highp usampler2D uState; // per slot: colour r, g, b; flags (bits 0-1: 0 normal, 1 dimmed,
                              // 2 matched, 3 highlighted; bit 2: has a colour; bit 3: selected)
uniform float uViewH;         // drawing buffer height, device px
uniform float uStateDim;      // shade of dimmed images
flat out vec4 vTint;          // colour, has a colour
flat out vec3 vState;         // shade, highlighted (+1) and selected (+2), how much of the quad is the colour (1: a dot)
#if !RICH
out vec2 vQuad;               // quad uv
#endif
#endif
#if RICH
uniform isampler2D uClusters; // hotspot id per slot (-1: none)
uniform int uHover;           // slot under the pointer (-1: none)
uniform int uCluster;         // highlighted hotspot id (-1: none)
uniform float uDim;           // shade of images outside the highlighted hotspot
out vec4 vUv;                 // atlas uv, quad uv (0..1, top-left origin)
flat out vec4 vInfo;          // layer, shade, outline
#else
out vec3 vUv;                 // atlas uv, layer
#endif
void main() {
  int k = gl_VertexID / 6;
  int corner = gl_VertexID - k * 6;
#if LIST
  int li = k + uListOffset;
  ivec4 e = texelFetch(uList, ivec2(li % uListWidth, li / uListWidth), 0);
  int slot = e.x;
#elif SINGLE
  int slot = uSlot;
#else
  int slot = k;
#endif
  ivec2 tc = ivec2(slot % uDataWidth, slot / uDataWidth);
  vec4 p = texelFetch(uPosA, tc, 0);
#if TRANSITION
  vec4 b = texelFetch(uPosB, tc, 0);
  float page = uT < 0.5 ? p.w : b.w;
  p = mix(p, b, uT);
  p.w = page;
#endif
  vec4 r = texelFetch(uRect, tc, 0);
  vec2 q = vec2((corner == 1 || corner == 4 || corner == 5) ? 1.0 : 0.0,
                (corner == 2 || corner == 3 || corner == 5) ? 1.0 : 0.0);
  float aspect = (r.z + uAtlasInv) / (r.w + uAtlasInv);
  vec2 halfSize = 0.5 * uSize * vec2(min(1.0, aspect), min(1.0, 1.0 / aspect));
#if DIMS == 3
  vec4 clip = uViewProj * vec4(p.xyz, 1.0);
  halfSize *= max(1.0, uMinPx * clip.w / (uSize * uPxScale));
#else
  vec4 clip = vec4(p.xy * uView2D.xy + uView2D.zw, 0.0, 1.0);
#endif
#if STATE
  uvec4 st = texelFetch(uState, tc, 0);
  uint sk = st.a & 3u;
  float quadPx = max(halfSize.x, halfSize.y) * uClipScale.y * uViewH / max(clip.w, 1e-6);
  vTint = vec4(vec3(st.rgb) / 255.0, (st.a & 4u) != 0u ? 1.0 : 0.0);
  vState = vec3(sk == 1u ? uStateDim : 1.0, (sk == 3u ? 1.0 : 0.0) + ((st.a & 8u) != 0u ? 2.0 : 0.0),
                1.0 - smoothstep(6.0, 22.0, quadPx));
#endif
  clip.xy += (q * 2.0 - 1.0) * halfSize * uClipScale;
  gl_Position = p.w < 0.0 ? vec4(2.0, 2.0, 2.0, 1.0) : clip;
  vec2 quv = vec2(q.x, 1.0 - q.y);
#if LIST && SOURCE == 4
  vec2 cellXy = vec2(float(e.z & 0xffff), float((e.z >> 16) & 0xffff));
  vec2 cellWh = vec2(float(e.w & 0xffff), float((e.w >> 16) & 0xffff));
  vec2 atlasUv = (cellXy + 0.5 + quv * max(cellWh - 1.0, 0.0)) * uTileInv;
#else
  vec2 atlasUv = r.xy + quv * r.zw;
#endif
#if LIST && (SOURCE == 1 || SOURCE == 4)
  float layer = float(e.y);
#else
  float layer = p.w - uPageBase;
#endif
#if RICH
  int cluster = texelFetch(uClusters, tc, 0).r;
  bool member = uCluster >= 0 && cluster == uCluster;
  vUv = vec4(atlasUv, quv);
  vInfo = vec4(layer, (uCluster >= 0 && !member) ? uDim : 1.0, (slot == uHover || member) ? 1.0 : 0.0, 0.0);
#else
  vUv = vec3(atlasUv, layer);
#if STATE
  vQuad = quv;
#endif
#endif
}`;

export const MAP_FS = `
precision highp float;
precision highp sampler2DArray;
#if SOURCE == 0 || SOURCE == 4
uniform sampler2DArray uAtlas;  // atlas pages, or level-1 tiles
#elif SOURCE == 1
uniform sampler2DArray uThumbs;
#elif SOURCE == 2
uniform sampler2D uBig;
#endif
#if RICH
in vec4 vUv;
flat in vec4 vInfo;
#else
uniform float uShade;
in vec3 vUv;
#endif
#if STATE
flat in vec4 vTint;
flat in vec3 vState;
#if !RICH
in vec2 vQuad;
#endif
// search, filters, colour by: the colour as the dot (overview) or a border; dimmed images darker and
// greyer; a highlighted image outlined; a selected one tinted (overview) and bordered in SELECTED
const vec3 SELECTED = vec3(0.25, 0.85, 1.0);
vec3 applyState(vec3 rgb, vec2 quv) {
  vec2 px = fwidth(quv);
  vec2 d = min(quv, 1.0 - quv);
  if (vTint.a > 0.5) {
    rgb = mix(rgb, vTint.rgb, vState.z);
    vec2 w = max(px * 3.0, vec2(0.06));
    if (d.x < w.x || d.y < w.y) rgb = vTint.rgb;
  }
  if (vState.y > 1.5) {
    rgb = mix(rgb, SELECTED, 0.6 * vState.z);
    vec2 w = max(px * 3.0, vec2(0.05));
    if (d.x < w.x || d.y < w.y) rgb = SELECTED;
  }
  if (mod(vState.y, 2.0) > 0.5) {
    vec2 w = px * 4.0;
    if (d.x < w.x || d.y < w.y) rgb = vec3(1.0, 1.0, 1.0);
  }
  if (vState.x < 1.0) rgb = mix(vec3(dot(rgb, vec3(0.3, 0.59, 0.11))), rgb, 0.35) * vState.x;
  return rgb;
}
#endif
out vec4 outColor;
void main() {
#if !RICH
#if STATE
  outColor = vec4(applyState(texture(uAtlas, vUv).rgb, vQuad) * uShade, 1.0);
#else
  outColor = vec4(texture(uAtlas, vUv).rgb * uShade, 1.0);
#endif
#else
#if SOURCE == 0 || SOURCE == 4
  vec3 rgb = texture(uAtlas, vec3(vUv.xy, vInfo.x)).rgb;
#elif SOURCE == 1
  vec3 rgb = texture(uThumbs, vec3(vUv.zw, vInfo.x)).rgb;
#elif SOURCE == 2
  vec3 rgb = texture(uBig, vUv.zw).rgb;
#else
  vec3 rgb = vec3(0.0);
#endif
  vec2 width = 2.0 * fwidth(vUv.zw);  // about 2 device pixels
  vec2 d = min(vUv.zw, 1.0 - vUv.zw);
  bool edge = d.x < width.x || d.y < width.y;
#if SOURCE == 3
  if (!edge) discard;
#endif
#if STATE
  rgb = applyState(rgb, vUv.zw);
#endif
  if (edge && vInfo.z > 0.5) rgb = vec3(1.0, 0.78, 0.3);
  outColor = vec4(rgb * vInfo.y, 1.0);
#endif
}`;

export const variant = (source, defines) =>
  `#version 300 es\n${Object.entries(defines).map(([k, v]) => `#define ${k} ${v}`).join("\n")}\n${source}`;
export const PASSES = {
  map: {LIST: 0, SINGLE: 0, SOURCE: 0, RICH: 0},
  mapList: {LIST: 1, SINGLE: 0, SOURCE: 0, RICH: 0}, // the main pass, culled (cull.js)
  members: {LIST: 1, SINGLE: 0, SOURCE: 0, RICH: 1},
  thumbs: {LIST: 1, SINGLE: 0, SOURCE: 1, RICH: 1},
  tiles: {LIST: 1, SINGLE: 0, SOURCE: 4, RICH: 1},
  tilesLean: {LIST: 1, SINGLE: 0, SOURCE: 4, RICH: 0}, // (no hotspot highlighted: no shades, no outlines)
  big: {LIST: 0, SINGLE: 1, SOURCE: 2, RICH: 1},
  hover: {LIST: 0, SINGLE: 1, SOURCE: 3, RICH: 1},
  hits: {LIST: 1, SINGLE: 0, SOURCE: 0, RICH: 1}, // search hits and filtered images on top (with STATE)
  one: {LIST: 0, SINGLE: 1, SOURCE: 0, RICH: 1},  // the highlighted image on top of them (with STATE)
};
export const STATE_DIM = 0.22;
export const DIM = 0.3;

export const LINE_VS = `#version 300 es
precision highp float;
in vec2 aPos;
uniform mat4 uView;
uniform mat4 uProj;
void main() { gl_Position = uProj * (uView * vec4(aPos, 0.0, 1.0)); }`;

export const LINE_FS = `#version 300 es
precision highp float;
uniform vec4 uColor;
out vec4 outColor;
void main() { outColor = uColor; }`;
