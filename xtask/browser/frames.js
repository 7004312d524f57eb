// What every player page of cargo xtask browser measures on its <video>:
// each presented frame (requestVideoFrameCallback), the frame number the
// xtask publisher draws into the picture's top 16 rows (16 bits, one 40 px
// block per bit, white = 1), and a summary over the frames presented from
// `settleSecs` after the first one.
//
//   const log = new FrameLog(video);   // before the player starts
//   log.start();                       // t0: the player is created / attached
//   ... play ...
//   const figures = log.summary(settleSecs);
class FrameLog {
  constructor(video) {
    this.video = video;
    this.t0 = performance.now();
    this.frames = [];
    this.firstFrameMs = null;
    this.waiting = 0;
    this.waitingAfterFirst = 0;
    const canvas = document.createElement('canvas');
    canvas.width = 640;
    canvas.height = 16;
    this.ctx = canvas.getContext('2d', { willReadFrequently: true });
    video.addEventListener('waiting', () => {
      this.waiting++;
      if (this.firstFrameMs !== null) this.waitingAfterFirst++;
    });
    const onFrame = (now, meta) => {
      this.onFrame(now, meta);
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  }

  // The moment the first-frame time counts from.
  start() {
    this.t0 = performance.now();
  }

  // Milliseconds since start().
  elapsed() {
    return performance.now() - this.t0;
  }

  // The frame number drawn into the picture, or null.
  readNumber() {
    if (this.video.videoWidth < 640) return null;
    try {
      this.ctx.drawImage(this.video, 0, 0, 640, 16, 0, 0, 640, 16);
      const px = this.ctx.getImageData(0, 0, 640, 16).data;
      let n = 0;
      for (let bit = 0; bit < 16; bit++) {
        const i = (8 * 640 + bit * 40 + 20) * 4; // row 8, the block's centre
        if (px[i] > 128) n |= 1 << bit;
      }
      return n;
    } catch (e) {
      return null;
    }
  }

  onFrame(now, meta) {
    if (this.firstFrameMs === null) this.firstFrameMs = now - this.t0;
    this.frames.push({
      at: now - this.t0,
      wall: performance.timeOrigin + meta.expectedDisplayTime,
      recvToDisplay: meta.receiveTime !== undefined ? meta.expectedDisplayTime - meta.receiveTime : null,
      captureToDisplay: meta.captureTime !== undefined ? meta.expectedDisplayTime - meta.captureTime : null,
      n: this.readNumber(),
    });
  }

  // When the settled window begins (ms since start()).
  settleAt(settleSecs) {
    return (this.firstFrameMs ?? 0) + settleSecs * 1000;
  }

  settled(settleSecs) {
    const from = this.settleAt(settleSecs);
    return this.frames.filter((f) => f.at >= from);
  }

  // First-frame time, picture size, frames, settled frame rate, and the
  // settled frames' numbers with their display times (epoch ms).
  summary(settleSecs) {
    const settled = this.settled(settleSecs);
    const span = settled.length > 1 ? (settled[settled.length - 1].at - settled[0].at) / 1000 : 0;
    return {
      firstFrameMs: this.firstFrameMs,
      settleAtMs: this.settleAt(settleSecs),
      width: this.video.videoWidth,
      height: this.video.videoHeight,
      framesPresented: this.frames.length,
      settledFrames: settled.length,
      fps: span > 0 ? (settled.length - 1) / span : 0,
      waiting: this.waiting,
      stalls: this.waitingAfterFirst,
      numbered: settled.filter((f) => f.n !== null).map((f) => [f.n, Math.round(f.wall)]),
    };
  }
}

// The median of the finite numbers in `xs`, or null.
function median(xs) {
  const s = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  return s.length ? s[(s.length / 2) | 0] : null;
}

// Seconds buffered ahead of the playhead (the live edge's distance in a
// player that buffers what arrives), or null before anything is buffered.
function bufferedAhead(video) {
  const b = video.buffered;
  return b.length ? b.end(b.length - 1) - video.currentTime : null;
}

// Every `everyMs` until `ms` pass: calls `sample()` once the settled window
// began (`log.settleAt`) and keeps its non-null results.
async function sampleSettled(log, settleSecs, ms, everyMs, sample) {
  const out = [];
  const end = performance.now() + ms;
  while (performance.now() < end) {
    await new Promise((ok) => setTimeout(ok, everyMs));
    if (log.firstFrameMs !== null && log.elapsed() >= log.settleAt(settleSecs)) {
      const v = sample();
      if (v !== null && v !== undefined && Number.isFinite(v)) out.push(v);
    }
  }
  return out;
}

// p50 and max of `xs` (null when empty).
function spread(xs) {
  if (!xs.length) return { p50: null, max: null, n: 0 };
  return { p50: median(xs), max: Math.max(...xs), n: xs.length };
}
