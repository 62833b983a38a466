import { defineConfig } from 'drizzle-kit';

// migrations/ is also wrangler's migrations_dir, so `wrangler d1 migrations apply` runs what this generates.
export default defineConfig({
  dialect: 'sqlite',
  schema: './db/schema.ts',
  out: './migrations',
});
