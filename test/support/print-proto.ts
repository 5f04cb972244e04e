import { createRegistry, getExtension, hasExtension, isFieldSet, toJson, type DescExtension, type DescFile, type JsonValue } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label as Label,
  FieldDescriptorProto_Type as Type,
  FieldDescriptorProtoSchema,
  FieldOptionsSchema,
  MessageOptionsSchema,
  OneofOptionsSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";

/**
 * Prints a proto2 file descriptor as .proto source: messages (nested, oneofs, extension ranges),
 * enums, extensions, the file's java/go options, and every custom option the file itself defines,
 * as aggregate values. Comments are not in a descriptor, so none are printed.
 *
 * This exists for one job: proto/vendor/buf/validate/validate.proto is rebuilt from the descriptor
 * that @bufbuild/protovalidate embeds (the .proto is not reachable offline), and
 * test/contract.test.ts checks the round trip. It handles what that file uses and throws on
 * anything else rather than print something different.
 */
export function printProto(file: DescFile): string {
  const proto = file.proto;
  if (proto.syntax !== "" && proto.syntax !== "proto2") throw new Error(`unsupported syntax ${proto.syntax}`);
  const registry = createRegistry(file, ...file.dependencies);
  const extensions = [...registry].filter((d): d is DescExtension => d.kind === "extension");
  const out: string[] = ['syntax = "proto2";', "", `package ${proto.package};`, ""];
  for (const dep of proto.dependency) out.push(`import "${dep}";`);
  out.push("");
  const o = proto.options;
  if (o?.javaPackage) out.push(`option java_package = ${JSON.stringify(o.javaPackage)};`);
  if (o?.javaOuterClassname) out.push(`option java_outer_classname = ${JSON.stringify(o.javaOuterClassname)};`);
  if (o?.javaMultipleFiles) out.push(`option java_multiple_files = true;`);
  if (o?.goPackage) out.push(`option go_package = ${JSON.stringify(o.goPackage)};`);
  out.push("");
  const ctx: Context = { pkg: proto.package, extensions, registry };
  for (const ext of groupExtensions(proto.extension)) out.push(...printExtend(ext.extendee, ext.fields, ctx, ""), "");
  for (const message of proto.messageType) out.push(...printMessage(message, ctx, ""), "");
  for (const e of proto.enumType) out.push(...printEnum(e, ""), "");
  return out.join("\n").replace(/\n{3,}/g, "\n\n").trimEnd() + "\n";
}

interface Context {
  pkg: string;
  extensions: DescExtension[];
  registry: ReturnType<typeof createRegistry>;
}

function groupExtensions(fields: FieldDescriptorProto[]): Array<{ extendee: string; fields: FieldDescriptorProto[] }> {
  const groups: Array<{ extendee: string; fields: FieldDescriptorProto[] }> = [];
  for (const f of fields) {
    const last = groups.at(-1);
    if (last?.extendee === f.extendee) last.fields.push(f);
    else groups.push({ extendee: f.extendee!, fields: [f] });
  }
  return groups;
}

function printExtend(extendee: string, fields: FieldDescriptorProto[], ctx: Context, indent: string): string[] {
  return [`${indent}extend ${extendee} {`, ...fields.map((f) => printField(f, ctx, indent + "  ")), `${indent}}`];
}

function printMessage(m: DescriptorProto, ctx: Context, indent: string): string[] {
  const inner = indent + "  ";
  const out = [`${indent}message ${m.name} {`];
  out.push(...customOptions(MessageOptionsSchema, m.options, ctx).map((o) => `${inner}option ${o};`));
  if (m.options && (m.options.deprecated || m.options.mapEntry)) throw new Error(`unsupported message options on ${m.name}`);
  const opened = new Set<number>();
  for (const f of m.field) {
    if (!inOneof(f) || f.proto3Optional) {
      out.push(printField(f, ctx, inner));
      continue;
    }
    if (opened.has(f.oneofIndex)) continue;
    opened.add(f.oneofIndex);
    const decl = m.oneofDecl[f.oneofIndex];
    out.push(`${inner}oneof ${decl.name} {`);
    out.push(...customOptions(OneofOptionsSchema, decl.options, ctx).map((o) => `${inner}  option ${o};`));
    for (const g of m.field.filter((x) => inOneof(x) && x.oneofIndex === f.oneofIndex)) out.push(printField(g, ctx, inner + "  ", true));
    out.push(`${inner}}`);
  }
  for (const nested of m.nestedType) out.push(...printMessage(nested, ctx, inner));
  for (const e of m.enumType) out.push(...printEnum(e, inner));
  for (const ext of groupExtensions(m.extension)) out.push(...printExtend(ext.extendee, ext.fields, ctx, inner));
  for (const r of m.extensionRange) out.push(`${inner}extensions ${r.start} to ${r.end === 536870912 ? "max" : r.end - 1};`);
  for (const r of m.reservedRange) out.push(`${inner}reserved ${r.start === r.end - 1 ? r.start : `${r.start} to ${r.end - 1}`};`);
  if (m.reservedName.length) out.push(`${inner}reserved ${m.reservedName.map((n) => JSON.stringify(n)).join(", ")};`);
  out.push(`${indent}}`);
  return out;
}

