// Pointer, wheel and touch input on the map canvas (Pointer Events: mouse, pen and touch alike).
// 2D: drag pans. 3D: drag orbits; right-drag or shift-drag pans. Wheel / pinch zoom around the
// cursor; a tap or click without movement picks; double-click zooms in.

const CLICK_SLOP = 5; // px of movement that still counts as a click

export function attachInput(canvas, app) {
  const pointers = new Map(); // pointerId -> {x, y}
  let drag = null; // {x0, y0, moved, pan, button}
  let pinch = null; // {dist, mx, my}

  const local = (e) => {
    const r = canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  };

  const pinchState = () => {
    const [a, b] = [...pointers.values()];
    return {dist: Math.hypot(a.x - b.x, a.y - b.y), mx: (a.x + b.x) / 2, my: (a.y + b.y) / 2};
  };

  canvas.addEventListener("pointerdown", (e) => {
    if (e.pointerType === "mouse" && e.button !== 0 && e.button !== 2) return;
    try {
      canvas.setPointerCapture(e.pointerId);
    } catch {
      // synthetic or already-released pointers cannot be captured; dragging still works
    }
    const [x, y] = local(e);
    pointers.set(e.pointerId, {x, y});
    app.interrupt();
    if (pointers.size === 1) {
      drag = {x0: x, y0: y, lx: x, ly: y, moved: false, pan: e.button === 2 || e.shiftKey, button: e.button};
      app.setHover(-1);
    } else if (pointers.size === 2) {
      pinch = pinchState();
      if (drag) drag.moved = true; // a pinch is never a click
    }
  });

  canvas.addEventListener("pointermove", (e) => {
    const [x, y] = local(e);
    const p = pointers.get(e.pointerId);
    if (!p) {
      if (e.pointerType !== "touch") app.hoverAt(x, y);
      return;
    }
    p.x = x;
    p.y = y;
    if (pointers.size >= 2 && pinch) {
      const now = pinchState();
      app.zoomAt(now.dist / Math.max(pinch.dist, 1), now.mx, now.my);
      app.pan(now.mx - pinch.mx, now.my - pinch.my);
      pinch = now;
      return;
    }
    if (!drag) return;
    const dx = x - drag.lx, dy = y - drag.ly;
    drag.lx = x;
    drag.ly = y;
    if (!drag.moved && Math.hypot(x - drag.x0, y - drag.y0) < CLICK_SLOP) return;
    if (!drag.moved) canvas.classList.add("dragging");
    drag.moved = true;
    if (app.is3D() && !drag.pan) app.orbit(dx, dy);
    else app.pan(dx, dy);
  });

  const end = (e) => {
    if (!pointers.has(e.pointerId)) return;
    pointers.delete(e.pointerId);
    if (pointers.size < 2) pinch = null;
    if (pointers.size === 1 && drag) {
      // one finger left after a pinch: continue as a drag from where it is, not a click
      const [q] = pointers.values();
      drag.lx = q.x;
      drag.ly = q.y;
      return;
    }
    if (pointers.size === 0) {
      canvas.classList.remove("dragging");
      const wasClick = drag && !drag.moved && e.type === "pointerup" && drag.button === 0;
      drag = null;
      if (wasClick) {
        const [x, y] = local(e);
        app.clickAt(x, y, e); // (modifier keys: selection.js)
      }
    }
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  canvas.addEventListener("pointerleave", (e) => {
    if (!pointers.has(e.pointerId)) app.setHover(-1);
  });

  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    const [x, y] = local(e);
    let dy = e.deltaY;
    if (e.deltaMode === 1) dy *= 16;
    else if (e.deltaMode === 2) dy *= 400;
    // trackpad pinch arrives as ctrl+wheel with small deltas: make it as responsive as a wheel
    const k = e.ctrlKey ? 0.01 : 0.0015;
    app.interrupt();
    app.zoomAt(Math.exp(-dy * k), x, y);
  }, {passive: false});

  canvas.addEventListener("dblclick", (e) => {
    e.preventDefault();
    const [x, y] = local(e);
    app.zoomAnimated(2, x, y);
  });

  canvas.addEventListener("contextmenu", (e) => e.preventDefault());
}
