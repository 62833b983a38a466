import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The dashboard builds to static assets (dashboard/dist) that the Worker
 * serves at `/` through its ASSETS binding; wrangler.toml points there.
 * `npm run dev:dashboard` serves it with hot reload and forwards the API,
 * the health check and MQTT to a broker started with `npm start`.
 */
const broker = process.env.EDGEMQ_URL ?? 'http://127.0.0.1:8787';

export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // The dashboard is served by the broker itself; nothing is fetched from a CDN.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 600,
  },
  server: {
    proxy: {
      '/api': { target: broker, ws: true },
      '/health': broker,
      '/mqtt': { target: broker, ws: true },
    },
  },
});
