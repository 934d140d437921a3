/**
 * A read-only trie over byte strings: the structure behind sing-box's domain matchers
 * (SagerNet/sing `common/domain/set.go`, a LOUDS "succinct set"), converted at load time into a
 * form that needs no rank/select to walk and keeps what a lookup touches close together.
 *
 * Nodes are numbered depth first (pre-order), the root is node 0. Node `n`'s outgoing edges are
 * the entries `[first[n], first[n + 1])`: entry `k` has the byte `labels[k]` and leads to node
 * `child[k]`. Bit `n` of `leaves` says a key ends at node `n`. Edges keep the order they were
 * built in (ascending bytes). A lookup scans one node's labels, which are contiguous, then moves
 * to the child; along a chain of single children (most of a domain trie) nodes and entries are
 * consecutive, so a walk reads memory in order.
 *
 * sing-box stores the same trie as LOUDS bitmaps in breadth-first order (`labelBitmap`: for
 * every node, one 0 per child then a 1; `leaves`: one bit per node), in 64-bit words.
 * {@linkcode ByteTrie.fromLouds} and {@linkcode ByteTrie.toLouds} convert exactly, so a set read
 * from a `.srs` file is written back byte for byte.
 *
 * Memory: nine bytes and one bit per node; 100,000 domains of 15 bytes take about 7 MB. Keys are
 * "byte strings": JavaScript strings whose every code unit is a byte (0–255), so the default
 * string sort is byte order.
 *
 * @module
 */

/** The arrays of a trie; structured-clone safe (shared when they live in a `SharedArrayBuffer`). */
export interface ByteTrieData {
  /** Per node (plus one): index of its first edge. */
  first: Uint32Array;
  /** Per edge: its byte. */
  labels: Uint8Array;
  /** Per edge: the node it leads to. */
  child: Uint32Array;
  /** Per node: a key ends there. */
  leaves: Uint8Array;
}

/** The trie as sing-box serializes it: LOUDS bitmaps as big-endian 64-bit words. */
export interface LoudsData {
  /** `leaves` words, 8 bytes each, big-endian. */
  leaves: Uint8Array;
  /** `labelBitmap` words, 8 bytes each, big-endian. */
  labelBitmap: Uint8Array;
  labels: Uint8Array;
}

/** Bit `i` of a LOUDS bitmap stored as big-endian 64-bit words. */
function loudsBit(words: Uint8Array, i: number): number {
  const byte = (i >>> 6) * 8 + 7 - ((i & 63) >>> 3);
  return (words[byte]! >>> (i & 7)) & 1;
}

function setLoudsBit(words: Uint8Array, i: number): void {
  const byte = (i >>> 6) * 8 + 7 - ((i & 63) >>> 3);
  words[byte]! |= 1 << (i & 7);
}

function allocate(nodes: number, shared: boolean): ByteTrieData {
  const edges = nodes - 1;
  const leafBytes = (nodes + 7) >>> 3;
  if (!shared) {
    return {
      first: new Uint32Array(nodes + 1),
      labels: new Uint8Array(edges),
      child: new Uint32Array(edges),
      leaves: new Uint8Array(leafBytes),
    };
  }
  const buf = new SharedArrayBuffer((nodes + 1) * 4 + edges * 4 + edges + leafBytes);
  let off = 0;
  const first = new Uint32Array(buf, off, nodes + 1);
  off += (nodes + 1) * 4;
  const child = new Uint32Array(buf, off, edges);
  off += edges * 4;
  const labels = new Uint8Array(buf, off, edges);
  off += edges;
  return { first, labels, child, leaves: new Uint8Array(buf, off, leafBytes) };
}

/** A growable stack of int32 records of `width` fields. */
class Stack {
  a: Int32Array;
  top = -1;
  constructor(readonly width: number) {
    this.a = new Int32Array(64 * width);
  }
  push(): number {
    this.top++;
    if ((this.top + 1) * this.width > this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    return this.top * this.width;
  }
}

/** A trie over byte strings (see the module documentation). */
export class ByteTrie {
  readonly first: Uint32Array;
  readonly labels: Uint8Array;
  readonly child: Uint32Array;
  readonly leaves: Uint8Array;

  private constructor(data: ByteTrieData) {
    const nodes = data.first.length - 1;
    if (
      nodes < 1 || data.labels.length !== nodes - 1 || data.child.length !== nodes - 1 ||
      data.leaves.length * 8 < nodes
    ) {
      throw new RangeError("Invalid trie arrays");
    }
    this.first = data.first;
    this.labels = data.labels;
    this.child = data.child;
    this.leaves = data.leaves;
  }

