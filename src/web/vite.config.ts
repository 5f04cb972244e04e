import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The web page the agent serves at `/`: `npm run build:web` writes it to src/web/dist (not
// committed), where src/agent.ts (WEB_ROOT) serves it from. Everything is bundled: no CDN.
export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "/",
  logLevel: "warn",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    assetsInlineLimit: 0,
  },
});
