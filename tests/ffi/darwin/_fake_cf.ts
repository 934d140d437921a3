/**
 * A fake CoreFoundation and SystemConfiguration at the FFI symbol level: the same functions
 * `Deno.dlopen` returns for `CF_SYMBOLS`/`SC_SYMBOLS`, taking the same raw arguments (pointer
 * arrays packed in `Uint8Array`s, C strings, number cells), over objects kept in JavaScript with
 * reference counts. Tests check values round-trip and that every object the code created or
 * copied is released exactly once (`live()` is empty afterwards).
 *
 * @module
 */

import {
  type CfConstants,
  type CfFunctions,
  kCFNumberFloat64Type,
  kCFNumberSInt64Type,
  kCFStringEncodingUTF8,
  kSCStatusNoKey,
  type ScFunctions,
} from "../../../ffi/darwin/system_configuration.ts";

type Obj =
  | { t: "string"; v: string }
  | { t: "number"; v: number; float: boolean }
  | { t: "boolean"; v: boolean }
  | { t: "array"; v: bigint[] }
  | { t: "dictionary"; v: [bigint, bigint][] }
  | { t: "store"; name: string; sessionKeys: boolean }
  | { t: "callbacks" };

const TYPE_IDS = { string: 7n, number: 22n, boolean: 21n, array: 19n, dictionary: 18n } as const;

export class FakeCoreFoundation {
  readonly #objs = new Map<bigint, { obj: Obj; refs: number; immortal: boolean }>();
  #next = 0x1000n;
  readonly store = new Map<string, bigint>();
  scError = 0;
  readonly calls: string[] = [];

