/**
 * A hand-written SVG bar chart of throughput per path and direction (no dependencies).
 *
 * @module
 */

import { HEV_DANTED } from "./reference.ts";
import { findRun, THROUGHPUT_SERIES } from "./render_md.ts";
import type { Report } from "./types.ts";

const COLORS: Record<string, string> = {
  up1: "#1f6fb2",
  down1: "#e07b22",
  up4: "#7fb3e0",
  down4: "#f2c08c",
};

/** Escapes text for SVG content and attribute values. */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(
    /"/g,
    "&quot;",
  );
}

/** A "nice" axis maximum (1, 2, 2.5, 5 × 10^n) at or above `v`. */
export function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const exp = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * exp >= v) return m * exp;
  return 10 * exp;
}

/**
 * Renders Gbit/s per path (one group of bars per row with throughput measured; one bar per
 * successful run, class `bar`) with a dashed line at the hev-socks5-tunnel reference.
 */
export function renderSvg(report: Report): string {
  const rows = report.paths.filter((r) => r.spec.metrics.includes("throughput"));
  const barH = 13;
  const barGap = 2;
  const groupGap = 16;
  const left = 250;
  const plotW = 560;
  const right = 70;
  const top = 78;
  const groupH = THROUGHPUT_SERIES.length * (barH + barGap) - barGap;
  // A row that could not be set up gets one line instead of four bars.
  const failedH = barH + 6;
  const heightOf = (r: (typeof rows)[number]) => (r.status === "failed" ? failedH : groupH);
  const groupTops: number[] = [];
  let y = top;
  for (const r of rows) {
    groupTops.push(y);
    y += heightOf(r) + groupGap;
  }
  const plotBottom = y;
  const height = plotBottom + 50;
  const width = left + plotW + right;
  let maxV = HEV_DANTED.uploadGbps ?? 1;
  for (const r of rows) for (const t of r.throughput) if (t.ok) maxV = Math.max(maxV, t.value.gbps);
  const max = niceMax(maxV);
  const x = (v: number) => left + (v / max) * plotW;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
  );
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#ffffff"/>`);
  parts.push(
    `<text x="${
      width / 2
    }" y="22" text-anchor="middle" font-size="16" font-weight="bold">Throughput per path, Gbit/s (${
      xmlEscape(report.date)
    })</text>`,
  );
  // Legend.
  let lx = left - 60;
  for (const s of THROUGHPUT_SERIES) {
    parts.push(`<rect x="${lx}" y="36" width="14" height="12" fill="${COLORS[s.key]}"/>`);
    parts.push(`<text x="${lx + 19}" y="46">${xmlEscape(s.legend)}</text>`);
    lx += 165;
  }
  // Grid and axis.
  const ticks = 5;
  for (let i = 0; i <= ticks; i++) {
    const v = (max / ticks) * i;
    const gx = x(v);
    parts.push(
      `<line x1="${gx}" y1="${top - 8}" x2="${gx}" y2="${plotBottom}" stroke="#dddddd"/>`,
    );
    parts.push(
      `<text x="${gx}" y="${plotBottom + 14}" text-anchor="middle" fill="#555555">${
        Number(v.toFixed(2))
      }</text>`,
    );
  }
  if (HEV_DANTED.uploadGbps !== undefined) {
    const hx = x(HEV_DANTED.uploadGbps);
    parts.push(
      `<line x1="${hx}" y1="${
        top - 12
      }" x2="${hx}" y2="${plotBottom}" stroke="#b22222" stroke-dasharray="5,4" stroke-width="1.5"/>`,
    );
    parts.push(
      `<text x="${hx + 4}" y="${
        top - 14
      }" fill="#b22222" font-size="11">hev → danted, upload ${HEV_DANTED.uploadGbps}</text>`,
    );
  }
  // Bars.
  rows.forEach((row, gi) => {
    const gy = groupTops[gi]!;
    const gh = heightOf(row);
    const label = row.spec.label + (row.spec.throughputTool === "deno-bulk" ? " ¹" : "");
    parts.push(
      `<text x="${left - 8}" y="${gy + gh / 2 + 4}" text-anchor="end" font-weight="bold">${
        xmlEscape(label)
      }</text>`,
    );
    if (row.status === "failed") {
      const why = (row.error ?? "failed").replace(/^tunbox failed to start: /, "failed to start: ");
      const text = why.length > 78 ? why.slice(0, 77) + "…" : why;
      parts.push(
        `<rect x="${left + 2}" y="${gy}" width="${
          plotW - 4
        }" height="${gh}" fill="#fff4f4" stroke="#e8b4b4"/>`,
      );
      parts.push(
        `<text x="${left + 8}" y="${gy + gh / 2 + 4}" fill="#b22222" font-size="11">${
          xmlEscape(text)
        }</text>`,
      );
      return;
    }
    THROUGHPUT_SERIES.forEach((s, si) => {
      const by = gy + si * (barH + barGap);
      const run = findRun(row, s.direction, s.streams);
      if (!run) {
        parts.push(
          `<text x="${left + 4}" y="${
            by + barH - 2
          }" fill="#999999" font-size="10">${s.title}: not measured or failed</text>`,
        );
        return;
      }
      const w = Math.max(1, x(run.gbps) - left);
      parts.push(
        `<rect class="bar" data-path="${
          xmlEscape(row.spec.id)
        }" data-series="${s.key}" x="${left}" y="${by}" width="${
          w.toFixed(1)
        }" height="${barH}" fill="${COLORS[s.key]}"><title>${
          xmlEscape(`${row.spec.label}, ${s.title}: ${run.gbps.toFixed(2)} Gbit/s`)
        }</title></rect>`,
      );
      parts.push(
        `<text x="${left + w + 4}" y="${by + barH - 2}" font-size="11">${
          run.gbps.toFixed(2)
        }</text>`,
      );
    });
  });
  const axisTitle = "Gbit/s (receiver side; higher is better)";
  parts.push(
    `<text x="${left + plotW / 2}" y="${
      plotBottom + 30
    }" text-anchor="middle" fill="#555555">${axisTitle}</text>`,
  );
  const note = "¹ Deno bulk tool (iperf3 cannot speak SOCKS); other rows iperf3";
  parts.push(`<text x="8" y="${height - 6}" fill="#555555" font-size="10">${note}</text>`);
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}
