import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import { createValidator, type Validator, type Violation } from "@bufbuild/protovalidate";
import { DeleteRequestSchema, DeployRequestSchema, InvokeRequestSchema } from "../../gen/faas/v1/agent_pb.ts";
import { invalidArgument, type FaasError } from "../domain/errors.ts";
import type { RawDeployRequest } from "../domain/spec.ts";

/**
 * The request rules declared in proto/faas/v1/agent.proto (protovalidate annotations), for the
 * callers that do not go through the Connect validate interceptor: the REST routes decode their
 * body into the same request message and check it here, with the interceptor's own validator, so
 * every client sees the same rules and the same errors. Throws a FaasError (invalid_argument,
 * INVALID_REQUEST, metadata.field) for the first violation.
 */
export class RequestValidation {
  /** The protovalidate validator; shared with the RPC interceptor (it caches compiled rules). */
  readonly validator: Validator = createValidator();

  /** Checks a request message against its rules; returns it when it holds. */
  check<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): MessageShape<Desc> {
    const result = this.validator.validate(schema, message);
    if (result.kind === "invalid") throw violationError(result.violations);
    if (result.kind === "error") throw result.error;
    return message;
  }

  /** Checks a domain deploy request as DeployRequest (the rules' tests compare it with spec.ts). */
  deploy(raw: RawDeployRequest): void {
    this.checkInit(DeployRequestSchema, { ...raw });
  }

  /** Checks the id of an invoke (as InvokeRequest; the payload has no rules). */
  invokeId(id: string): void {
    this.checkInit(InvokeRequestSchema, { id });
  }

  /** Checks the id of a delete (as DeleteRequest). */
  deleteId(id: string): void {
    this.checkInit(DeleteRequestSchema, { id });
  }

  private checkInit<Desc extends DescMessage>(schema: Desc, init: MessageInitShape<Desc>): void {
    this.check(schema, create(schema, init));
  }
}

/**
 * The first violation as a FaasError: invalid_argument with reason INVALID_REQUEST and the field
 * path in metadata.field (`id`, `params.PYTHON_VERSION`, `env.FAAS_X`), as spec.ts reports them.
 */
export function violationError(violations: Violation[]): FaasError {
  const first = violations[0];
  const field = fieldOf(first);
  const message = first.message.startsWith(field) ? first.message : `${field}: ${first.message}`;
  return invalidArgument(field, message);
}

/**
 * A violation's field as a dotted path, map keys as `.KEY`. A CEL rule of the contract on a map
 * field names the entry it checks in its id (`params.PYTHON_VERSION`): then that is the field.
 */
export function fieldOf(violation: Violation): string {
  let path = "";
  for (const item of violation.field) {
    switch (item.kind) {
      case "field":
      case "oneof":
        path += (path ? "." : "") + item.name;
        break;
      case "list_sub":
        path += `[${item.index}]`;
        break;
      case "map_sub":
        path += `.${String(item.key)}`;
        break;
      default:
        break;
    }
  }
  if (violation.ruleId.startsWith(`${path}.`) && violation.rule.some((r) => r.kind === "field" && r.name === "cel")) return violation.ruleId;
  return path;
}
