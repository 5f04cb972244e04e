import { createHash, createPublicKey } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";

/** PEM files of a test CA and what it signed. */
export interface TestCa {
  ca: string;
  caKey: string;
  /** Signs a certificate for `name` (server: SAN localhost + 127.0.0.1; client: clientAuth); returns its files. */
  issue(name: string, kind: "server" | "client", subject?: string): Promise<{ cert: string; key: string }>;
}

/** Makes a CA in `dir` with Debian's openssl (EC P-256, valid one day). */
export async function makeCa(dir: string, name: string): Promise<TestCa> {
  const ca = join(dir, `${name}.pem`);
  const caKey = join(dir, `${name}.key`);
  await execa("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", caKey, "-out", ca, "-days", "1", "-subj", `/CN=${name}`]);
  return {
    ca,
    caKey,
    async issue(certName, kind, subject = `/CN=${certName}`) {
      const key = join(dir, `${certName}.key`);
      const csr = join(dir, `${certName}.csr`);
      const cert = join(dir, `${certName}.pem`);
      const ext = join(dir, `${certName}.ext`);
      writeFileSync(ext, kind === "server" ? "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n" : "extendedKeyUsage=clientAuth\n");
      await execa("openssl", ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr, "-subj", subject]);
      await execa("openssl", ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", caKey, "-CAcreateserial", "-out", cert, "-days", "1", "-extfile", ext]);
      return { cert, key };
    },
  };
}

/** The base64 SHA-256 of a certificate's public key, as Chromium's --ignore-certificate-errors-spki-list takes it. */
export function spkiHash(certFile: string): string {
  const der = createPublicKey(readFileSync(certFile)).export({ type: "spki", format: "der" });
  return createHash("sha256").update(der).digest("base64");
}
