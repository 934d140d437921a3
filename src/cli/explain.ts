/**
 * `tunbox explain <destination>`: which rule, outbound and DNS server a connection would get
 * (`src/onboard/explain.ts`), as text or `--json`.
 *
 * @module
 */

import { type ConfigSource, loadConfig } from "../config/load.ts";
import { explainConnection, type ExplainInput, renderExplanation } from "../onboard/explain.ts";
import { systemResolver } from "../onboard/resolve.ts";
import { printDiagnostics } from "./output.ts";

/** Runs `explain`. Returns the exit status. */
export async function explainCommand(
  sources: ConfigSource[],
  input: ExplainInput,
  json: boolean,
  color: boolean,
): Promise<number> {
  if (
    input.port !== undefined &&
    !(Number.isInteger(input.port) && input.port > 0 && input.port <= 65535)
  ) {
    console.error(`tunbox explain: --port must be 1-65535`);
    return 2;
  }
  const result = await loadConfig(sources);
  if (result.errors.length > 0 || !result.options) {
    printDiagnostics(result, color);
    return 2;
  }
  let e;
  try {
    e = await explainConnection(result.options, input, systemResolver);
  } catch (error) {
    if (error instanceof TypeError) {
      console.error(`tunbox explain: ${error.message}`);
      return 2;
    }
    throw error;
  }
  console.log(json ? JSON.stringify(e, null, 2) : renderExplanation(e));
  return 0;
}
