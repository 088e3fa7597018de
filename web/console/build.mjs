// Builds the console into the gateway's sources (src/http/console/), where
// the binary embeds it. The output is committed; CI builds it again and
// fails on a difference, so what is served is what this builds.
import { build } from 'esbuild';

await build({
  entryPoints: { console: 'console.jsx' },
  outdir: '../../src/http/console',
  bundle: true,
  minify: true,
  format: 'iife',
  jsx: 'automatic',
  target: ['chrome109', 'firefox115', 'safari15'],
  legalComments: 'none',
  define: { 'process.env.NODE_ENV': '"production"' },
  logLevel: 'warning',
});
