import { defineConfig } from "vitest/config";

export default defineConfig({
  build: {
    outDir: "dist",
    // Hashed file names under /assets/: nginx caches them for a year, index.html never.
    assetsDir: "assets",
    sourcemap: false,
    target: "es2020",
  },
  server: {
    // `npm run dev` against a running stack: the dev proxy plays nginx's part.
    proxy: {
      "/influxdb": { target: process.env.DASHBOARD_DEV_PROXY ?? "http://127.0.0.1:8088", changeOrigin: true },
      "/sports": { target: process.env.DASHBOARD_DEV_PROXY ?? "http://127.0.0.1:8088", changeOrigin: true },
      "/config.json": { target: process.env.DASHBOARD_DEV_PROXY ?? "http://127.0.0.1:8088", changeOrigin: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
