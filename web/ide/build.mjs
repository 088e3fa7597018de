// Builds the IDE into the gateway's sources (src/http/ide/), where the
// binary embeds it. The output is committed; CI builds it again and fails
// on a difference, so what is served is what this builds.
import { build } from 'esbuild';

await build({
  entryPoints: { ide: 'ide.jsx' },
  outdir: '../../src/http/ide',
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['chrome109', 'firefox115', 'safari15'],
  legalComments: 'none',
  define: { 'process.env.NODE_ENV': '"production"' },
  // Fonts and pictures inside the stylesheet: nothing to fetch besides
  // the script and the stylesheet.
  loader: { '.woff': 'dataurl', '.woff2': 'dataurl', '.ttf': 'dataurl', '.svg': 'dataurl', '.png': 'dataurl' },
  logLevel: 'warning',
});
