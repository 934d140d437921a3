/**
 * `tunbox doctor [-c config] [--json]`: live checks with a plain-language result and a fix for
 * each (`src/onboard/doctor.ts`). Exit status 1 when a check failed.
 *
 * @module
 */

import { type ConfigSource, loadConfig } from "../config/load.ts";
import { renderFindings, runDoctor } from "../onboard/doctor.ts";
import { printDiagnostics } from "./output.ts";

/** Runs `doctor`. Returns the exit status. */
export async function doctorCommand(
  sources: ConfigSource[],
  json: boolean,
  color: boolean,
): Promise<number> {
  const result = await loadConfig(sources);
  if (result.errors.length > 0 || !result.options) {
    printDiagnostics(result, color);
    console.error("tunbox doctor: fix the configuration first (tunbox check lists the same)");
    return 2;
  }
  const findings = await runDoctor(result.options, result.warnings);
  const failed = findings.some((f) => f.status === "fail");
  if (json) {
    console.log(JSON.stringify(
      {
        ok: !failed,
        problems: findings.filter((f) => f.status === "fail").length,
        warnings: findings.filter((f) => f.status === "warn").length,
        findings,
      },
      null,
      2,
    ));
  } else console.log(renderFindings(findings));
  return failed ? 1 : 0;
}
