import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The node serves the build from ui/dist at its own origin, so every path is relative to '/'.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 4096,
    // Every browser the pages are for knows modulepreload; without the polyfill the offline viewer is one file.
    modulePreload: { polyfill: false },
    // Three pages: the staff workspace, the page a share's recipient opens from the e-mail (none of the staff code),
    // and the offline viewer that goes into a share's zip (its script inlined there: see share/offline-viewer.ts).
    rollupOptions: {
      input: {
        main: `${import.meta.dirname}/index.html`,
        share: `${import.meta.dirname}/share.html`,
        'offline-viewer': `${import.meta.dirname}/offline-viewer.html`,
      },
    },
  },
  worker: { format: 'es' },
  // The image loader starts its decoding workers from its own files; pre-bundling would break their URLs.
  optimizeDeps: { exclude: ['@cornerstonejs/dicom-image-loader'] },
});