  #add(obj: Obj, immortal = false): Deno.PointerValue {
    const id = this.#next;
    this.#next += 0x10n;
    this.#objs.set(id, { obj, refs: 1, immortal });
    return Deno.UnsafePointer.create(id);
  }

  #get(p: Deno.PointerValue): Obj {
    const id = BigInt(Deno.UnsafePointer.value(p));
    const e = this.#objs.get(id);
    if (!e) throw new Error(`fake CF: 0x${id.toString(16)} is not a live object`);
    return e.obj;
  }

  #retain(id: bigint): void {
    const e = this.#objs.get(id);
    if (!e) throw new Error(`fake CF: retain of dead 0x${id.toString(16)}`);
    e.refs++;
  }

  #release(id: bigint): void {
    const e = this.#objs.get(id);
    if (!e) throw new Error(`fake CF: release of dead 0x${id.toString(16)}`);
    if (e.immortal) return;
    if (--e.refs > 0) return;
    this.#objs.delete(id);
    const o = e.obj;
    if (o.t === "array") o.v.forEach((c) => this.#release(c));
    if (o.t === "dictionary") o.v.forEach(([k, v]) => (this.#release(k), this.#release(v)));
  }

  readonly constants: CfConstants;

  constructor() {
    this.constants = {
      arrayCallBacks: this.#add({ t: "callbacks" }, true),
      dictionaryKeyCallBacks: this.#add({ t: "callbacks" }, true),
      dictionaryValueCallBacks: this.#add({ t: "callbacks" }, true),
      booleanTrue: this.#add({ t: "boolean", v: true }, true),
      booleanFalse: this.#add({ t: "boolean", v: false }, true),
      useSessionKeys: this.#add({ t: "string", v: "UseSessionKeys" }, true),
    };
  }

  /** Objects still alive that are not constants or values held by the store. */
  live(): string[] {
    const held = new Set<bigint>();
    const mark = (id: bigint) => {
      if (held.has(id)) return;
      held.add(id);
      const o = this.#objs.get(id)?.obj;
      if (o?.t === "array") o.v.forEach(mark);
      if (o?.t === "dictionary") o.v.forEach(([k, v]) => (mark(k), mark(v)));
    };
    for (const v of this.store.values()) mark(v);
    return [...this.#objs].filter(([id, e]) => !e.immortal && !held.has(id)).map(([id, e]) =>
      `0x${id.toString(16)} ${JSON.stringify(e.obj)} refs ${e.refs}`
    );
  }

  #ptrs(buf: Uint8Array, n: number): bigint[] {
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    return Array.from({ length: n }, (_, i) => dv.getBigUint64(i * 8, true));
  }

  readonly cf: CfFunctions = {
    CFRelease: (p) => this.#release(BigInt(Deno.UnsafePointer.value(p))),
    CFGetTypeID: (p) => {
      const t = this.#get(p).t;
      if (!(t in TYPE_IDS)) throw new Error(`fake CF: type of ${t}`);
      return TYPE_IDS[t as keyof typeof TYPE_IDS];
    },
    CFStringGetTypeID: () => TYPE_IDS.string,
    CFNumberGetTypeID: () => TYPE_IDS.number,
    CFBooleanGetTypeID: () => TYPE_IDS.boolean,
    CFArrayGetTypeID: () => TYPE_IDS.array,
    CFDictionaryGetTypeID: () => TYPE_IDS.dictionary,
    CFStringCreateWithCString: (alloc, cstr, enc) => {
      if (alloc !== null || enc !== kCFStringEncodingUTF8) throw new Error("fake CF: encoding");
      const b = cstr as Uint8Array;
      const end = b.indexOf(0);
      if (end < 0) throw new Error("fake CF: string without NUL");
      return this.#add({ t: "string", v: new TextDecoder().decode(b.subarray(0, end)) });
    },
    CFStringGetLength: (p) => {
      const o = this.#get(p);
      if (o.t !== "string") throw new Error("fake CF: not a string");
      return BigInt(o.v.length); // UTF-16 units, as CF counts
    },
    CFStringGetMaximumSizeForEncoding: (len, enc) => {
      if (enc !== kCFStringEncodingUTF8) throw new Error("fake CF: encoding");
      return BigInt(len) * 3n;
    },
    CFStringGetCString: (p, buf, size, enc) => {
      const o = this.#get(p);
      if (o.t !== "string" || enc !== kCFStringEncodingUTF8) throw new Error("fake CF: string");
      const bytes = new TextEncoder().encode(o.v);
      const out = buf as Uint8Array;
      if (bytes.length + 1 > Number(size) || out.length < Number(size)) return 0;
      out.set(bytes);
      out[bytes.length] = 0;
      return 1;
    },
    CFNumberCreate: (alloc, type, cell) => {
      const dv = new DataView((cell as Uint8Array).buffer);
      if (alloc !== null) throw new Error("fake CF: allocator");
      if (type === BigInt(kCFNumberSInt64Type)) {
        return this.#add({ t: "number", v: Number(dv.getBigInt64(0, true)), float: false });
      }
      if (type === BigInt(kCFNumberFloat64Type)) {
        return this.#add({ t: "number", v: dv.getFloat64(0, true), float: true });
      }
      throw new Error(`fake CF: number type ${type}`);
    },
    CFNumberGetValue: (p, type, cell) => {
      const o = this.#get(p);
      if (o.t !== "number") throw new Error("fake CF: not a number");
      const dv = new DataView((cell as Uint8Array).buffer);
      if (type === BigInt(kCFNumberFloat64Type)) dv.setFloat64(0, o.v, true);
      else dv.setBigInt64(0, BigInt(Math.trunc(o.v)), true);
      return 1;
    },
    CFNumberIsFloatType: (p) => {
      const o = this.#get(p);
      return o.t === "number" && o.float ? 1 : 0;
    },
    CFBooleanGetValue: (p) => {
      const o = this.#get(p);
      if (o.t !== "boolean") throw new Error("fake CF: not a boolean");
      return o.v ? 1 : 0;
    },
    CFArrayCreate: (alloc, values, n, callbacks) => {
      if (alloc !== null || this.#get(callbacks).t !== "callbacks") {
        throw new Error("fake CF: array");
      }
      const items = this.#ptrs(values as Uint8Array, Number(n));
      items.forEach((i) => this.#retain(i)); // kCFTypeArrayCallBacks retain
      return this.#add({ t: "array", v: items });
    },
    CFArrayGetCount: (p) => {
      const o = this.#get(p);
      if (o.t !== "array") throw new Error("fake CF: not an array");
      return BigInt(o.v.length);
    },
    CFArrayGetValueAtIndex: (p, i) => {
      const o = this.#get(p);
      if (o.t !== "array") throw new Error("fake CF: not an array");
      return Deno.UnsafePointer.create(o.v[Number(i)]!);
    },
    CFDictionaryCreate: (alloc, keys, values, n, kcb, vcb) => {
      if (alloc !== null || this.#get(kcb).t !== "callbacks" || this.#get(vcb).t !== "callbacks") {
        throw new Error("fake CF: dictionary");
      }
      const ks = this.#ptrs(keys as Uint8Array, Number(n));
      const vs = this.#ptrs(values as Uint8Array, Number(n));
      [...ks, ...vs].forEach((i) => this.#retain(i));
      return this.#add({ t: "dictionary", v: ks.map((k, i) => [k, vs[i]!]) });
    },
    CFDictionaryGetCount: (p) => {
      const o = this.#get(p);
      if (o.t !== "dictionary") throw new Error("fake CF: not a dictionary");
      return BigInt(o.v.length);
    },
    CFDictionaryGetKeysAndValues: (p, keys, values) => {
      const o = this.#get(p);
      if (o.t !== "dictionary") throw new Error("fake CF: not a dictionary");
      const kd = new DataView((keys as Uint8Array).buffer),
        vd = new DataView((values as Uint8Array).buffer);
      o.v.forEach(([k, v], i) => {
        kd.setBigUint64(i * 8, k, true);
        vd.setBigUint64(i * 8, v, true);
      });
    },
  };

  #str(p: Deno.PointerValue): string {
    const o = this.#get(p);
    if (o.t !== "string") throw new Error("fake SC: key is not a string");
    return o.v;
  }

  readonly sc: ScFunctions = {
    SCDynamicStoreCreateWithOptions: (alloc, name, options, callout, context) => {
      if (alloc !== null || callout !== null || context !== null) {
        throw new Error("fake SC: create");
      }
      let sessionKeys = false;
      if (options !== null) {
        const o = this.#get(options);
        if (o.t !== "dictionary") throw new Error("fake SC: options");
        for (const [k, v] of o.v) {
          const key = this.#get(Deno.UnsafePointer.create(k));
          const value = this.#get(Deno.UnsafePointer.create(v));
          if (key.t === "string" && key.v === "UseSessionKeys" && value.t === "boolean") {
            sessionKeys = value.v;
          }
        }
      }
      this.calls.push(`create ${this.#str(name)}${sessionKeys ? " (session keys)" : ""}`);
      return this.#add({ t: "store", name: this.#str(name), sessionKeys });
    },
    SCDynamicStoreCopyValue: (_store, key) => {
      const v = this.store.get(this.#str(key));
      if (v === undefined) return null;
      this.#retain(v); // Copy: the caller owns a reference
      return Deno.UnsafePointer.create(v);
    },
    SCDynamicStoreSetValue: (_store, key, value) => {
      const k = this.#str(key);
      const id = BigInt(Deno.UnsafePointer.value(value));
      this.#get(value);
      this.#retain(id);
      const old = this.store.get(k);
      this.store.set(k, id);
      if (old !== undefined) this.#release(old);
      this.calls.push(`set ${k}`);
      return 1;
    },
    SCDynamicStoreRemoveValue: (_store, key) => {
      const k = this.#str(key);
      const old = this.store.get(k);
      if (old === undefined) {
        this.scError = kSCStatusNoKey;
        return 0;
      }
      this.store.delete(k);
      this.#release(old);
      this.calls.push(`remove ${k}`);
      return 1;
    },
    SCDynamicStoreCopyKeyList: (_store, pattern) => {
      const re = new RegExp(this.#str(pattern));
      const keys = [...this.store.keys()].filter((k) => re.test(k)).sort();
      const refs = keys.map((k) => this.#add({ t: "string", v: k }));
      const ids = refs.map((r) => BigInt(Deno.UnsafePointer.value(r)));
      const arr = this.#add({ t: "array", v: ids }); // owns the strings' references
      return arr;
    },
    SCError: () => this.scError,
    SCErrorString: () => null,
  };
}
