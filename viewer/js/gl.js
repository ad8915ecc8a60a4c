// Small WebGL2 helpers: context creation, capabilities, programs, data textures.

export function createContext(canvas) {
  const gl = canvas.getContext("webgl2", {
    antialias: false, alpha: false, depth: true, stencil: false,
    premultipliedAlpha: false, preserveDrawingBuffer: false, powerPreference: "high-performance",
  });
  if (!gl) return null;
  const caps = {
    maxTextureSize: gl.getParameter(gl.MAX_TEXTURE_SIZE),
    maxFragmentUnits: gl.getParameter(gl.MAX_TEXTURE_IMAGE_UNITS),
    maxVertexUnits: gl.getParameter(gl.MAX_VERTEX_TEXTURE_IMAGE_UNITS),
    maxCombinedUnits: gl.getParameter(gl.MAX_COMBINED_TEXTURE_IMAGE_UNITS),
    maxArrayLayers: gl.getParameter(gl.MAX_ARRAY_TEXTURE_LAYERS),
    renderer: gl.getParameter(gl.RENDERER),
  };
  return {gl, caps};
}

function compile(gl, type, source) {
  const shader = gl.createShader(type);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS) && !gl.isContextLost()) {
    const log = gl.getShaderInfoLog(shader);
    gl.deleteShader(shader);
    throw new Error(`shader compile failed: ${log}`);
  }
  return shader;
}

/** Link a program; returns {program, u: {uniformName: location}}. */
export function createProgram(gl, vsSource, fsSource) {
  const program = gl.createProgram();
  gl.attachShader(program, compile(gl, gl.VERTEX_SHADER, vsSource));
  gl.attachShader(program, compile(gl, gl.FRAGMENT_SHADER, fsSource));
  gl.linkProgram(program);
  if (!gl.getProgramParameter(program, gl.LINK_STATUS) && !gl.isContextLost()) {
    throw new Error(`program link failed: ${gl.getProgramInfoLog(program)}`);
  }
  const u = {};
  const count = gl.getProgramParameter(program, gl.ACTIVE_UNIFORMS);
  for (let i = 0; i < count; i++) {
    const info = gl.getActiveUniform(program, i);
    const name = info.name.replace(/\[0\]$/, "");
    u[name] = gl.getUniformLocation(program, info.name);
  }
  return {program, u};
}

/** Width and height of a data texture holding n texels: rows of at most min(maxTex, 4096) texels. */
export function dataTextureShape(n, maxTextureSize) {
  const width = Math.max(1, Math.min(maxTextureSize, 4096, n));
  const height = Math.max(1, Math.ceil(n / width));
  if (height > maxTextureSize) {
    throw new Error(`${n} images do not fit in this GPU's textures (max ${maxTextureSize}x${maxTextureSize})`);
  }
  return {width, height};
}

/** A nearest-filtered 2D texture for texelFetch (RGBA32F / RGBA32UI ...). */
export function createDataTexture(gl, internalFormat, format, type, width, height, data) {
  const tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D, tex);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, gl.NEAREST);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.texStorage2D(gl.TEXTURE_2D, 1, internalFormat, width, height);
  if (data) gl.texSubImage2D(gl.TEXTURE_2D, 0, 0, 0, width, height, format, type, data);
  return tex;
}

/** A TEXTURE_2D_ARRAY with `layers` layers of size x size RGBA8, `levels` mip levels. */
export function createArrayTexture(gl, size, layers, levels = 1) {
  const tex = gl.createTexture();
  gl.bindTexture(gl.TEXTURE_2D_ARRAY, tex);
  gl.texStorage3D(gl.TEXTURE_2D_ARRAY, levels, gl.RGBA8, size, size, layers);
  gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MIN_FILTER, levels > 1 ? gl.LINEAR_MIPMAP_LINEAR : gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MAG_FILTER, gl.LINEAR);
  gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_WRAP_S, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_WRAP_T, gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D_ARRAY, gl.TEXTURE_MAX_LEVEL, levels - 1);
  return tex;
}