  /** Number of nodes, the root included. */
  get nodeCount(): number {
    return this.first.length - 1;
  }

  /** Bytes held by the arrays. */
  get byteLength(): number {
    return this.first.byteLength + this.labels.byteLength + this.child.byteLength +
      this.leaves.byteLength;
  }

  /** True when a key ends at `node`. */
  isLeaf(node: number): boolean {
    return ((this.leaves[node >>> 3]! >>> (node & 7)) & 1) === 1;
  }

  /**
   * Builds the trie of `keys` (byte strings). Sorts and removes duplicates first; with `shared`
   * the arrays live in a `SharedArrayBuffer`, so posting {@linkcode data} to a worker shares them.
   */
  static build(keys: readonly string[], shared = false): ByteTrie {
    const sorted = [...keys].sort();
    let unique = 0;
    for (let i = 0; i < sorted.length; i++) {
      if (i === 0 || sorted[i] !== sorted[unique - 1]) sorted[unique++] = sorted[i]!;
    }
    sorted.length = unique;
    // One node per distinct prefix: the root, plus for each key the bytes after the prefix it
    // shares with the key before it.
    let nodes = 1;
    for (let i = 0; i < sorted.length; i++) {
      const k = sorted[i]!;
      const prev = i > 0 ? sorted[i - 1]! : "";
      let common = 0;
      const max = Math.min(prev.length, k.length);
      while (common < max && prev.charCodeAt(common) === k.charCodeAt(common)) common++;
      for (let j = common; j < k.length; j++) {
        if (k.charCodeAt(j) > 0xff) {
          throw new RangeError(`Cannot build a trie: key ${JSON.stringify(k)} is not bytes`);
        }
      }
      nodes += k.length - common;
    }
    const out = allocate(nodes, shared);
    // Depth first over key ranges. A frame: [node, range end, column, next key, next edge].
    const st = new Stack(5);
    let nextNode = 0;
    let nextEdge = 0;
    const open = (s: number, e: number, col: number): number => {
      const node = nextNode++;
      if (s < e && sorted[s]!.length === col) {
        out.leaves[node >>> 3]! |= 1 << (node & 7);
        s++;
      }
      out.first[node] = nextEdge;
      const f = st.push();
      st.a[f] = node;
      st.a[f + 1] = e;
      st.a[f + 2] = col;
      st.a[f + 3] = s;
      st.a[f + 4] = nextEdge;
      // Reserve one edge per distinct byte at `col`.
      for (let j = s; j < e;) {
        const c = sorted[j]!.charCodeAt(col);
        out.labels[nextEdge++] = c;
        while (j < e && sorted[j]!.charCodeAt(col) === c) j++;
      }
      return node;
    };
    open(0, sorted.length, 0);
    while (st.top >= 0) {
      const f = st.top * 5;
      const j = st.a[f + 3]!;
      const e = st.a[f + 1]!;
      if (j >= e) {
        st.top--;
        continue;
      }
      const col = st.a[f + 2]!;
      const c = sorted[j]!.charCodeAt(col);
      let k = j;
      while (k < e && sorted[k]!.charCodeAt(col) === c) k++;
      const edge = st.a[f + 4]!;
      st.a[f + 3] = k;
      st.a[f + 4] = edge + 1;
      out.child[edge] = open(j, k, col + 1);
    }
    out.first[nodes] = nextEdge;
    return new ByteTrie(out);
  }

  /** Wraps arrays made by another trie's {@linkcode data} (for example, in a worker). */
  static fromData(data: ByteTrieData): ByteTrie {
    return new ByteTrie(data);
  }

  /** The arrays, to post to another thread. */
  get data(): ByteTrieData {
    return { first: this.first, labels: this.labels, child: this.child, leaves: this.leaves };
  }

