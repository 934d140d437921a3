/**
 * The proof table: every constant, ioctl number, errno value, struct size and field offset the
 * macOS code uses, checked against the xnu header text that defines it. Each test names the
 * header and line. Values are never typed in here: they come from evaluating the quoted header
 * text (`_xnu_excerpts.ts`) with the header's own macros (`_IOW`, `_IOWR`, `IFNAMSIZ`, ...) and
 * from laying out the quoted structs by the LP64 rules (`_c_header.ts`), once with arm64's and
 * once with x86_64's machine typedefs.
 *
 * The CoreFoundation and System Configuration constants and key strings the DNS code uses are
 * checked the same way against Apple's CF and configd sources, and configd's behaviour the design
 * relies on is quoted. When checkouts are at hand (`fetch github:apple-oss-distributions/xnu`,
 * `.../configd`, `.../CF`, or `TUNBOX_XNU_GIT`/`TUNBOX_CONFIGD_GIT`/`TUNBOX_CF_GIT`), every quoted
 * line is also checked against the source at the recorded commit; regenerate with
 * `_gen_excerpts.ts` to move to newer releases.
 */
import assert from "node:assert/strict";
import {
  activeLines,
  type Env,
  evaluate,
  type Macro,
  parseDefine,
  sizeOf,
  structLayout,
} from "./_c_header.ts";
import {
  CONFIGD_TEXT_ROWS,
  CONSTANT_ROWS,
  ENUM_ROWS,
  HELPER_STRUCTS,
  OTHER_STRUCT_ROWS,
  STRING_ROWS,
  STRUCT_ROWS,
  type StructRow,
  TEXT_ROWS,
  TYPEDEFS,
} from "./_proof_table.ts";
import { type Excerpt, EXCERPTS as ALL_EXCERPTS, SOURCES } from "./_apple_excerpts.ts";
import { systemDnsValues } from "../../../src/platform/darwin/system_dns.ts";
import { parsePrefix } from "../../../src/net/ip.ts";

/** The xnu quotes (the C evaluation below reads only those). */
const EXCERPTS = ALL_EXCERPTS.filter((e) => e.repo === "xnu");
import * as IOC from "../../../ffi/darwin/ioccom.ts";
import { roundup32 } from "../../../ffi/darwin/structs.ts";
import { roundup64 } from "../../../ffi/darwin/pcblist.ts";
import { pcbItem } from "./_pcblist.ts";
import { encodeSockaddr } from "../../../ffi/sockaddr.ts";
import { SOCKADDR_IN, SOCKADDR_IN6 } from "../../../ffi/darwin/layouts.ts";
import { DARWIN_COMMON_SYMBOLS } from "../../../ffi/darwin/libc.ts";

const find = (kind: Excerpt["kind"], name: string, header?: string): Excerpt => {
  const e = EXCERPTS.find((x) =>
    x.kind === kind && x.name === name && (header === undefined || x.header === header)
  );
  if (!e) throw new Error(`no quoted ${kind} ${name}${header ? ` in ${header}` : ""}`);
  return e;
};
const where = (e: Excerpt) => `${e.repo === "xnu" ? "" : `${e.repo} `}${e.header}:${e.line}`;

