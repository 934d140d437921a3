import assert from "node:assert/strict";
import { FramedStream } from "../../src/io/framed_stream.ts";
import type { Reactor } from "../../src/io/reactor.ts";
import { relay, type RelayStats } from "../../src/io/relay.ts";
import {
  JsStream,
  readExact,
  readSome,
  RECEIVE_BLOCK,
  receiveBlocksPooled,
  WOULD_BLOCK,
  writeAll,
} from "../../src/io/stream.ts";
import { concatBytes } from "../_helpers/bytes.ts";
import { streamPair } from "../_helpers/stream_pair.ts";
import { withReactor } from "../outbound/_helpers.ts";

/** A JsStream whose test code produces bytes in place, as a decrypting protocol does. */
class InPlace extends JsStream {
  protected sendBytes(buf: Uint8Array): number {
    return buf.length;
  }
  protected sendEof(): void {}
  protected destroy(): void {}
  space(n: number): Uint8Array {
    return this.pushSpace(n);
  }
  commit(space: Uint8Array): void {
    this.pushCommit(space);
  }
  pushOwn(bytes: Uint8Array): void {
    this.push(bytes);
  }
  end(): void {
    this.pushEof();
  }
}

/** Fills `n` bytes in place with `seq`, `seq + 1`, ... (mod 251) and delivers them. */
function produce(s: InPlace, n: number, seq: number): number {
  const room = s.space(n);
  assert.equal(room.length, n);
  for (let i = 0; i < n; i++) room[i] = (seq + i) % 251;
  s.commit(room);
  return seq + n;
}

function readAll(s: JsStream, n: number): Uint8Array {
  const out = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = s.read(out.subarray(off, Math.min(n, off + 1000)));
    assert.notEqual(got, WOULD_BLOCK, `stalled after ${off} of ${n} bytes`);
    off += got;
  }
  return out;
}

function expected(seq: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (seq + i) % 251;
  return out;
}

Deno.test("`JsStream.pushSpace()` rooms are read in order with pushed pieces, across blocks", async () => {
  await withReactor((r) => {
    const s = new InPlace(r);
    // 2 000-byte pieces (V2Ray's chunk size) over more than two blocks, with pieces of their own
    // in between and reads that stop in the middle of pieces.
    let seq = 0, readSeq = 0;
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 40; i++) seq = produce(s, 2000, seq);
      const own = expected(seq, 333);
      s.pushOwn(own);
      seq += 333;
      for (let i = 0; i < 7; i++) seq = produce(s, 1999, seq);
      // Read all but 1 500 bytes, so a block stays partly unread while the next one fills.
      const n = seq - readSeq - 1500;
      assert.deepEqual(readAll(s, n), expected(readSeq, n));
      readSeq += n;
    }
    assert.deepEqual(readAll(s, seq - readSeq), expected(readSeq, seq - readSeq));
    assert.equal(s.read(new Uint8Array(10)), WOULD_BLOCK);
    s.close();
    return Promise.resolve();
  });
});

Deno.test("`JsStream` reuses a receive block once its bytes are read, and pools it when closed", async () => {
  await withReactor((r) => {
    const s = new InPlace(r);
    const first = s.space(2000);
    s.commit(first);
    assert.equal(readAll(s, 2000).length, 2000);
    // Everything read: the next room starts the same block over (no new memory).
    const again = s.space(2000);
    assert.equal(again.buffer, first.buffer);
    assert.equal(again.byteOffset, 0);
    s.commit(again);
    // A room that does not fit the rest of the block comes from another block; the first one is
    // kept while it has unread bytes.
    const big = s.space(RECEIVE_BLOCK - 1000);
    assert.notEqual(big.buffer, first.buffer);
    big.fill(7);
    s.commit(big);
    const pooled = receiveBlocksPooled();
    const got = readAll(s, 2000 + RECEIVE_BLOCK - 1000);
    assert.ok(got.subarray(2000).every((b) => b === 7));
    assert.equal(receiveBlocksPooled(), pooled + 1, "the first block went back to the pool");
    s.close();
    assert.equal(receiveBlocksPooled(), pooled + 2, "closing pools the block being filled");
    // A room larger than a block is memory of its own, delivered like a pushed piece.
    const s2 = new InPlace(r);
    const huge = s2.space(RECEIVE_BLOCK + 1);
    assert.equal(huge.buffer.byteLength, RECEIVE_BLOCK + 1);
    huge.fill(3);
    s2.commit(huge);
    assert.ok(readAll(s2, RECEIVE_BLOCK + 1).every((b) => b === 3));
    s2.close();
    return Promise.resolve();
  });
});

