import { swaggerUI } from '@hono/swagger-ui';
import { DOCS_ASSETS } from '../docs-assets';
import { errorBody } from '../errors';
import { newRouter } from '../router';

/** Swagger UI for /openapi.json, with its script and styles served from here. */
export const docsRoutes = newRouter();

// swaggerUI() builds asset URLs as `${baseUrl}/swagger-ui-dist/<file>`: a relative base keeps them under /docs/.
docsRoutes.get('/docs', swaggerUI({ url: 'openapi.json', title: 'EdgeMQ admin API', baseUrl: 'docs/assets' }));

docsRoutes.get('/docs/assets/swagger-ui-dist/:file', function docsAsset(c) {
  const asset = DOCS_ASSETS[c.req.param('file')];
  if (!asset) return c.json(errorBody('not_found', 'No such docs asset'), 404);
  return c.body(asset.body, 200, { 'Content-Type': asset.type, 'Cache-Control': 'public, max-age=86400' });
});
