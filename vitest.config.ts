// Test settings. `npm test` adds the timeouts on the command line. Tests that need a system part
// the machine lacks record a skip (test/support/requires.ts) in a directory made here, and the
// run ends with one line naming them (test/support/skip-summary.ts).
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defineConfig } from "vitest/config";
import { SKIP_DIR_ENV } from "./test/support/requires.ts";
import { SkipSummaryReporter } from "./test/support/skip-summary.ts";

const skipDir = process.env[SKIP_DIR_ENV] ?? mkdtempSync(join(tmpdir(), "faas-skips-"));

export default defineConfig({
  test: {
    env: { [SKIP_DIR_ENV]: skipDir },
    reporters: ["default", new SkipSummaryReporter(skipDir)],
  },
});
