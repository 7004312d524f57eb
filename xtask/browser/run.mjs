// cargo xtask browser's driver: headless Debian Chromium (never a downloaded
// browser) against strom's WebRTC endpoints, with the pages served from
// another origin (a tiny HTTP server on its own loopback port).
//
//   node run.mjs whep --url http://127.0.0.1:H/live/s/whep --delays 730,1210 --secs 4 --settle 1.5
//     Joins once per delay (waiting that many ms first), each in a fresh page,
//     and prints one JSON line: {"mode":"whep","joins":[...]} (whep.html's figures).
//   node run.mjs whip --url http://127.0.0.1:H/live/s/whip --secs 30
//     Publishes the fake camera and microphone; prints {"event":"publishing",...}
//     once connected, keeps publishing until stdin closes (or --secs pass), then
//     prints {"event":"result",...}.
//   node run.mjs play --page hlsjs.html --url http://127.0.0.1:H/live/s/hls.fmp4.m3u8 --secs 6 --settle 2
//     Opens the player page (hlsjs.html: hls.js, mpegts.html: mpegts.js,
//     mse.html: plain MSE on .live.mp4 over http:// or ws://, video.html: a
//     plain <video src> on a recording download), plays for
//     --secs and prints one JSON line: {"mode":"play",...} (frames.js's figures
//     and the page's own).
//
// Exit status 0 when the run happened (the harness judges the figures), 1 on
// a setup failure (the JSON line then carries "error").

import { chromium } from 'playwright-core';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.STROM_CHROMIUM || '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
];

function parse(argv) {
  const o = { mode: argv[0], url: null, page: null, secs: 4, settle: 1.5, delays: [0] };
  for (let i = 1; i < argv.length; i += 2) {
    const [k, v] = [argv[i], argv[i + 1]];
    if (k === '--url') o.url = v;
    else if (k === '--secs') o.secs = Number(v);
    else if (k === '--settle') o.settle = Number(v);
    else if (k === '--page') o.page = v;
    else if (k === '--delays') o.delays = v.split(',').filter((x) => x).map(Number);
    else throw new Error(`unknown argument ${k}`);
  }
  const players = ['hlsjs.html', 'mpegts.html', 'mse.html', 'video.html'];
  if (!['whep', 'whip', 'play'].includes(o.mode) || !o.url || (o.mode === 'play') !== players.includes(o.page)) {
    throw new Error(
      `usage: node run.mjs whep|whip|play --url URL [--page ${players.join('|')}] [--secs S] [--settle S] [--delays MS,MS]`,
    );
  }
  return o;
}

// The pages, from 127.0.0.1 on a port of their own: another origin than strom.
function servePages() {
  const pages = {
    '/whep.html': ['whep.html', 'text/html; charset=utf-8'],
    '/whip.html': ['whip.html', 'text/html; charset=utf-8'],
    '/hlsjs.html': ['hlsjs.html', 'text/html; charset=utf-8'],
    '/mpegts.html': ['mpegts.html', 'text/html; charset=utf-8'],
    '/mse.html': ['mse.html', 'text/html; charset=utf-8'],
    '/video.html': ['video.html', 'text/html; charset=utf-8'],
    '/sdp.js': ['sdp.js', 'text/javascript; charset=utf-8'],
    '/frames.js': ['frames.js', 'text/javascript; charset=utf-8'],
    '/mp4.js': ['mp4.js', 'text/javascript; charset=utf-8'],
    // The players, from the lock file's node_modules.
    '/node_modules/hls.js/dist/hls.min.js': ['node_modules/hls.js/dist/hls.min.js', 'text/javascript'],
    '/node_modules/mpegts.js/dist/mpegts.js': ['node_modules/mpegts.js/dist/mpegts.js', 'text/javascript'],
  };
  const server = http.createServer((req, res) => {
    const page = pages[req.url];
    if (!page) {
      res.writeHead(req.url === '/favicon.ico' ? 204 : 404).end();
      return;
    }
    const [file, type] = page;
    res.writeHead(200, { 'Content-Type': type });
    res.end(fs.readFileSync(path.join(here, file)));
  });
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => ok(server));
  });
}

const print = (v) => process.stdout.write(JSON.stringify(v) + '\n');
const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

async function openPage(context, origin, file, log) {
  const page = await context.newPage();
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') log.push(`${file} console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => log.push(`${file} error: ${e.message}`));
  await page.goto(`${origin}/${file}`);
  return page;
}

async function whep(context, origin, o, log) {
  const joins = [];
  for (const delay of o.delays) {
    await sleep(delay);
    const page = await openPage(context, origin, 'whep.html', log);
    const r = await page
      .evaluate((a) => runWhep(a), { url: o.url, secs: o.secs, settleSecs: o.settle })
      .catch((e) => ({ ok: false, error: String(e) }));
    r.delayMs = delay;
    joins.push(r);
    await page.close();
  }
  print({ mode: 'whep', joins, log });
}

async function play(context, origin, o, log) {
  const page = await openPage(context, origin, o.page, log);
  const r = await page
    .evaluate((a) => runPlayer(a), { url: o.url, secs: o.secs, settleSecs: o.settle })
    .catch((e) => ({ ok: false, error: String(e) }));
  await page.close();
  print({ mode: 'play', page: o.page, ...r, log });
}

async function whip(context, origin, o, log) {
  const page = await openPage(context, origin, 'whip.html', log);
  const started = await page
    .evaluate((a) => startWhip(a), { url: o.url, connectSecs: 10 })
    .catch((e) => ({ ok: false, error: String(e) }));
  print({ event: 'publishing', ...started, log });
  if (started.ok) {
    // Until the harness closes our stdin (it has played the stream) or --secs.
    await Promise.race([
      new Promise((ok) => {
        process.stdin.on('end', ok);
        process.stdin.on('close', ok);
        process.stdin.resume();
      }),
      sleep(o.secs * 1000),
    ]);
  }
  const result = await page.evaluate(() => stopWhip()).catch((e) => ({ ok: false, error: String(e) }));
  print({ event: 'result', ...result, log });
}

async function main() {
  let o;
  try {
    o = parse(process.argv.slice(2));
  } catch (e) {
    print({ error: e.message });
    process.exit(1);
  }
  const log = [];
  const pages = await servePages();
  const origin = `http://127.0.0.1:${pages.address().port}`;
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'strom-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      timeout: 30000,
    });
    if (o.mode === 'whep') await whep(context, origin, o, log);
    else if (o.mode === 'play') await play(context, origin, o, log);
    else await whip(context, origin, o, log);
  } catch (e) {
    print({ error: `${e.message} (Chromium: ${CHROMIUM})`, log });
    process.exitCode = 1;
  } finally {
    if (context) await context.close().catch(() => {});
    pages.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
}

main();
