import { OpenAPIHono } from '@hono/zod-openapi';
import type { AdminEnv } from './context';
import { handleError, errorBody, validationHook } from './errors';
import { adminCors } from './middleware/cors';
import { authenticate } from './middleware/authenticate';
import { authorize } from './middleware/authorize';
import { database } from './middleware/database';
import { brokerNotifier } from './broker';
import { docsRoutes } from './routes/docs';
import { authRoutes } from './routes/auth';
import { adminUserRoutes } from './routes/admin-users';
import { apiKeyRoutes } from './routes/api-keys';
import { auditLogRoutes } from './routes/audit-log';
import { reasonRoutes } from './routes/reasons';
import { unauthorizedClientRoutes } from './routes/unauthorized-clients';
import { credentialRoutes } from './routes/credentials';
import { aclRuleRoutes } from './routes/acl-rules';
import { blockedClientRoutes } from './routes/blocked-clients';
import { revocationRoutes } from './routes/certificate-revocations';
import { authProviderRoutes } from './routes/auth-providers';
import { settingsRoutes } from './routes/settings';
import { sessionRoutes } from './routes/sessions';
import { subscriptionRoutes } from './routes/subscriptions';
import { retainedRoutes } from './routes/retained';
import { statsRoutes } from './routes/stats';
import { shardRoutes } from './routes/shards';
import { eventRoutes } from './routes/events';
import { configurationRoutes } from './routes/configuration';
import { mosquittoImportRoutes } from './routes/import-mosquitto';
import { PROVIDER_TYPES } from '../../auth/provider';
import { providerSettingsSchemas } from '../../auth/settings';

/** Where the Worker mounts the admin API. */
export const ADMIN_BASE_PATH = '/api/v1';

export const API_VERSION = '1.0.0';

/**
 * The admin REST API: JSON over HTTPS with bearer tokens (JWTs from
 * /auth/login or API keys). Middleware runs in this order: CORS (closed by
 * default), database handle, the broker's change notice, authentication, role check; then the resource
 * routes, each in its own file under routes/.
 */
export function createAdminApp(basePath = ADMIN_BASE_PATH): OpenAPIHono<AdminEnv> {
  const app = new OpenAPIHono<AdminEnv>({ defaultHook: validationHook });
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearerAuth', {
    type: 'http',
    scheme: 'bearer',
    description: 'A token from POST /auth/login, or an API key (`emq_...`)',
  });

  app.use('*', adminCors);
  app.use('*', database);
  app.use('*', brokerNotifier);
  app.use('*', authenticate(basePath));
  app.use('*', authorize(basePath));

  app.route('/', authRoutes);
  app.route('/', adminUserRoutes);
  app.route('/', apiKeyRoutes);
  app.route('/', auditLogRoutes);
  app.route('/', reasonRoutes);
  app.route('/', unauthorizedClientRoutes);
  app.route('/', credentialRoutes);
  app.route('/', aclRuleRoutes);
  app.route('/', blockedClientRoutes);
  app.route('/', revocationRoutes);
  app.route('/', authProviderRoutes);
  app.route('/', settingsRoutes);
  app.route('/', sessionRoutes);
  app.route('/', subscriptionRoutes);
  app.route('/', retainedRoutes);
  app.route('/', statsRoutes);
  app.route('/', shardRoutes);
  app.route('/', eventRoutes);
  app.route('/', configurationRoutes);
  app.route('/', mosquittoImportRoutes);
  app.route('/', docsRoutes);

  // What each provider's settings look like, for PUT /auth-providers/{type}.
  for (const type of PROVIDER_TYPES) {
    app.openAPIRegistry.register(`${type[0].toUpperCase()}${type.slice(1)}ProviderSettings`, providerSettingsSchemas[type]);
  }

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'EdgeMQ admin API',
      version: API_VERSION,
      description: 'Manage the EdgeMQ broker: credentials, ACLs, blocks, providers, sessions and the Unauthorized Clients log. Errors are `{error: {code, message, field?}}`.',
    },
    servers: [{ url: basePath }],
    security: [{ bearerAuth: [] }],
  });

  app.all('*', (c) => c.json(errorBody('not_found', `No ${c.req.method} ${c.req.path} in the admin API`), 404));
  app.onError(handleError);
  return app;
}
