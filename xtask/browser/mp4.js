// Just enough ISO BMFF for mse.html: whole top-level boxes out of a byte
// stream, and the MSE codecs string of an init segment's moov (avcC, hvcC,
// av1C, esds, dOps sample entries).

// Largest box accepted from the wire.
const BOX_MAX = 16 * 1024 * 1024;

const fourcc = (u8, at) => String.fromCharCode(u8[at], u8[at + 1], u8[at + 2], u8[at + 3]);
const u32 = (u8, at) => ((u8[at] << 24) >>> 0) + (u8[at + 1] << 16) + (u8[at + 2] << 8) + u8[at + 3];
const hex2 = (x) => x.toString(16).padStart(2, '0');

function concatBytes(parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// Whole top-level boxes from bytes pushed in any pieces.
class BoxSplitter {
  constructor() {
    this.buf = new Uint8Array(0);
  }

  push(u8) {
    this.buf = this.buf.length ? concatBytes([this.buf, u8]) : u8;
  }

  // The next whole box {type, bytes}, or null until more bytes come.
  next() {
    const b = this.buf;
    if (b.length < 8) return null;
    let size = u32(b, 0);
    let header = 8;
    if (size === 1) {
      if (b.length < 16) return null;
      size = u32(b, 8) * 2 ** 32 + u32(b, 12);
      header = 16;
    }
    if (size < header) throw new Error(`box ${fourcc(b, 4)} of ${size} bytes`);
    if (size > BOX_MAX) throw new Error(`box ${fourcc(b, 4)} of ${size} bytes, over ${BOX_MAX}`);
    if (b.length < size) return null;
    const box = { type: fourcc(b, 4), bytes: b.slice(0, size) };
    this.buf = b.subarray(size);
    return box;
  }
}

// The child boxes of the box body u8[from..to): [{type, body, end}].
function children(u8, from, to) {
  const out = [];
  let at = from;
  while (at + 8 <= to) {
    let size = u32(u8, at);
    let header = 8;
    if (size === 1) {
      size = u32(u8, at + 8) * 2 ** 32 + u32(u8, at + 12);
      header = 16;
    } else if (size === 0) {
      size = to - at;
    }
    if (size < header || at + size > to) throw new Error(`bad box ${fourcc(u8, at + 4)} in the init segment`);
    out.push({ type: fourcc(u8, at + 4), body: at + header, end: at + size });
    at += size;
  }
  return out;
}

function child(u8, box, type) {
  const found = children(u8, box.body, box.end).find((c) => c.type === type);
  if (!found) throw new Error(`no ${type} in ${box.type}`);
  return found;
}

// The codecs string of one sample entry (its body starts after the 8 byte
// header): visual entries have 78 bytes of fields before their child
// boxes, audio entries (version 0) 28.
function codecOfEntry(u8, e) {
  const visual = { body: e.body + 78, end: e.end, type: e.type };
  const audio = { body: e.body + 28, end: e.end, type: e.type };
  switch (e.type) {
    case 'avc1':
    case 'avc3': {
      const c = child(u8, visual, 'avcC').body;
      return `${e.type}.${hex2(u8[c + 1])}${hex2(u8[c + 2])}${hex2(u8[c + 3])}`;
    }
    case 'hvc1':
    case 'hev1': {
      const c = child(u8, visual, 'hvcC').body;
      const space = ['', 'A', 'B', 'C'][u8[c + 1] >> 6];
      const tier = u8[c + 1] & 0x20 ? 'H' : 'L';
      const idc = u8[c + 1] & 0x1f;
      // general_profile_compatibility_flags, bit-reversed.
      let compat = u32(u8, c + 2);
      let reversed = 0;
      for (let i = 0; i < 32; i++) {
        reversed = ((reversed << 1) | (compat & 1)) >>> 0;
        compat >>>= 1;
      }
      const constraints = Array.from(u8.subarray(c + 6, c + 12));
      while (constraints.length && constraints[constraints.length - 1] === 0) constraints.pop();
      const tail = constraints.map((x) => `.${x.toString(16)}`).join('');
      return `${e.type}.${space}${idc}.${reversed.toString(16)}.${tier}${u8[c + 12]}${tail}`;
    }
    case 'av01': {
      const c = child(u8, visual, 'av1C').body;
      const profile = u8[c + 1] >> 5;
      const level = u8[c + 1] & 0x1f;
      const tier = u8[c + 2] & 0x80 ? 'H' : 'M';
      const depth = u8[c + 2] & 0x40 ? (profile === 2 && u8[c + 2] & 0x20 ? 12 : 10) : 8;
      return `av01.${profile}.${String(level).padStart(2, '0')}${tier}.${String(depth).padStart(2, '0')}`;
    }
    case 'mp4a':
      return `mp4a.${esdsCodec(u8, child(u8, audio, 'esds'))}`;
    case 'Opus':
      child(u8, audio, 'dOps');
      return 'opus';
    default:
      throw new Error(`sample entry ${e.type} unknown to this page`);
  }
}

// "40.2" from an esds box: the DecoderConfigDescriptor's object type and
// the AudioSpecificConfig's audio object type.
function esdsCodec(u8, esds) {
  let at = esds.body + 4; // version and flags
  const descriptor = (tag) => {
    if (u8[at] !== tag) throw new Error(`esds: descriptor ${u8[at]}, expected ${tag}`);
    at++;
    let len = 0;
    for (let i = 0; i < 4; i++) {
      const b = u8[at++];
      len = (len << 7) | (b & 0x7f);
      if (!(b & 0x80)) break;
    }
    if (at + len > esds.end) throw new Error('esds: descriptor past the box');
    return len;
  };
  descriptor(3); // ES_Descriptor
  const flags = u8[at + 2];
  at += 3;
  if (flags & 0x80) at += 2; // dependsOn_ES_ID
  if (flags & 0x40) at += 1 + u8[at]; // URL
  if (flags & 0x20) at += 2; // OCR_ES_Id
  descriptor(4); // DecoderConfigDescriptor
  const oti = u8[at];
  at += 13;
  descriptor(5); // DecoderSpecificInfo: the AudioSpecificConfig
  let aot = u8[at] >> 3;
  if (aot === 31) aot = 32 + (((u8[at] & 7) << 3) | (u8[at + 1] >> 5));
  return `${hex2(oti)}.${aot}`;
}

// The codecs strings of every track of an init segment's moov box.
function codecsOfInit(moovBytes) {
  const u8 = moovBytes;
  const moov = children(u8, 0, u8.length)[0];
  if (!moov || moov.type !== 'moov') throw new Error('not a moov box');
  const codecs = [];
  for (const trak of children(u8, moov.body, moov.end).filter((c) => c.type === 'trak')) {
    const stbl = child(u8, child(u8, child(u8, trak, 'mdia'), 'minf'), 'stbl');
    const stsd = child(u8, stbl, 'stsd');
    // Full box header and entry count, then the entries.
    const entries = children(u8, stsd.body + 8, stsd.end);
    if (!entries.length) throw new Error('stsd without a sample entry');
    codecs.push(codecOfEntry(u8, entries[0]));
  }
  if (!codecs.length) throw new Error('moov without a track');
  return codecs;
}
