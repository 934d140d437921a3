/**
 * The System Configuration dynamic store (`SCDynamicStore`) over FFI, with CoreFoundation
 * property lists converted to and from plain JavaScript values ({@linkcode Plist}). This is how
 * tunbox sets the system resolver on macOS without running `networksetup` or `scutil`.
 *
 * ```ts
 * const store = openDynamicStore("tunbox", { sessionKeys: true });
 * store.get("State:/Network/Global/IPv4"); // { PrimaryInterface: "en0", PrimaryService: "…", … }
 * store.set("State:/Network/Service/tunbox-utun8/DNS", { ServerAddresses: ["198.18.0.2"] });
 * store.close(); // with sessionKeys, configd also removes the keys this session set
 * ```
 *
 * None of the functions used is variadic (`CFStringCreateWithFormat` is avoided), so one
 * declaration fits arm64 and x86_64. Ownership follows CoreFoundation's rule: what a `Create` or
 * `Copy` function returns is released here exactly once; values got from arrays and
 * dictionaries are borrowed. Constants: `kCFStringEncodingUTF8` 0x08000100 (CF `CFString.h`),
 * `kCFNumberSInt64Type` 4 and `kCFNumberFloat64Type` 6 (`CFNumber.h`), `kSCStatusNoKey` 1004
 * (configd `SystemConfiguration.h`); `tests/ffi/darwin/proof_table_test.ts` checks them.
 *
 * @module
 */

/** A property-list value: what the dynamic store holds. */
export type Plist = string | number | boolean | Plist[] | { [key: string]: Plist };

export const CORE_FOUNDATION_PATH =
  "/System/Library/Frameworks/CoreFoundation.framework/CoreFoundation";
export const SYSTEM_CONFIGURATION_PATH =
  "/System/Library/Frameworks/SystemConfiguration.framework/SystemConfiguration";

/** CFString.h */
export const kCFStringEncodingUTF8 = 0x08000100;
/** CFNumber.h */
export const kCFNumberSInt64Type = 4;
/** CFNumber.h */
export const kCFNumberFloat64Type = 6;
/** configd SystemConfiguration.h: the key does not exist. */
export const kSCStatusNoKey = 1004;

