// `node --import ./test/support/deny-modules.mjs …`: installs deny-hooks.mjs before the program runs.
import { register } from "node:module";

register("./deny-hooks.mjs", import.meta.url);