Deno.test("`JsStream.pushCommit()` drops a room when the stream has failed or closed", async () => {
  await withReactor((r) => {
    const s = new InPlace(r);
    s.close();
    const room = s.space(10);
    s.commit(room);
    assert.throws(() => s.read(new Uint8Array(10)), /closed stream/);
    return Promise.resolve();
  });
});

/**
 * A framed layer whose frames are `len ‖ bytes` and whose decoder copies each payload into
 * `inSpace` (as decryption does); payloads starting with 0xAA are delivered later (a promise,
 * as WebCrypto does).
 */
class Framed extends FramedStream {
  constructor(inner: ConstructorParameters<typeof FramedStream>[0]) {
    super(inner, 8192);
    this.startReading();
  }
  protected encode(): void {}
  protected decode(buf: Uint8Array): number {
    if (buf.length < 2) return 0;
    const n = (buf[0]! << 8) | buf[1]!;
    if (buf.length < 2 + n) return 0;
    const payload = buf.subarray(2, 2 + n);
    if (payload[0] === 0xaa) {
      const copy = payload.slice();
      this.queueIn(new Promise((resolve) => setTimeout(() => resolve(copy), 5)));
    } else {
      const room = this.inSpace(n);
      room.set(payload);
      this.queueIn(room);
    }
    return 2 + n;
  }
}

function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + payload.length);
  out[0] = payload.length >> 8;
  out[1] = payload.length & 0xff;
  out.set(payload, 2);
  return out;
}

Deno.test("`FramedStream.inSpace()` keeps decoded pieces in order behind a pending one", async () => {
  await withReactor(async (r) => {
    const [a, b] = streamPair(r, 1 << 20);
    const framed = new Framed(b);
    const payloads: Uint8Array[] = [];
    for (let i = 0; i < 60; i++) {
      const p = new Uint8Array(1500 + i).fill(i);
      if (i % 17 === 5) p[0] = 0xaa; // delivered late: the pieces after it must wait
      payloads.push(p);
    }
    const all = concatBytes(...payloads.map(frame));
    assert.equal(a.write(all), all.length);
    const want = concatBytes(...payloads);
    const got = new Uint8Array(want.length);
    await readExact(framed, got, "framed read");
    assert.deepEqual(got, want);
    framed.close();
    a.close();
  });
});

