import { randomBytes } from "node:crypto";
import { invalidArgument } from "./errors.ts";
import { DNS_LABEL, DNS_LABEL_MAX_LENGTH } from "./names.ts";
import { validateOptions } from "./options.ts";
import type { DeployOptions, DeployParams, DeploySpec } from "./types.ts";

/** Function ids are DNS-1035 labels, so that every platform (Knative, Nuclio, Docker) accepts them. */
export const ID_PATTERN = DNS_LABEL;
export const ID_MAX_LENGTH = DNS_LABEL_MAX_LENGTH;
export const HANDLER_MAX_BYTES = 1024 * 1024;
export const REQUIREMENTS_MAX_BYTES = 64 * 1024;
export const ENV_MAX_ENTRIES = 128;
export const ENV_VALUE_MAX_BYTES = 32 * 1024;

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Every template parameter a deploy may set, with the pattern its value must match. */
export const PARAM_PATTERNS: Record<keyof DeployParams, RegExp> = {
  PYTHON_VERSION: /^3\.[0-9]{1,2}$/,
  PIP_INDEX_URL: /^https?:\/\/[A-Za-z0-9._~:/?#[\]@!$&'()*+,;=%-]{1,2000}$/,
  BASE_IMAGE: /^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]{1,5})?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9._-]{0,127})?(@sha256:[a-f0-9]{64})?$/,
};

/** The raw fields of a deploy request, as any protocol delivers them. */
export interface RawDeployRequest {
  id?: string;
  handler?: string;
  requirements?: string;
  params?: Record<string, string>;
  env?: Record<string, string>;
  options?: DeployOptions;
  /** Render the platform object instead of deploying. */
  dryRun?: boolean;
  /** Env names whose values carry over from the current deploy (the core resolves them first). */
  keepEnv?: string[];
}

/** Checks a function id; throws invalid_argument naming `field`. */
export function validateId(id: string, field = "id"): string {
  if (id.length === 0) throw invalidArgument(field, `${field} is required`);
  if (id.length > ID_MAX_LENGTH) {
    throw invalidArgument(field, `${field} must be at most ${ID_MAX_LENGTH} characters, got ${id.length}`);
  }
  if (!ID_PATTERN.test(id)) {
    throw invalidArgument(
      field,
      `${field} ${JSON.stringify(id)} is invalid: use lowercase letters, digits and '-', start with a letter and end with a letter or digit`,
    );
  }
  return id;
}

/** Generates a function id: `func-` and 8 hex digits. */
export function generateId(): string {
  return `func-${randomBytes(4).toString("hex")}`;
}

/** Validates a deploy request into a DeploySpec, generating the id when it is empty. */
export function validateDeployRequest(raw: RawDeployRequest): DeploySpec {
  const id = raw.id ? validateId(raw.id) : generateId();
  const handler = raw.handler ?? "";
  if (handler.trim().length === 0) throw invalidArgument("handler", "handler is required: Python source defining handle(req)");
  if (Buffer.byteLength(handler) > HANDLER_MAX_BYTES) {
    throw invalidArgument("handler", `handler must be at most ${HANDLER_MAX_BYTES} bytes`);
  }
  if (handler.includes("\0")) throw invalidArgument("handler", "handler must not contain NUL characters");
  const requirements = raw.requirements ?? "";
  if (Buffer.byteLength(requirements) > REQUIREMENTS_MAX_BYTES) {
    throw invalidArgument("requirements", `requirements must be at most ${REQUIREMENTS_MAX_BYTES} bytes`);
  }
  if (requirements.includes("\0")) throw invalidArgument("requirements", "requirements must not contain NUL characters");
  return {
    id,
    handler,
    requirements,
    params: validateParams(raw.params ?? {}),
    env: validateEnv(raw.env ?? {}),
    options: validateOptions(raw.options),
  };
}

function validateParams(params: Record<string, string>): DeployParams {
  const out: DeployParams = {};
  for (const [key, value] of Object.entries(params)) {
    if (!Object.hasOwn(PARAM_PATTERNS, key)) {
      throw invalidArgument(
        `params.${key}`,
        `unknown parameter ${JSON.stringify(key)}; known parameters: ${Object.keys(PARAM_PATTERNS).join(", ")}`,
      );
    }
    const name = key as keyof DeployParams;
    if (typeof value !== "string" || !PARAM_PATTERNS[name].test(value)) {
      throw invalidArgument(`params.${key}`, `parameter ${key} has an invalid value ${JSON.stringify(value)}`);
    }
    out[name] = value;
  }
  return out;
}

function validateEnv(env: Record<string, string>): Record<string, string> {
  const entries = Object.entries(env);
  if (entries.length > ENV_MAX_ENTRIES) throw invalidArgument("env", `env must have at most ${ENV_MAX_ENTRIES} entries`);
  const out: Record<string, string> = {};
  for (const [name, value] of entries) {
    if (!ENV_NAME.test(name)) throw invalidArgument(`env.${name}`, `environment variable name ${JSON.stringify(name)} is invalid`);
    if (name.startsWith("FAAS_")) throw invalidArgument(`env.${name}`, `environment variable names starting with FAAS_ are reserved`);
    if (typeof value !== "string") throw invalidArgument(`env.${name}`, `environment variable ${name} must be a string`);
    if (value.includes("\0") || Buffer.byteLength(value) > ENV_VALUE_MAX_BYTES) {
      throw invalidArgument(`env.${name}`, `environment variable ${name} has an invalid value`);
    }
    out[name] = value;
  }
  return out;
}