function inOneof(f: FieldDescriptorProto): boolean {
  return isFieldSet(f, FieldDescriptorProtoSchema.field.oneofIndex);
}

function printEnum(e: EnumDescriptorProto, indent: string): string[] {
  if (e.options) throw new Error(`unsupported enum options on ${e.name}`);
  const out = [`${indent}enum ${e.name} {`];
  for (const v of e.value) {
    if (v.options) throw new Error(`unsupported enum value options on ${v.name}`);
    out.push(`${indent}  ${v.name} = ${v.number};`);
  }
  for (const r of e.reservedRange) out.push(`${indent}  reserved ${r.start === r.end ? r.start : `${r.start} to ${r.end}`};`);
  if (e.reservedName.length) out.push(`${indent}  reserved ${e.reservedName.map((n) => JSON.stringify(n)).join(", ")};`);
  out.push(`${indent}}`);
  return out;
}

const SCALARS: Partial<Record<Type, string>> = {
  [Type.DOUBLE]: "double", [Type.FLOAT]: "float", [Type.INT64]: "int64", [Type.UINT64]: "uint64", [Type.INT32]: "int32",
  [Type.FIXED64]: "fixed64", [Type.FIXED32]: "fixed32", [Type.BOOL]: "bool", [Type.STRING]: "string", [Type.BYTES]: "bytes",
  [Type.UINT32]: "uint32", [Type.SFIXED32]: "sfixed32", [Type.SFIXED64]: "sfixed64", [Type.SINT32]: "sint32", [Type.SINT64]: "sint64",
};

function printField(f: FieldDescriptorProto, ctx: Context, indent: string, inOneof = false): string {
  const type = SCALARS[f.type!] ?? f.typeName!;
  const label = inOneof ? "" : f.label === Label.REPEATED ? "repeated " : f.label === Label.REQUIRED ? "required " : "optional ";
  const options: string[] = [];
  if (isFieldSet(f, FieldDescriptorProtoSchema.field.defaultValue)) options.push(`default = ${f.type === Type.STRING ? JSON.stringify(f.defaultValue) : f.defaultValue}`);
  if (f.options?.deprecated) options.push("deprecated = true");
  if (f.options && isFieldSet(f.options, FieldOptionsSchema.field.packed)) options.push(`packed = ${f.options.packed}`);
  options.push(...customOptions(FieldOptionsSchema, f.options, ctx));
  const suffix = options.length ? ` [\n${options.map((o) => `${indent}  ${o}`).join(",\n")}\n${indent}]` : "";
  return `${indent}${label}${type} ${f.name} = ${f.number}${suffix};`;
}

/** The custom options set on `options`, as `(full.name) = { text format }`. */
function customOptions(schema: typeof FieldOptionsSchema | typeof MessageOptionsSchema | typeof OneofOptionsSchema, options: any, ctx: Context): string[] {
  if (!options) return [];
  const out: string[] = [];
  for (const ext of ctx.extensions) {
    if (ext.extendee.typeName !== schema.typeName || !hasExtension(options, ext)) continue;
    const value = getExtension(options, ext) as any;
    if (ext.fieldKind !== "message") throw new Error(`unsupported scalar option ${ext.typeName}`);
    const json = toJson(ext.message, value, { useProtoFieldName: true, registry: ctx.registry });
    out.push(`(${ext.typeName}) = ${textFormat(json)}`);
  }
  return out;
}

/** A JSON value (from toJson with proto field names) as a protobuf text-format value. */
function textFormat(value: JsonValue): string {
  if (value === null) throw new Error("null in an option value");
  if (Array.isArray(value)) throw new Error("bare list in an option value");
  if (typeof value === "object") {
    const parts: string[] = [];
    for (const [key, v] of Object.entries(value)) {
      for (const item of Array.isArray(v) ? v : [v]) parts.push(`${key}: ${textFormat(item)}`);
    }
    return `{${parts.join(" ")}}`;
  }
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

export type { FileDescriptorProto };

/** The header put above the rebuilt validate.proto (comments are not in a descriptor). */
export const VALIDATE_HEADER = `// Copyright Buf Technologies, Inc. (bufbuild/protovalidate)
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//      http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

// buf/validate/validate.proto of bufbuild/protovalidate, as compiled into @bufbuild/protovalidate
// 1.3.0 (dist/esm/gen/buf/validate/validate_pb.js), printed back from that descriptor by
// test/support/print-proto.ts: the same definitions and rules, without the original comments.
// See ../../README.md. Do not edit; regenerate with
//   node --import tsx test/support/print-proto.ts > proto/vendor/buf/validate/validate.proto

`;

// Run directly: print the rebuilt validate.proto on stdout.
if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const { file_buf_validate_validate } = await import("../../node_modules/@bufbuild/protovalidate/dist/esm/gen/buf/validate/validate_pb.js");
  process.stdout.write(VALIDATE_HEADER + printProto(file_buf_validate_validate));
}
