import { env } from 'cloudflare:test';

/**
 * Runs `during` while every read of the ACL rules from D1 fails (their table
 * is renamed away), as in a D1 outage, and puts the table back whatever
 * happens, so later tests read the rules again.
 */
export async function whileRulesUnreadable(during: () => Promise<void>): Promise<void> {
  await env.DB.exec('ALTER TABLE acl_rules RENAME TO acl_rules_away');
  try {
    await during();
  } finally {
    await env.DB.exec('ALTER TABLE acl_rules_away RENAME TO acl_rules');
  }
}