Deno.test("`JsStream.readView()` shows held bytes in place; `consume()` takes them, grown tail too", async () => {
  await withReactor((r) => {
    const s = new InPlace(r);
    assert.equal(s.readView(), WOULD_BLOCK);
    let seq = produce(s, 2000, 0);
    const first = s.readView() as Uint8Array;
    assert.deepEqual(first, expected(0, 2000));
    assert.equal(first.buffer.byteLength, RECEIVE_BLOCK, "a view of the receive block, not a copy");
    // The next room is adjacent: the same piece grows; the old view is the old extent, and
    // consuming it leaves exactly the new bytes.
    seq = produce(s, 2000, seq);
    s.consume(first.length);
    assert.deepEqual(s.readView(), expected(2000, 2000));
    s.consume(1500);
    assert.deepEqual(s.readView(), expected(3500, 500));
    // Across blocks and a pushed piece of its own, consumed in uneven steps.
    for (let i = 0; i < 40; i++) seq = produce(s, 2000, seq);
    s.pushOwn(expected(seq, 333));
    seq += 333;
    for (let i = 0; i < 5; i++) seq = produce(s, 1999, seq);
    let readSeq = 3500;
    const pooled = receiveBlocksPooled();
    while (readSeq < seq) {
      const v = s.readView();
      assert.ok(v instanceof Uint8Array, `stalled after ${readSeq} of ${seq} bytes`);
      const take = Math.min(v.length, 7777);
      assert.deepEqual(v.subarray(0, take), expected(readSeq, take));
      s.consume(take);
      readSeq += take;
    }
    assert.equal(s.bufferedAmount, 0);
    assert.ok(receiveBlocksPooled() > pooled, "a block read through went back to the pool");
    assert.equal(s.readView(), WOULD_BLOCK);
    assert.throws(() => s.consume(1), RangeError);
    s.end();
    assert.equal(s.readView(), 0, "EOF");
    s.close();
    assert.throws(() => s.readView(), /closed stream/);
    return Promise.resolve();
  });
});

/** Takes at most `step` bytes per write, and every other write waits (WOULD_BLOCK) a while. */
class Picky extends InPlace {
  readonly got: number[] = [];
  /** Each write taken: its length and the memory it came from. */
  readonly writes: { n: number; from: ArrayBufferLike }[] = [];
  #n = 0;
  #blocked = false;
  constructor(r: Reactor, readonly step: number) {
    super(r);
  }
  protected override sendBytes(buf: Uint8Array): number {
    if (this.#blocked) return WOULD_BLOCK;
    if (this.#n++ % 2 === 1) {
      this.#blocked = true;
      this.reactor.setTimeout(1, () => {
        this.#blocked = false;
        this.sendReady();
      });
      return WOULD_BLOCK;
    }
    const n = Math.min(this.step, buf.length);
    this.writes.push({ n, from: buf.buffer });
    for (let i = 0; i < n; i++) this.got.push(buf[i]!);
    return n;
  }
}

Deno.test("`relay()` writes a JS stream's large pieces from its receive blocks, and gathers small ones", async () => {
  await withReactor(async (r) => {
    const src = new InPlace(r);
    const dst = new Picky(r, 40_000);
    const done = new Promise<RelayStats>((resolve) => {
      relay(src, dst, { onClose: resolve });
    });
    const pause = () => new Promise((resolve) => setTimeout(resolve, 5));
    // Whole receive blocks of decrypted bytes: written from the blocks (the rest of a block a
    // write did not take stays there).
    let seq = 0;
    const blocks = new Set<ArrayBufferLike>();
    for (let i = 0; i < 4; i++) {
      const room = src.space(RECEIVE_BLOCK);
      blocks.add(room.buffer);
      room.set(expected(seq, RECEIVE_BLOCK));
      src.commit(room);
      seq += RECEIVE_BLOCK;
      await pause();
    }
    const big = dst.writes.length;
    // Small pieces of their own (TLS records, a userspace stack's segments): gathered, several
    // to a write.
    for (let burst = 0; burst < 5; burst++) {
      for (let i = 0; i < 40; i++) {
        src.pushOwn(expected(seq, 500));
        seq += 500;
      }
      await pause();
    }
    src.end();
    dst.end(); // the other direction ends too
    const stats = await done;
    assert.equal(stats.end, "done");
    assert.equal(stats.up, seq);
    assert.deepEqual(new Uint8Array(dst.got), expected(0, seq));
    const first = dst.writes.slice(0, big), small = dst.writes.slice(big);
    assert.ok(first.length > 0 && small.length > 0);
    const fromBlocks = first.filter((w) => blocks.has(w.from)).length;
    assert.ok(fromBlocks >= 4, `${fromBlocks} of ${first.length} writes came from the blocks`);
    const single = small.filter((w) => w.n <= 500).length;
    assert.equal(single, 0, `${single} of ${small.length} writes carried one small piece`);
  });
});

/**
 * A framed layer whose frames are `len ‖ bytes`, made in place with `outSpace` (as sealing
 * does); a write starting with 0xAA first queues a piece that is ready later (a promise).
 */
class OutFramed extends FramedStream {
  /** Whether each room came from the output stage (64 KiB) rather than memory of its own. */
  readonly staged: boolean[] = [];
  constructor(inner: ConstructorParameters<typeof FramedStream>[0]) {
    super(inner, 1024);
    this.startReading();
  }
  protected encode(data: Uint8Array): void {
    if (data[0] === 0xaa) {
      const late = frame(data.slice(0, 1));
      this.queueOut(new Promise((resolve) => setTimeout(() => resolve(late), 5)));
      data = data.subarray(1);
    } else if (data[0] === 0xbb) {
      // A room queued after a piece queued since it was handed out: it goes after that piece.
      const room = this.outSpace(3);
      room.set(frame(data.subarray(0, 1)));
      this.queueOut(Promise.resolve(frame(new Uint8Array([0xcc]))));
      this.queueOut(room);
      data = data.subarray(1);
    }
    for (let off = 0; off < data.length; off += 3000) {
      const piece = data.subarray(off, Math.min(data.length, off + 3000));
      const room = this.outSpace(2 + piece.length);
      this.staged.push(room.buffer.byteLength === RECEIVE_BLOCK && room.length < RECEIVE_BLOCK);
      room[0] = piece.length >> 8;
      room[1] = piece.length & 0xff;
      room.set(piece, 2);
      this.queueOut(room);
    }
  }
  /** The end marker: an empty frame, made in place too. */
  protected override encodeEnd(): void {
    const room = this.outSpace(2);
    room.fill(0);
    this.queueOut(room);
  }
  protected decode(buf: Uint8Array): number {
    return buf.length;
  }
}

function framesOf(data: Uint8Array, step: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += step) {
    out.push(frame(data.subarray(off, Math.min(data.length, off + step))));
  }
  return out;
}

