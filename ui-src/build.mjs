// Builds the page into armorer_ray/ui/static (committed, so users need no Node): `npm ci && npm run build`.
import { build } from "esbuild";

await build({
  entryPoints: ["src/main.jsx"],
  bundle: true,
  minify: true,
  format: "iife",
  target: ["es2020"],
  jsx: "automatic",
  define: { "process.env.NODE_ENV": '"production"' },
  outfile: "../armorer_ray/ui/static/app.js",
  legalComments: "external",
  loader: { ".css": "css" },
  logLevel: "info",
});
