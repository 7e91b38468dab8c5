import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build goes to designer/static (committed; served by designer/spa.py). It must be
// reproducible: scripts/check-frontend.sh rebuilds and diffs it, so no source maps (they
// would carry paths) and nothing time- or machine-dependent.
export default defineConfig({
  plugins: [react()],
  base: "/",
  resolve: {
    // see src/stubs/no-ajv.ts
    alias: { "@rjsf/validator-ajv8": fileURLToPath(new URL("./src/stubs/no-ajv.ts", import.meta.url)) },
  },
  build: {
    outDir: "../static",
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 2000,
    reportCompressedSize: false,
  },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:8000", ws: true },
    },
  },
});
