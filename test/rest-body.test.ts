import { describe, expect, it } from "vitest";
import { DeployRequestSchema, InvokeRequestSchema, SetTrafficRequestSchema } from "../gen/faas/v1/agent_pb.ts";
import { isFaasError } from "../src/domain/errors.ts";
import { requestFromJson } from "../src/server/rest-body.ts";

/** `field: message` of the invalid_argument a decode throws. */
function refusal(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (isFaasError(error) && error.kind === "invalid_argument") return `${error.metadata.field}: ${error.message}`;
    throw error;
  }
  return "accepted";
}

describe("REST bodies decoded into the RPC request messages", () => {
  it("takes proto (snake_case) and JSON (camelCase) names, and ignores keys the message lacks", () => {
    const req = requestFromJson(DeployRequestSchema, JSON.parse('{"id":"a","handler":"h","dry_run":true,"options":{"min_scale":1,"maxScale":2},"junk":1,"__proto__":{"x":1}}'));
    expect(req).toMatchObject({ id: "a", handler: "h", dryRun: true, options: { minScale: 1, maxScale: 2 } });
    expect(requestFromJson(DeployRequestSchema, { handler: "h", dryRun: true }).dryRun).toBe(true);
  });

  it("names the field of a value of the wrong type, as the seed did", () => {
    expect(refusal(() => requestFromJson(DeployRequestSchema, { handler: 42 }))).toBe("handler: handler must be a string");
    expect(refusal(() => requestFromJson(DeployRequestSchema, { handler: "h", dry_run: "yes" }))).toBe("dry_run: dry_run must be true or false");
    expect(refusal(() => requestFromJson(DeployRequestSchema, { handler: "h", env: [1] }))).toBe("env: env must be an object of strings");
    expect(refusal(() => requestFromJson(DeployRequestSchema, { handler: "h", env: { A: 1 } }))).toBe("env.A: env.A must be a string");
    expect(refusal(() => requestFromJson(InvokeRequestSchema, { id: 5 }))).toBe("id: id must be a string");
  });

  it("refuses unknown keys inside a known field, naming the field", () => {
    expect(refusal(() => requestFromJson(DeployRequestSchema, { handler: "h", options: { min_scael: 1 } }))).toMatch(/^options: options is invalid: .*"min_scael" is unknown/);
  });

  it("names the item of a list that does not decode", () => {
    const body = { id: "a", traffic: [{ latest: true, percent: 100 }, { percent: "x" }] };
    expect(refusal(() => requestFromJson(SetTrafficRequestSchema, body))).toMatch(/^traffic\[1\]: traffic\[1\] is invalid: .*percent/);
  });

  it("refuses a field set twice (by both names) and a map key __proto__, which decoding would drop", () => {
    expect(refusal(() => requestFromJson(DeployRequestSchema, { handler: "h", dry_run: true, dryRun: false }))).toBe("dryRun: dryRun is set twice (as dry_run and dryRun)");
    expect(refusal(() => requestFromJson(DeployRequestSchema, JSON.parse('{"handler":"h","env":{"__proto__":"x"}}')))).toBe("env.__proto__: env must not have a key named __proto__");
    expect(refusal(() => requestFromJson(DeployRequestSchema, JSON.parse('{"handler":"h","params":{"__proto__":"x"}}')))).toBe("params.__proto__: params must not have a key named __proto__");
  });

  it("only decodes: the contract's rules are RequestValidation's", () => {
    expect(requestFromJson(InvokeRequestSchema, {}).id).toBe("");
    expect(requestFromJson(DeployRequestSchema, { id: "Not_A_Label", handler: "" })).toMatchObject({ id: "Not_A_Label", handler: "" });
  });
});
