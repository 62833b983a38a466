import { brokerSettingsSchema } from '../settings';

const limitSchema = brokerSettingsSchema.shape.aclDenialsBeforeDisconnect;

/**
 * Denied PUBLISHes on one connection before it is disconnected: the
 * `aclDenialsBeforeDisconnect` broker setting when D1 holds one, else the
 * MQTT_ACL_DENIALS_BEFORE_DISCONNECT var. A stored value that does not
 * validate is ignored rather than read as 0, which would turn the limit off.
 */
export function aclDenialLimit(storedSettings: readonly { key: string; value: unknown }[], fromVars: number): number {
  const row = storedSettings.find((r) => r.key === 'aclDenialsBeforeDisconnect');
  if (!row || row.value === undefined) return fromVars;
  const parsed = limitSchema.safeParse(row.value);
  return parsed.success ? (parsed.data ?? fromVars) : fromVars;
}