/** The evaluation environment for one architecture's machine typedefs. */
function environment(machine: "bsd/arm/_types.h" | "bsd/i386/_types.h"): Env {
  const other = machine === "bsd/arm/_types.h" ? "bsd/i386/_types.h" : "bsd/arm/_types.h";
  const macros = new Map<string, Macro>();
  const structs = new Map<string, { text: string; pack: number | null }>();
  const typedefs = new Map<string, string>();
  for (const e of EXCERPTS) {
    if (e.kind === "define") {
      const { name, macro } = parseDefine(e.text);
      if (!macros.has(name)) macros.set(name, macro);
    } else if (e.kind === "typedef" && e.header !== other) {
      const m = /^\s*typedef\s+(.+?)\s*\b(\w+)\s*;/.exec(e.text.replace(/\/\*.*?\*\//g, ""));
      if (!m) throw new Error(`cannot read typedef ${e.text}`);
      typedefs.set(m[2]!, m[1]!.trim());
    }
  }
  for (const e of EXCERPTS) {
    if (e.kind !== "struct") continue;
    const pack = EXCERPTS.find((p) =>
      p.kind === "pack" && p.name === e.name && p.header === e.header
    );
    const n = pack ? /pack\s*\(\s*(\d*)\s*\)/.exec(pack.text)?.[1] : undefined;
    structs.set(e.name, { text: e.text, pack: n ? Number(n) : null });
  }
  return { macros, structs, typedefs, defined: new Set(["__LP64__", "__APPLE__"]) };
}

const ARCHES = [
  ["arm64", environment("bsd/arm/_types.h")],
  ["x86_64", environment("bsd/i386/_types.h")],
] as const;
const env = ARCHES[0][1];

const hex = (v: number | string) =>
  typeof v === "string" ? JSON.stringify(v) : `0x${v.toString(16)}`;

// ---------------------------------------------------------------------------------------------
// Constants
// ---------------------------------------------------------------------------------------------

for (const row of CONSTANT_ROWS) {
  const e = EXCERPTS.filter((x) =>
    x.kind === "define" && x.name === row.macro && x.header === row.header
  )[0];
  const at = e ? where(e) : row.header;
  Deno.test(`${row.macro} = ${hex(row.value)} in ${row.ours} (${at})`, () => {
    assert.ok(e, `no quoted #define ${row.macro} in ${row.header}`);
    const { macro } = parseDefine(e.text);
    for (const [arch, archEnv] of ARCHES) {
      const v = evaluate(macro.body, archEnv);
      const expected = typeof v === "string" ? v : Number(BigInt.asUintN(32, v));
      const ours = typeof row.value === "number" ? row.value >>> 0 : row.value;
      assert.equal(ours, expected, `${row.macro} (${arch}): header says ${macro.body}`);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Structs
// ---------------------------------------------------------------------------------------------

/** Lays `row`'s struct out on both architectures (`extra`: structs to add to the env). */
function assertLayout(row: StructRow, extra?: { text: string }): void {
  const fields = Object.keys(row.layout).filter((k) => k !== "size");
  for (const [arch, archEnv] of ARCHES) {
    const e: Env = extra
      ? {
        ...archEnv,
        structs: new Map(archEnv.structs).set(row.struct, { text: extra.text, pack: null }),
      }
      : archEnv;
    const l = structLayout(row.struct, e);
    const got: Record<string, number> = { size: l.size };
    for (const k of fields) {
      assert.ok(l.fields.has(k), `struct ${row.struct} has no member ${k}`);
      got[k] = l.fields.get(k)!;
    }
    assert.deepEqual(got, { ...row.layout }, `struct ${row.struct} on ${arch}`);
  }
}

const layoutText = (row: StructRow) =>
  `struct ${row.struct}: ${row.layout.size} bytes, ` +
  Object.entries(row.layout).filter(([k]) => k !== "size").map(([k, v]) => `${k} @${v}`).join(
    ", ",
  ) + ` in ${row.ours}`;

for (const row of STRUCT_ROWS) {
  const e = find("struct", row.struct, row.header);
  Deno.test(`${layoutText(row)} (${where(e)})`, () => assertLayout(row));
}

for (const row of OTHER_STRUCT_ROWS) {
  const e = ALL_EXCERPTS.find((x) =>
    x.repo === row.repo && x.kind === "struct" && x.name === row.struct && x.header === row.header
  );
  Deno.test(`${layoutText(row)} (${row.repo} ${row.header}:${e?.line})`, () => {
    assert.ok(e, `no quoted struct ${row.struct} in ${row.repo} ${row.header}`);
    // Laid out with xnu's typedefs (uid_t, gid_t, __darwin_time_t are quoted from xnu).
    assertLayout(row, e);
  });
}

Deno.test("every quoted helper struct lays out (sizes the proofs above rely on)", () => {
  const sizes = Object.fromEntries(
    HELPER_STRUCTS.map((s) => [s.struct, sizeOf(`struct ${s.struct}`, env)]),
  );
  // Spelled out so a change in any of them is seen here, not only through the rows above.
  assert.deepEqual(sizes, {
    sockaddr: 16,
    in_addr: 4,
    in6_addr: 16,
    timeval32: 8,
    ifdevmtu: 12,
    ifkpi: 16,
    in6_ifstat: 8 * 25,
    icmp6_ifstat: 8 * 34,
    data_stats: 32,
  });
});

Deno.test("`#pragma pack(4)` is in force for if_data64, so its u_int64_t members are 4-aligned", () => {
  const e = find("pack", "if_data64", "bsd/net/if_var.h");
  assert.equal(e.text.trim(), "#pragma pack(4)");
  // ifi_baudrate follows two u_int32_t at 8 and 12: offset 16 either way, but the struct's
  // alignment is 4, which places if_msghdr2.ifm_data at 32 (not 32 by chance of 8-alignment:
  // if_msghdr2's five ints end at 32).
  assert.equal(structLayout("if_data64", env).align, 4);
  assert.equal(structLayout("if_data", env).align, 4);
});

// ---------------------------------------------------------------------------------------------
// Types of FFI parameters
// ---------------------------------------------------------------------------------------------

Deno.test(`poll's nfds_t is a 4-byte unsigned int, declared "u32" (${where(find("typedef", "nfds_t"))})`, () => {
  assert.equal(sizeOf("nfds_t", env), 4);
  assert.equal(env.typedefs.get("nfds_t"), "unsigned int");
  assert.equal(DARWIN_COMMON_SYMBOLS.poll.parameters[1], "u32");
});

Deno.test(
  `proc_pidpath and sysctlbyname are declared with their prototypes' widths (${
    where(find("text", "int proc_pidpath(int pid, void * buffer, uint32_t  buffersize)"))
  }, ${
    where(
      find(
        "text",
        "int     sysctlbyname(const char *, void *__sized_by(*oldlenp), size_t *oldlenp,",
      ),
    )
  })`,
  () => {
    // int pid, void *buffer, uint32_t buffersize -> int
    assert.equal(sizeOf("u_int32_t", env), 4);
    assert.deepEqual(DARWIN_COMMON_SYMBOLS.proc_pidpath, {
      parameters: ["i32", "buffer", "u32"],
      result: "i32",
    });
    // const char *, void *, size_t *, void *, size_t -> int
    assert.deepEqual(DARWIN_COMMON_SYMBOLS.sysctlbyname, {
      parameters: ["buffer", "buffer", "buffer", "buffer", "usize"],
      result: "i32",
    });
  },
);

for (const [arch, archEnv] of ARCHES) {
  Deno.test(`socklen_t is 4 bytes and time_t, rlim_t, caddr_t 8 on ${arch}`, () => {
    assert.deepEqual(
      ["socklen_t", "time_t", "rlim_t", "caddr_t", "pid_t", "sa_family_t", "in_port_t"].map((t) =>
        sizeOf(t, archEnv)
      ),
      [4, 8, 8, 8, 4, 1, 2],
    );
  });
}

Deno.test("every typedef the proofs use is quoted for both machine headers", () => {
  const machine = TYPEDEFS.filter((t) =>
    t.header.startsWith("bsd/arm/") || t.header.startsWith("bsd/i386/")
  );
  const arm = machine.filter((t) => t.header.startsWith("bsd/arm/")).map((t) => t.name).sort();
  const x86 = machine.filter((t) => t.header.startsWith("bsd/i386/")).map((t) => t.name).sort();
  assert.deepEqual(arm, x86);
  for (const t of arm) assert.equal(sizeOf(t, ARCHES[0][1]), sizeOf(t, ARCHES[1][1]), t);
});

// ---------------------------------------------------------------------------------------------
// Macros tunbox reimplements
// ---------------------------------------------------------------------------------------------

Deno.test(`ioccom.ts computes what _IO/_IOR/_IOW/_IOWR expand to (${where(find("define", "_IOC"))})`, () => {
  const sizes = [0, 1, 4, 16, 32, 64, 100, 128, 288, 0x1fff];
  const fns = { _IO: IOC._IO, _IOR: IOC._IOR, _IOW: IOC._IOW, _IOWR: IOC._IOWR };
  for (const group of ["i", "N", "t", "r"]) {
    for (const num of [0, 3, 26, 52, 255]) {
      assert.equal(IOC._IO(group, num), Number(evaluate(`_IO('${group}', ${num})`, env)));
      for (const size of sizes) {
        // sizeof a char array of `size` bytes, through a quoted-struct-free path: the macro's
        // `sizeof(t)` gets a type whose size we know.
        const t = size === 0 ? null : `char_array_${size}`;
        if (t === null) continue;
        const withSize: Env = {
          ...env,
          typedefs: new Map(env.typedefs),
          structs: new Map(env.structs).set(t, {
            text: `struct ${t} { char b[${size}]; };`,
            pack: null,
          }),
        };
        for (const [name, fn] of Object.entries(fns)) {
          if (name === "_IO") continue;
          const expected: number = Number(
            BigInt.asUintN(
              32,
              evaluate(`${name}('${group}', ${num}, struct ${t})`, withSize) as bigint,
            ),
          );
          assert.equal(
            fn(group, num, size),
            expected,
            `${name}('${group}', ${num}, ${size} bytes)`,
          );
        }
      }
    }
  }
});

Deno.test(`roundup32() is rtsock.c's ROUNDUP32 for every sockaddr length (${where(find("define", "ROUNDUP32"))})`, () => {
  for (let len = 0; len <= 255; len++) {
    assert.equal(roundup32(len), Number(evaluate(`ROUNDUP32(${len})`, env)), `length ${len}`);
  }
});

Deno.test(`roundup64() is in_pcblist.c's ROUNDUP64 (${where(find("define", "ROUNDUP64"))})`, () => {
  for (let n = 0; n <= 1024; n++) {
    assert.equal(roundup64(n), Number(evaluate(`ROUNDUP64(${n})`, env)), `ROUNDUP64(${n})`);
  }
});

for (const [arch, archEnv] of ARCHES) {
  Deno.test(
    `a pcblist_n socket takes get_pcblist_n's item_size on ${arch}, as the test lists build it (${
      where(find("text", "size_t item_size = ROUNDUP64(sizeof(struct xinpcb_n)) +"))
    })`,
    () => {
      const udp = Number(evaluate(
        "ROUNDUP64(sizeof(struct xinpcb_n)) + ROUNDUP64(sizeof(struct xsocket_n)) + " +
          "2 * ROUNDUP64(sizeof(struct xsockbuf_n)) + ROUNDUP64(sizeof(struct xsockstat_n))",
        archEnv,
      ));
      const tcp = udp + Number(evaluate("ROUNDUP64(sizeof(struct xtcpcb_n))", archEnv));
      assert.deepEqual([udp, tcp], [408, 616]);
      const pcb = { lport: 1, laddr: new Uint8Array(4), pid: 1, uid: 1 };
      assert.deepEqual([pcbItem(pcb, false).length, pcbItem(pcb, true).length], [udp, tcp]);
    },
  );
}

Deno.test("ffi/sockaddr.ts writes Darwin sockaddr_in/sockaddr_in6 fields at the proven offsets", () => {
  const v4 = new Uint8Array(SOCKADDR_IN.size);
  assert.equal(
    encodeSockaddr({ addr: new Uint8Array([198, 18, 0, 1]), port: 0x1234 }, v4, "darwin"),
    16,
  );
  assert.deepEqual(
    [
      v4[SOCKADDR_IN.sin_len],
      v4[SOCKADDR_IN.sin_family],
      v4[SOCKADDR_IN.sin_port],
      v4[SOCKADDR_IN.sin_port + 1],
    ],
    [16, Number(evaluate("AF_INET", environmentWith("AF_INET"))), 0x12, 0x34],
  );
  assert.deepEqual([...v4.subarray(SOCKADDR_IN.sin_addr, SOCKADDR_IN.sin_addr + 4)], [
    198,
    18,
    0,
    1,
  ]);
  const v6 = new Uint8Array(SOCKADDR_IN6.size);
  const addr = Uint8Array.from({ length: 16 }, (_, i) => i + 1);
  encodeSockaddr({ addr, port: 53, scopeId: 7 }, v6, "darwin");
  assert.equal(v6[SOCKADDR_IN6.sin6_len], 28);
  assert.equal(
    v6[SOCKADDR_IN6.sin6_family],
    Number(evaluate("AF_INET6", environmentWith("AF_INET6"))),
  );
  assert.deepEqual([...v6.subarray(SOCKADDR_IN6.sin6_addr, SOCKADDR_IN6.sin6_addr + 16)], [
    ...addr,
  ]);
  assert.equal(new DataView(v6.buffer).getUint32(SOCKADDR_IN6.sin6_scope_id, true), 7);
});

/** The env with `name`'s quoted #define (socket.h's AF_* are constant rows, so they are there). */
function environmentWith(name: string): Env {
  assert.ok(env.macros.has(name), `${name} is quoted`);
  return env;
}

// ---------------------------------------------------------------------------------------------
// Facts stated in prose
// ---------------------------------------------------------------------------------------------

for (const t of TEXT_ROWS) {
  const e = find("text", t.contains, t.header);
  Deno.test(`${t.fact} (${where(e)})`, () => {
    assert.ok(e.text.includes(t.contains));
  });
}

// ---------------------------------------------------------------------------------------------
// CoreFoundation and System Configuration (CF, configd)
// ---------------------------------------------------------------------------------------------

const other = (kind: Excerpt["kind"], name: string, header: string): Excerpt => {
  const e = ALL_EXCERPTS.find((x) => x.kind === kind && x.name === name && x.header === header);
  if (!e) throw new Error(`no quoted ${kind} ${name} in ${header}`);
  return e;
};

for (const row of ENUM_ROWS) {
  const e = other("enum", row.name, row.header);
  Deno.test(`${row.name} = ${hex(row.value)} in ${row.ours} (${where(e)})`, () => {
    const m = /^\s*\w+\s*=\s*([^,/]+)/.exec(e.text);
    assert.ok(m, e.text);
    assert.equal(row.value, Number(evaluate(m[1]!.trim(), env)));
  });
}

for (const row of STRING_ROWS) {
  const e = other("string", row.name, row.header);
  Deno.test(`${row.name} is "${row.value}" (${where(e)})`, () => {
    const m = new RegExp(`\\b${row.name}\\b[^"]*"([^"]*)"`).exec(e.text);
    assert.ok(m, e.text);
    assert.equal(m[1], row.value);
  });
}

Deno.test("the dynamic-store keys and dictionaries tunbox writes use only proven SC strings", () => {
  const proven = new Set(STRING_ROWS.map((r) => r.value));
  const values = systemDnsValues(
    "utun8",
    [parsePrefix("198.18.0.1/16")!, parsePrefix("fdfe:dcba:9876::1/126")!],
    [new Uint8Array(4)],
    ["home.arpa"],
    [parsePrefix("3.1.2.82/32")!, parsePrefix("fc00::/7")!],
  );
  for (const [key, dict] of values) {
    // State:/Network/Service/<id>/<entity>
    const m = /^(State:)\/(Network)\/(Service)\/tunbox-utun8\/(\w+)$/.exec(key);
    assert.ok(m, key);
    for (const part of m.slice(1)) assert.ok(proven.has(part), `${key}: ${part}`);
    const walk = (v: unknown, at: string) => {
      if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${at}[${i}]`));
      else if (v !== null && typeof v === "object") {
        for (const [k, x] of Object.entries(v)) {
          assert.ok(proven.has(k), `${at}: ${k}`);
          walk(x, `${at}.${k}`);
        }
      }
    };
    walk(dict, key);
  }
  assert.equal(values.size, 3);
  // The excluded routes were there to check.
  assert.ok(JSON.stringify([...values.values()]).includes("ExcludedRoutes"));
});

for (const t of CONFIGD_TEXT_ROWS) {
  const e = other("text", t.contains, t.header);
  Deno.test(`${t.fact} (${where(e)})`, () => {
    assert.ok(e.text.includes(t.contains));
  });
}

// ---------------------------------------------------------------------------------------------
// The quotes against the sources themselves
// ---------------------------------------------------------------------------------------------

for (const [repo, source] of Object.entries(SOURCES)) {
  const dir = Deno.env.get(`TUNBOX_${repo.toUpperCase()}_GIT`) ??
    `/work/.mirror/${source.repository.replace("/", "+")}/repo`;
  const have = (() => {
    try {
      return new Deno.Command("git", { args: ["-C", dir, "cat-file", "-e", source.commit] })
        .outputSync().success;
    } catch {
      return false;
    }
  })();
  Deno.test({
    name: `every quoted line is the text of ${source.tag} (${
      source.commit.slice(0, 12)
    }) at that line`,
    ignore: !have,
    fn() {
      const files = new Map<string, string[]>();
      for (const e of ALL_EXCERPTS.filter((x) => x.repo === repo)) {
        let lines = files.get(e.header);
        if (!lines) {
          const out = new Deno.Command("git", {
            args: ["-C", dir, "show", `${source.commit}:${e.header}`],
          }).outputSync();
          assert.ok(out.success, `git show ${e.header}`);
          lines = new TextDecoder().decode(out.stdout).split("\n");
          files.set(e.header, lines);
        }
        const quoted = e.text.split("\n");
        assert.deepEqual(lines.slice(e.line - 1, e.line - 1 + quoted.length), quoted, where(e));
      }
    },
  });
}

Deno.test("the quoted struct text compiles to members only (no directive is mistaken for one)", () => {
  for (const e of EXCERPTS.filter((x) => x.kind === "struct")) {
    for (const line of activeLines(e.text, env)) {
      assert.ok(!/^\s*#/.test(line), `${where(e)}: ${line}`);
    }
  }
});
