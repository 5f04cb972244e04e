// The sections of the function detail view, each in its own file; importing one registers it
// (see registry.ts). A new section: add its file here, one import line.
import "./overview.ts";
import "./stats.ts";
import "./logs.ts";
import "./source.ts";
import "./stream.ts";
import "./invocations.ts";
