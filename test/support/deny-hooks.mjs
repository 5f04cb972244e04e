// Module resolution hooks (node:module register) that refuse the packages named in
// FAAS_TEST_DENY_MODULES (comma-separated): a test proves a process never loads them.
const denied = (process.env.FAAS_TEST_DENY_MODULES ?? "").split(",").filter(Boolean);

export async function resolve(specifier, context, next) {
  if (denied.some((name) => specifier === name || specifier.startsWith(`${name}/`))) {
    throw new Error(`module ${specifier} was loaded, and this test forbids it (FAAS_TEST_DENY_MODULES)`);
  }
  return next(specifier, context);
}
