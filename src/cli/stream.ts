import { toJson } from "@bufbuild/protobuf";
import { ValueSchema, type Value } from "@bufbuild/protobuf/wkt";
import { InvokeStreamResponseSchema } from "../../gen/faas/v1/agent_pb.ts";
import type { CommandContext } from "./command.ts";

/**
 * `faas invoke ID --stream`: calls InvokeStream and prints each chunk as it comes, one compact JSON
 * line each (so a pipe to `jq` or a terminal shows them at once); `-v` adds the end (time, cold
 * start, chunks) on stderr; `-o json` prints every InvokeStreamResponse message as a JSON line.
 * Ctrl-C cancels the call, which closes the handler's generator. An error after some chunks is
 * reported like any other, after the chunks already printed.
 */
export async function printStream(ctx: CommandContext, id: string, payload: Value | undefined): Promise<number> {
  for await (const message of ctx.client.invokeStream({ id, payload }, { signal: ctx.signal })) {
    if (ctx.format === "json") {
      ctx.io.stdout.write(`${JSON.stringify(toJson(InvokeStreamResponseSchema, message, { alwaysEmitImplicit: true }))}\n`);
      continue;
    }
    const event = message.event;
    if (event.case === "chunk") ctx.io.stdout.write(`${JSON.stringify(toJson(ValueSchema, event.value))}\n`);
    else if (event.case === "end" && ctx.verbose) {
      const ms = (event.value.executionTime * 1000).toFixed(1);
      ctx.io.stderr.write(`chunks: ${event.value.chunks}  time: ${ms} ms  cold start: ${event.value.coldStart ? "yes" : "no"}  platform: ${event.value.platform}\n`);
    }
  }
  return 0;
}