  /**
   * Converts sing-box's LOUDS form. Throws `RangeError` when the bitmaps do not describe a
   * tree (wrong label count, a node whose children would not come after it, leaf bits past the
   * last node), so a corrupted file cannot make a lookup loop or read out of bounds.
   */
  static fromLouds(louds: LoudsData, shared = false): ByteTrie {
    const { labelBitmap, labels } = louds;
    if (labelBitmap.length % 8 !== 0 || louds.leaves.length % 8 !== 0) {
      throw new RangeError("Invalid domain trie: bitmap is not a whole number of 64-bit words");
    }
    const bits = labelBitmap.length * 8;
    let ones = 0;
    for (let i = 0; i < labelBitmap.length; i++) {
      let b = labelBitmap[i]!;
      while (b !== 0) {
        b &= b - 1;
        ones++;
      }
    }
    if (ones === 0) throw new RangeError("Invalid domain trie: empty label bitmap");
    if (labels.length !== ones - 1) {
      throw new RangeError(
        `Invalid domain trie: ${ones} nodes need ${ones - 1} labels, found ${labels.length}`,
      );
    }
    // Breadth-first: node n's labels are [start[n], start[n+1]), label k leads to node k + 1.
    const start = new Uint32Array(ones + 1);
    let node = 0;
    let labelIndex = 0;
    for (let i = 0; i < bits && node < ones; i++) {
      if (loudsBit(labelBitmap, i) === 0) {
        labelIndex++;
        continue;
      }
      const s = start[node]!;
      if (labelIndex > s && s < node) {
        throw new RangeError(`Invalid domain trie: node ${node} has children before it`);
      }
      start[++node] = labelIndex;
    }
    if (labelIndex !== labels.length) {
      throw new RangeError("Invalid domain trie: label bitmap does not match the labels");
    }
    const leafBits = louds.leaves.length * 8;
    for (let i = ones; i < leafBits; i++) {
      if (loudsBit(louds.leaves, i) !== 0) {
        throw new RangeError(`Invalid domain trie: leaf bit ${i} past the last node`);
      }
    }
    // Renumber depth first. A frame: [breadth-first node, next label, next edge].
    const out = allocate(ones, shared);
    const st = new Stack(3);
    let nextNode = 0;
    let nextEdge = 0;
    const open = (bfs: number): number => {
      const id = nextNode++;
      if (bfs < leafBits && loudsBit(louds.leaves, bfs)) out.leaves[id >>> 3]! |= 1 << (id & 7);
      out.first[id] = nextEdge;
      const f = st.push();
      st.a[f] = bfs;
      st.a[f + 1] = start[bfs]!;
      st.a[f + 2] = nextEdge;
      for (let k = start[bfs]!; k < start[bfs + 1]!; k++) out.labels[nextEdge++] = labels[k]!;
      return id;
    };
    open(0);
    while (st.top >= 0) {
      const f = st.top * 3;
      const bfs = st.a[f]!;
      const k = st.a[f + 1]!;
      if (k >= start[bfs + 1]!) {
        st.top--;
        continue;
      }
      const edge = st.a[f + 2]!;
      st.a[f + 1] = k + 1;
      st.a[f + 2] = edge + 1;
      out.child[edge] = open(k + 1);
    }
    out.first[ones] = nextEdge;
    return new ByteTrie(out);
  }

  /** The LOUDS form, word for word as sing-box's `newSuccinctSet` produces it. */
  toLouds(): LoudsData {
    const n = this.nodeCount;
    const queue = new Uint32Array(n);
    let tail = 1;
    const totalBits = 2 * n - 1;
    const bitmap = new Uint8Array((((totalBits - 1) >>> 6) + 1) * 8);
    const labels = new Uint8Array(n - 1);
    let pos = 0;
    let lastLeaf = -1;
    for (let i = 0; i < n; i++) {
      const node = queue[i]!;
      if (this.isLeaf(node)) lastLeaf = i;
      for (let k = this.first[node]!; k < this.first[node + 1]!; k++) {
        labels[tail - 1] = this.labels[k]!;
        queue[tail++] = this.child[k]!;
        pos++;
      }
      setLoudsBit(bitmap, pos++);
    }
    const leaves = new Uint8Array(lastLeaf < 0 ? 0 : ((lastLeaf >>> 6) + 1) * 8);
    for (let i = 0; i <= lastLeaf; i++) if (this.isLeaf(queue[i]!)) setLoudsBit(leaves, i);
    return { leaves, labelBitmap: bitmap, labels };
  }

  /** Every key, in stored order (byte order for a built trie), as byte strings. */
  keys(): string[] {
    const out: string[] = [];
    const path: number[] = [];
    // A frame: [node, next edge].
    const st = new Stack(2);
    const enter = (node: number) => {
      if (this.isLeaf(node)) out.push(String.fromCharCode(...path));
      const f = st.push();
      st.a[f] = node;
      st.a[f + 1] = this.first[node]!;
    };
    enter(0);
    while (st.top >= 0) {
      const f = st.top * 2;
      const node = st.a[f]!;
      const k = st.a[f + 1]!;
      if (k >= this.first[node + 1]!) {
        st.top--;
        path.pop();
        continue;
      }
      st.a[f + 1] = k + 1;
      path.push(this.labels[k]!);
      enter(this.child[k]!);
    }
    return out;
  }
}
