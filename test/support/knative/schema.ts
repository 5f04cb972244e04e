import { readFileSync } from "node:fs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import { parse } from "yaml";

/**
 * The openAPIV3Schema of the real Knative Service CRD (test/fixtures/knative/knative-service-crd.yaml,
 * see PROVENANCE.md there), compiled with Ajv: the structural validation a real API server applies
 * before admission webhooks run. int32/int64 formats are checked as integers.
 */
export function crdValidator(file = "knative-service-crd.yaml"): (object: unknown) => string[] {
  const crd = parse(readFileSync(new URL(`../../fixtures/knative/${file}`, import.meta.url), "utf8")) as {
    spec: { versions: { name: string; schema: { openAPIV3Schema: object } }[] };
  };
  const version = crd.spec.versions.find((v) => v.name === "v1");
  if (!version) throw new Error(`${file} has no v1 version`);
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat("int32", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
  const validate: ValidateFunction = ajv.compile(version.schema.openAPIV3Schema);
  return (object) => (validate(object) ? [] : (validate.errors ?? []).map(describe));
}

/** An Ajv error in the API server's words: `<path>: Invalid value: <message>`. */
function describe(e: ErrorObject): string {
  const path = e.instancePath.replace(/^\//, "").replaceAll("/", ".") || "<root>";
  return `${path}: Invalid value: ${e.message ?? "invalid"}`;
}
