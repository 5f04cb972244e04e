import { connect } from "node:http2";
import type { AddressInfo } from "node:net";
import { createServer } from "@httptoolkit/httpolyglot";
import { describe, expect, it } from "vitest";
import { keepNativeHttp2 } from "../src/server/native-h2.ts";

/** Makes one h2c request to an httpolyglot server and returns the class of its session's socket. */
async function sessionSocketClass(fix: boolean): Promise<{ socket: string; body: string }> {
  const server = createServer({}, (_req, res) => res.end("ok"));
  if (fix) keepNativeHttp2(server);
  let socket = "";
  server.on("session", (session: { socket: object }) => {
    socket = session.socket.constructor.name;
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const client = connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  try {
    const body = await new Promise<string>((resolve, reject) => {
      let text = "";
      const req = client.request({ ":path": "/" });
      req.setEncoding("utf8");
      req.on("data", (chunk: string) => (text += chunk));
      req.on("end", () => resolve(text));
      req.on("error", reject);
      req.end();
    });
    return { socket, body };
  } finally {
    client.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

describe("h2c on httpolyglot", () => {
  it("runs on a JavaScript stream without the fix, and on the native socket with it (same answers)", async () => {
    const without = await sessionSocketClass(false);
    expect(without).toEqual({ socket: expect.stringMatching(/JSStreamSocket/), body: "ok" });
    const withFix = await sessionSocketClass(true);
    expect(withFix.socket).not.toMatch(/JSStreamSocket/);
    expect(withFix.socket).toMatch(/Socket$/);
    expect(withFix.body).toBe("ok");
  });
});
