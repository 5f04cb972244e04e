#!/usr/bin/env node
// The `faas` command. The CLI is TypeScript run through tsx (a dependency of the agent too), so
// that `npx faas` works straight after `npm ci`, with no build step.
import { register } from "tsx/esm/api";

register();
const { main } = await import("./main.ts");
process.exitCode = await main(process.argv.slice(2));
