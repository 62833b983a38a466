import { applyD1Migrations, env } from 'cloudflare:test';

// Every workers test starts from the schema the deployed Worker has: the real migrations, applied to local D1.
await applyD1Migrations(env.DB, (env as unknown as { TEST_MIGRATIONS: Parameters<typeof applyD1Migrations>[1] }).TEST_MIGRATIONS);