async function readFrames(b: JsStream, want: Uint8Array[]): Promise<void> {
  const wantBytes = concatBytes(...want);
  const got = new Uint8Array(wantBytes.length);
  await readExact(b, got, "frames");
  assert.deepEqual(got, wantBytes);
}

Deno.test("`FramedStream.outSpace()` frames in the output stage in order, behind a pending piece, then the end marker", async () => {
  await withReactor(async (r) => {
    // A slow inner stream (16 KiB in flight): the stage fills, and later rooms wait their turn.
    const [a, b] = streamPair(r, 16 * 1024);
    const framed = new OutFramed(a);
    const first = expected(0, 100_000);
    const second = expected(7, 9_001);
    second[0] = 0xaa; // a late piece first, then frames that must stay behind it
    await writeAll(framed, first, "first");
    await writeAll(framed, second, "second");
    await readFrames(b, [
      ...framesOf(first, 3000),
      frame(new Uint8Array([0xaa])),
      ...framesOf(second.subarray(1), 3000),
    ]);
    // Everything is out: the next room is the stage's start.
    const third = expected(3, 5000);
    third[0] = 0xbb;
    await writeAll(framed, third, "third");
    framed.shutdownWrite();
    await readFrames(b, [
      frame(new Uint8Array([0xcc])),
      frame(new Uint8Array([0xbb])),
      ...framesOf(third.subarray(1), 3000),
      frame(new Uint8Array(0)),
    ]);
    assert.equal(await readSome(b, new Uint8Array(1), "EOF"), 0, "EOF after the end marker");
    assert.ok(framed.staged[0], "the first frame was made in the stage");
    assert.ok(framed.staged.includes(false), "frames behind queued bytes had memory of their own");
    assert.ok(framed.staged.filter((s) => s).length > 10, "most frames were staged in place");
    framed.close();
    b.close();
  });
});
