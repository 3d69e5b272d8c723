// exitwise demo — the drawing pad: white ink on black like MNIST, with a thick round brush.
// The strokes are centred the way MNIST digits were (fitted into a 20/28 box, centred on the
// centre of mass) before the image goes to the library, which resizes it to the model's input.

const SIZE = 280; // canvas pixels (10× MNIST)
const BRUSH = 22;

export class DrawPad {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {(image: ImageData | null, final: boolean) => void} onChange called while drawing
   *   (final = false, throttled by the caller) and when a stroke ends (final = true);
   *   `null` after clear().
   */
  constructor(canvas, onChange) {
    this.canvas = canvas;
    this.canvas.width = SIZE;
    this.canvas.height = SIZE;
    this.ctx = canvas.getContext("2d", { willReadFrequently: true });
    this.onChange = onChange;
    this.drawing = false;
    this.inked = false;
    this.last = null;
    this.clear(false);
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
  }

  clear(notify = true) {
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, SIZE, SIZE);
    this.inked = false;
    if (notify) this.onChange(null, true);
  }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) / r.width) * SIZE, y: ((e.clientY - r.top) / r.height) * SIZE };
  }

  down(e) {
    if (e.button !== 0) return;
    e.preventDefault();
    this.canvas.setPointerCapture(e.pointerId);
    this.drawing = true;
    this.last = this.point(e);
    this.stroke(this.last, this.last);
  }

  move(e) {
    if (!this.drawing) return;
    e.preventDefault();
    const p = this.point(e);
    this.stroke(this.last, p);
    this.last = p;
    this.onChange(this.image(), false);
  }

  up(e) {
    if (!this.drawing) return;
    this.drawing = false;
    if (this.canvas.hasPointerCapture(e.pointerId)) this.canvas.releasePointerCapture(e.pointerId);
    this.onChange(this.image(), true);
  }

  stroke(a, b) {
    const c = this.ctx;
    c.strokeStyle = "#fff";
    c.lineWidth = BRUSH;
    c.lineCap = "round";
    c.lineJoin = "round";
    c.beginPath();
    c.moveTo(a.x, a.y);
    c.lineTo(b.x + 0.01, b.y);
    c.stroke();
    this.inked = true;
  }

  /** The drawing, MNIST-centred, as a SIZE × SIZE ImageData (null when empty). */
  image() {
    if (!this.inked) return null;
    return centred(this.ctx.getImageData(0, 0, SIZE, SIZE));
  }
}

/** Fits the ink's bounding box into 20/28 of the frame and centres its centre of mass. */
export function centred(src) {
  const { width: w, height: h, data } = src;
  let x0 = w, y0 = h, x1 = -1, y1 = -1, mass = 0, mx = 0, my = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = data[(y * w + x) * 4];
      if (v > 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        if (y > y1) y1 = y;
        mass += v;
        mx += v * x;
        my += v * y;
      }
    }
  }
  if (x1 < 0) return src;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1;
  const scale = ((20 / 28) * w) / Math.max(bw, bh);
  // Centre of mass, in the destination frame, lands at the centre.
  const cx = (mx / mass - x0) * scale, cy = (my / mass - y0) * scale;
  const dx = w / 2 - cx, dy = h / 2 - cy;
  const from = document.createElement("canvas");
  from.width = w;
  from.height = h;
  from.getContext("2d").putImageData(src, 0, 0);
  const to = document.createElement("canvas");
  to.width = w;
  to.height = h;
  const c = to.getContext("2d", { willReadFrequently: true });
  c.fillStyle = "#000";
  c.fillRect(0, 0, w, h);
  c.imageSmoothingQuality = "high";
  c.drawImage(from, x0, y0, bw, bh, dx, dy, bw * scale, bh * scale);
  return c.getImageData(0, 0, w, h);
}
