// widget.js: one classic script (IIFE) any website can embed, styles included; no public/ copy.
import { defineConfig } from 'vite';

export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  publicDir: false,
  build: {
    outDir: 'dist',
    emptyOutDir: false,
    target: 'es2020',
    lib: { entry: 'src/widget/main.tsx', formats: ['iife'], name: 'SwitchboardChat', fileName: () => 'widget.js' },
  },
});