/** CoreFoundation functions and constants, each with its C prototype. */
export const CF_SYMBOLS = {
  /** void CFRelease(CFTypeRef cf) */
  CFRelease: { parameters: ["pointer"], result: "void" },
  /** CFTypeID CFGetTypeID(CFTypeRef cf) — CFTypeID is unsigned long */
  CFGetTypeID: { parameters: ["pointer"], result: "usize" },
  CFStringGetTypeID: { parameters: [], result: "usize" },
  CFNumberGetTypeID: { parameters: [], result: "usize" },
  CFBooleanGetTypeID: { parameters: [], result: "usize" },
  CFArrayGetTypeID: { parameters: [], result: "usize" },
  CFDictionaryGetTypeID: { parameters: [], result: "usize" },
  /** CFStringRef CFStringCreateWithCString(CFAllocatorRef, const char *, CFStringEncoding) */
  CFStringCreateWithCString: { parameters: ["pointer", "buffer", "u32"], result: "pointer" },
  /** CFIndex CFStringGetLength(CFStringRef) — CFIndex is signed long */
  CFStringGetLength: { parameters: ["pointer"], result: "i64" },
  /** CFIndex CFStringGetMaximumSizeForEncoding(CFIndex length, CFStringEncoding) */
  CFStringGetMaximumSizeForEncoding: { parameters: ["i64", "u32"], result: "i64" },
  /** Boolean CFStringGetCString(CFStringRef, char *buffer, CFIndex size, CFStringEncoding) */
  CFStringGetCString: { parameters: ["pointer", "buffer", "i64", "u32"], result: "u8" },
  /** CFNumberRef CFNumberCreate(CFAllocatorRef, CFNumberType, const void *valuePtr) */
  CFNumberCreate: { parameters: ["pointer", "i64", "buffer"], result: "pointer" },
  /** Boolean CFNumberGetValue(CFNumberRef, CFNumberType, void *valuePtr) */
  CFNumberGetValue: { parameters: ["pointer", "i64", "buffer"], result: "u8" },
  /** Boolean CFNumberIsFloatType(CFNumberRef) */
  CFNumberIsFloatType: { parameters: ["pointer"], result: "u8" },
  /** Boolean CFBooleanGetValue(CFBooleanRef) */
  CFBooleanGetValue: { parameters: ["pointer"], result: "u8" },
  /** CFArrayRef CFArrayCreate(CFAllocatorRef, const void **values, CFIndex n, callbacks *) */
  CFArrayCreate: { parameters: ["pointer", "buffer", "i64", "pointer"], result: "pointer" },
  /** CFIndex CFArrayGetCount(CFArrayRef) */
  CFArrayGetCount: { parameters: ["pointer"], result: "i64" },
  /** const void *CFArrayGetValueAtIndex(CFArrayRef, CFIndex) */
  CFArrayGetValueAtIndex: { parameters: ["pointer", "i64"], result: "pointer" },
  /**
   * CFDictionaryRef CFDictionaryCreate(CFAllocatorRef, const void **keys,
   *   const void **values, CFIndex n, keyCallBacks *, valueCallBacks *)
   */
  CFDictionaryCreate: {
    parameters: ["pointer", "buffer", "buffer", "i64", "pointer", "pointer"],
    result: "pointer",
  },
  /** CFIndex CFDictionaryGetCount(CFDictionaryRef) */
  CFDictionaryGetCount: { parameters: ["pointer"], result: "i64" },
  /** void CFDictionaryGetKeysAndValues(CFDictionaryRef, const void **keys, const void **values) */
  CFDictionaryGetKeysAndValues: { parameters: ["pointer", "buffer", "buffer"], result: "void" },
  /** const CFArrayCallBacks kCFTypeArrayCallBacks (a struct: its address is what is passed) */
  kCFTypeArrayCallBacks: { type: "pointer" },
  kCFTypeDictionaryKeyCallBacks: { type: "pointer" },
  kCFTypeDictionaryValueCallBacks: { type: "pointer" },
  /** const CFBooleanRef kCFBooleanTrue (a variable holding the object: read it once) */
  kCFBooleanTrue: { type: "pointer" },
  kCFBooleanFalse: { type: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

/** SystemConfiguration functions and constants, each with its C prototype. */
export const SC_SYMBOLS = {
  /**
   * SCDynamicStoreRef SCDynamicStoreCreateWithOptions(CFAllocatorRef, CFStringRef name,
   *   CFDictionaryRef storeOptions, SCDynamicStoreCallBack callout, SCDynamicStoreContext *)
   */
  SCDynamicStoreCreateWithOptions: {
    parameters: ["pointer", "pointer", "pointer", "pointer", "pointer"],
    result: "pointer",
  },
  /** CFPropertyListRef SCDynamicStoreCopyValue(SCDynamicStoreRef, CFStringRef key) */
  SCDynamicStoreCopyValue: { parameters: ["pointer", "pointer"], result: "pointer" },
  /** Boolean SCDynamicStoreSetValue(SCDynamicStoreRef, CFStringRef key, CFPropertyListRef) */
  SCDynamicStoreSetValue: { parameters: ["pointer", "pointer", "pointer"], result: "u8" },
  /** Boolean SCDynamicStoreRemoveValue(SCDynamicStoreRef, CFStringRef key) */
  SCDynamicStoreRemoveValue: { parameters: ["pointer", "pointer"], result: "u8" },
  /** CFArrayRef SCDynamicStoreCopyKeyList(SCDynamicStoreRef, CFStringRef pattern) */
  SCDynamicStoreCopyKeyList: { parameters: ["pointer", "pointer"], result: "pointer" },
  /** int SCError(void) */
  SCError: { parameters: [], result: "i32" },
  /** const char *SCErrorString(int status) */
  SCErrorString: { parameters: ["i32"], result: "pointer" },
  /** const CFStringRef kSCDynamicStoreUseSessionKeys (a variable holding the key) */
  kSCDynamicStoreUseSessionKeys: { type: "pointer" },
} as const satisfies Deno.ForeignLibraryInterface;

type CfSymbols = Deno.DynamicLibrary<typeof CF_SYMBOLS>["symbols"];
type ScSymbols = Deno.DynamicLibrary<typeof SC_SYMBOLS>["symbols"];

/** The functions of {@linkcode CF_SYMBOLS} (statics resolved separately). */
export type CfFunctions = Omit<
  CfSymbols,
  | "kCFTypeArrayCallBacks"
  | "kCFTypeDictionaryKeyCallBacks"
  | "kCFTypeDictionaryValueCallBacks"
  | "kCFBooleanTrue"
  | "kCFBooleanFalse"
>;
/** The functions of {@linkcode SC_SYMBOLS}. */
export type ScFunctions = Omit<ScSymbols, "kSCDynamicStoreUseSessionKeys">;

/** The constants, already read: the callback structs' addresses and the objects. */
export interface CfConstants {
  arrayCallBacks: Deno.PointerValue;
  dictionaryKeyCallBacks: Deno.PointerValue;
  dictionaryValueCallBacks: Deno.PointerValue;
  booleanTrue: Deno.PointerValue;
  booleanFalse: Deno.PointerValue;
  /** The CFString `kSCDynamicStoreUseSessionKeys` holds. */
  useSessionKeys: Deno.PointerValue;
}

/** The dynamic store as tunbox uses it. */
export interface DynamicStore {
  /** The value at `key`, or null when there is none. */
  get(key: string): Plist | null;
  /** Sets `key`; throws naming the key and the SC error on failure. */
  set(key: string, value: Plist): void;
  /** Removes `key`; a key that does not exist is not an error. Throws on other failures. */
  remove(key: string): void;
  /** The keys matching the regular expression `pattern` (POSIX extended, as configd reads it). */
  keys(pattern: string): string[];
  /** Releases the session (with session keys, configd removes the keys it set). */
  close(): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const NULL = null;

/** CF ↔ plist conversion over the given CoreFoundation functions and constants. */
export class CoreFoundation {
  readonly #typeIds: {
    string: bigint;
    number: bigint;
    boolean: bigint;
    array: bigint;
    dictionary: bigint;
  };

  constructor(readonly cf: CfFunctions, readonly k: CfConstants) {
    const id = (v: number | bigint) => BigInt(v);
    this.#typeIds = {
      string: id(cf.CFStringGetTypeID()),
      number: id(cf.CFNumberGetTypeID()),
      boolean: id(cf.CFBooleanGetTypeID()),
      array: id(cf.CFArrayGetTypeID()),
      dictionary: id(cf.CFDictionaryGetTypeID()),
    };
  }

  /** A new CFString (release it). */
  string(text: string): Deno.PointerValue {
    const bytes = encoder.encode(text);
    if (bytes.includes(0)) {
      throw new TypeError(`A CFString cannot hold NUL: ${JSON.stringify(text)}`);
    }
    const z = new Uint8Array(bytes.length + 1);
    z.set(bytes);
    const p = this.cf.CFStringCreateWithCString(NULL, z, kCFStringEncodingUTF8);
    if (p === null) throw new Error(`CFStringCreateWithCString failed for ${JSON.stringify(text)}`);
    return p;
  }

  /**
   * A new CF object for `value` (release it when it is owned: booleans are the shared
   * kCFBooleanTrue/False and are returned with `owned` false).
   */
  create(value: Plist): { ref: Deno.PointerValue; owned: boolean } {
    if (typeof value === "string") return { ref: this.string(value), owned: true };
    if (typeof value === "boolean") {
      return { ref: value ? this.k.booleanTrue : this.k.booleanFalse, owned: false };
    }
    if (typeof value === "number") {
      const cell = new ArrayBuffer(8);
      let type = kCFNumberSInt64Type;
      if (Number.isInteger(value)) new DataView(cell).setBigInt64(0, BigInt(value), true);
      else {
        type = kCFNumberFloat64Type;
        new DataView(cell).setFloat64(0, value, true);
      }
      const p = this.cf.CFNumberCreate(NULL, BigInt(type), new Uint8Array(cell));
      if (p === null) throw new Error(`CFNumberCreate failed for ${value}`);
      return { ref: p, owned: true };
    }
    const made: { ref: Deno.PointerValue; owned: boolean }[] = [];
    try {
      if (Array.isArray(value)) {
        const items: { ref: Deno.PointerValue; owned: boolean }[] = [];
        for (const v of value) {
          const item = this.create(v);
          made.push(item);
          items.push(item);
        }
        const p = this.cf.CFArrayCreate(
          NULL,
          pointerArray(items.map((i) => i.ref)),
          BigInt(items.length),
          this.k.arrayCallBacks,
        );
        if (p === null) throw new Error("CFArrayCreate failed");
        return { ref: p, owned: true };
      }
      const keys: { ref: Deno.PointerValue; owned: boolean }[] = [];
      const values: { ref: Deno.PointerValue; owned: boolean }[] = [];
      for (const [k, v] of Object.entries(value)) {
        const key = { ref: this.string(k), owned: true };
        made.push(key);
        keys.push(key);
        const item = this.create(v);
        made.push(item);
        values.push(item);
      }
      const p = this.cf.CFDictionaryCreate(
        NULL,
        pointerArray(keys.map((x) => x.ref)),
        pointerArray(values.map((x) => x.ref)),
        BigInt(keys.length),
        this.k.dictionaryKeyCallBacks,
        this.k.dictionaryValueCallBacks,
      );
      if (p === null) throw new Error("CFDictionaryCreate failed");
      return { ref: p, owned: true };
    } finally {
      // The collection retained its members (kCFType callbacks); drop our references.
      for (const m of made) if (m.owned) this.cf.CFRelease(m.ref);
    }
  }

  /** The JavaScript value of a CF object (borrowed: not released here). */
  read(ref: Deno.PointerValue): Plist {
    if (ref === null) throw new TypeError("Cannot read a NULL CF object");
    const type = BigInt(this.cf.CFGetTypeID(ref));
    const t = this.#typeIds;
    if (type === t.string) return this.readString(ref);
    if (type === t.boolean) return this.cf.CFBooleanGetValue(ref) !== 0;
    if (type === t.number) {
      const cell = new Uint8Array(8);
      const float = this.cf.CFNumberIsFloatType(ref) !== 0;
      const ok = this.cf.CFNumberGetValue(
        ref,
        BigInt(float ? kCFNumberFloat64Type : kCFNumberSInt64Type),
        cell,
      );
      if (ok === 0) throw new RangeError("CFNumber does not fit a 64-bit value");
      const dv = new DataView(cell.buffer);
      return float ? dv.getFloat64(0, true) : Number(dv.getBigInt64(0, true));
    }
    if (type === t.array) {
      const n = Number(this.cf.CFArrayGetCount(ref));
      const out: Plist[] = [];
      for (let i = 0; i < n; i++) {
        out.push(this.read(this.cf.CFArrayGetValueAtIndex(ref, BigInt(i))));
      }
      return out;
    }
    if (type === t.dictionary) {
      const n = Number(this.cf.CFDictionaryGetCount(ref));
      const keys = new BigUint64Array(n), values = new BigUint64Array(n);
      this.cf.CFDictionaryGetKeysAndValues(
        ref,
        new Uint8Array(keys.buffer),
        new Uint8Array(values.buffer),
      );
      const out: { [key: string]: Plist } = {};
      for (let i = 0; i < n; i++) {
        const key = this.read(Deno.UnsafePointer.create(keys[i]!));
        if (typeof key !== "string") throw new TypeError("Dictionary key is not a string");
        out[key] = this.read(Deno.UnsafePointer.create(values[i]!));
      }
      return out;
    }
    throw new TypeError(`Unsupported CF type id ${type} in a property list`);
  }

  /** A CFString's text. */
  readString(ref: Deno.PointerValue): string {
    const length = this.cf.CFStringGetLength(ref);
    const size = Number(this.cf.CFStringGetMaximumSizeForEncoding(length, kCFStringEncodingUTF8)) +
      1;
    const buf = new Uint8Array(size);
    if (this.cf.CFStringGetCString(ref, buf, BigInt(size), kCFStringEncodingUTF8) === 0) {
      throw new RangeError("CFStringGetCString failed");
    }
    const end = buf.indexOf(0);
    return decoder.decode(buf.subarray(0, end < 0 ? buf.length : end));
  }

  release(ref: Deno.PointerValue): void {
    if (ref !== null) this.cf.CFRelease(ref);
  }
}

/** `const void *[]` for pointer arguments. */
function pointerArray(refs: Deno.PointerValue[]): Uint8Array {
  const a = new BigUint64Array(Math.max(1, refs.length));
  refs.forEach((r, i) => (a[i] = BigInt(Deno.UnsafePointer.value(r))));
  return new Uint8Array(a.buffer);
}

/**
 * A dynamic-store session over the given functions. `sessionKeys`: keys this session sets are
 * removed by configd when the session ends, also when the process is killed.
 */
export function bindDynamicStore(
  cf: CoreFoundation,
  sc: ScFunctions,
  name: string,
  opts: { sessionKeys?: boolean; errorText?: (status: number) => string } = {},
): DynamicStore {
  const nameRef = cf.string(name);
  let options: Deno.PointerValue = null;
  if (opts.sessionKeys) {
    const keys = pointerArray([cf.k.useSessionKeys]);
    const values = pointerArray([cf.k.booleanTrue]);
    options = cf.cf.CFDictionaryCreate(
      NULL,
      keys,
      values,
      1n,
      cf.k.dictionaryKeyCallBacks,
      cf.k.dictionaryValueCallBacks,
    );
  }
  const store = sc.SCDynamicStoreCreateWithOptions(NULL, nameRef, options, NULL, NULL);
  cf.release(options);
  cf.release(nameRef);
  const error = () => {
    const status = sc.SCError();
    return { status, text: opts.errorText?.(status) ?? `SC status ${status}` };
  };
  if (store === null) {
    throw new Error(`Cannot open the System Configuration dynamic store: ${error().text}`);
  }
  let open = true;
  const withKey = <T>(key: string, run: (k: Deno.PointerValue) => T): T => {
    if (!open) throw new Error(`The dynamic store session "${name}" is closed`);
    const k = cf.string(key);
    try {
      return run(k);
    } finally {
      cf.release(k);
    }
  };
  return {
    get: (key) =>
      withKey(key, (k) => {
        const v = sc.SCDynamicStoreCopyValue(store, k);
        if (v === null) return null;
        try {
          return cf.read(v);
        } finally {
          cf.release(v);
        }
      }),
    set: (key, value) =>
      withKey(key, (k) => {
        const v = cf.create(value);
        try {
          if (sc.SCDynamicStoreSetValue(store, k, v.ref) === 0) {
            throw new Error(`set dynamic store key ${key} failed: ${error().text}`);
          }
        } finally {
          if (v.owned) cf.release(v.ref);
        }
      }),
    remove: (key) =>
      withKey(key, (k) => {
        if (sc.SCDynamicStoreRemoveValue(store, k) !== 0) return;
        const e = error();
        if (e.status === kSCStatusNoKey) return;
        throw new Error(`remove dynamic store key ${key} failed: ${e.text}`);
      }),
    keys: (pattern) =>
      withKey(pattern, (p) => {
        const list = sc.SCDynamicStoreCopyKeyList(store, p);
        if (list === null) return [];
        try {
          const v = cf.read(list);
          return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
        } finally {
          cf.release(list);
        }
      }),
    close() {
      if (!open) return;
      open = false;
      cf.release(store);
    },
  };
}

let frameworks:
  | { cf: CoreFoundation; sc: ScFunctions; errorText: (s: number) => string }
  | undefined;

/** Opens CoreFoundation and SystemConfiguration once per thread. */
function loadFrameworks() {
  if (frameworks) return frameworks;
  let cfLib: Deno.DynamicLibrary<typeof CF_SYMBOLS>;
  let scLib: Deno.DynamicLibrary<typeof SC_SYMBOLS>;
  try {
    cfLib = Deno.dlopen(CORE_FOUNDATION_PATH, CF_SYMBOLS);
    scLib = Deno.dlopen(SYSTEM_CONFIGURATION_PATH, SC_SYMBOLS);
  } catch (cause) {
    throw new Error("Cannot load CoreFoundation/SystemConfiguration with Deno.dlopen", { cause });
  }
  const c = cfLib.symbols, s = scLib.symbols;
  // A static of type "pointer" is the variable's address: objects are read from it once.
  const deref = (p: Deno.PointerValue) => new Deno.UnsafePointerView(p!).getPointer();
  const cf = new CoreFoundation(c, {
    arrayCallBacks: c.kCFTypeArrayCallBacks,
    dictionaryKeyCallBacks: c.kCFTypeDictionaryKeyCallBacks,
    dictionaryValueCallBacks: c.kCFTypeDictionaryValueCallBacks,
    booleanTrue: deref(c.kCFBooleanTrue),
    booleanFalse: deref(c.kCFBooleanFalse),
    useSessionKeys: deref(s.kSCDynamicStoreUseSessionKeys),
  });
  const errorText = (status: number) => {
    const p = s.SCErrorString(status);
    return p === null
      ? `SC status ${status}`
      : `${Deno.UnsafePointerView.getCString(p)} (${status})`;
  };
  frameworks = { cf, sc: s, errorText };
  return frameworks;
}

/** The CF ↔ plist converter over the real CoreFoundation (loaded on first use). */
export function loadCoreFoundation(): CoreFoundation {
  return loadFrameworks().cf;
}

/** Opens a dynamic-store session named `name` (see {@linkcode bindDynamicStore}). */
export function openDynamicStore(name: string, opts: { sessionKeys?: boolean } = {}): DynamicStore {
  const f = loadFrameworks();
  return bindDynamicStore(f.cf, f.sc, name, { ...opts, errorText: f.errorText });
}
