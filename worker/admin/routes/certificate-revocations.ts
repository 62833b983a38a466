import { createRoute, z } from '@hono/zod-openapi';
import { deleteRevocation, getRevocation, insertRevocation, listRevocations, replaceCrlEntries, toRevocationView } from '../../../db/queries/certificate-revocations';
import { auditFor } from '../context';
import { errorResponses, notFound } from '../errors';
import { isReadableDn, normalizeFingerprint, normalizeSerial, parseCrlUpload } from '../crl';
import { newRouter } from '../router';
import { idParam, isoTime, pageParams, pageSchema } from '../schemas';

const RevocationSchema = z
  .object({
    id: z.string(),
    serial: z.string().nullable().openapi({ description: 'Upper-case hex, no separators' }),
    issuerDn: z.string().nullable(),
    fingerprintSha256: z.string().nullable().openapi({ description: 'Lower-case hex SHA-256 of the DER certificate' }),
    description: z.string().nullable(),
    source: z.enum(['manual', 'crl']),
    crlId: z.string().nullable().openapi({ description: 'Groups the entries of one uploaded CRL' }),
    createdAt: isoTime,
  })
  .openapi('CertificateRevocation');

const RevocationInput = z
  .object({
    serial: z
      .string()
      .max(128)
      .nullable()
      .optional()
      .refine((s) => !s || normalizeSerial(s) !== null, 'must be a hexadecimal serial number (separators : and spaces allowed)'),
    issuerDn: z
      .string()
      .max(1024)
      .nullable()
      .optional()
      .refine((s) => !s || isReadableDn(s), 'must be a distinguished name such as CN=Plant CA,O=Example')
      .openapi({ description: 'Limits a serial to certificates of this issuer' }),
    fingerprintSha256: z
      .string()
      .max(200)
      .nullable()
      .optional()
      .refine((s) => !s || normalizeFingerprint(s) !== null, 'must be a SHA-256 fingerprint (64 hex digits)'),
    description: z.string().max(512).nullable().optional(),
  })
  .refine((v) => Boolean(v.serial) || Boolean(v.fingerprintSha256), { message: 'give a serial and/or a fingerprintSha256', path: ['serial'] })
  .openapi('CertificateRevocationInput');

const CrlInput = z
  .object({
    pem: z.string().min(1).max(16 * 1024 * 1024).openapi({ description: 'One or more PEM CRLs (-----BEGIN X509 CRL-----)' }),
    description: z.string().max(512).nullable().optional(),
  })
  .openapi('CrlUpload');

const CrlResult = z
  .object({
    crls: z.array(
      z.object({
        crlId: z.string(),
        issuerDn: z.string(),
        entries: z.number().int().openapi({ description: 'Revoked serials stored' }),
        replaced: z.number().int().openapi({ description: 'Entries of an earlier CRL from the same issuer that this one replaced' }),
        thisUpdate: isoTime,
        nextUpdate: isoTime.nullable(),
      }),
    ),
  })
  .openapi('CrlResult');

const tags = ['Certificate revocations'];

const list = createRoute({
  method: 'get',
  path: '/certificate-revocations',
  tags,
  summary: 'Revoked certificates (manual entries and uploaded CRLs)',
  request: {
    query: z.object({
      serial: z.string().max(128).optional(),
      fingerprint: z.string().max(128).optional(),
      issuer: z.string().max(1024).optional(),
      source: z.enum(['manual', 'crl']).optional(),
      crlId: z.string().max(64).optional(),
      ...pageParams,
    }),
  },
  responses: {
    200: { description: 'A page of entries', content: { 'application/json': { schema: pageSchema(RevocationSchema, 'CertificateRevocationPage') } } },
    ...errorResponses(400, 401),
  },
});
const create = createRoute({
  method: 'post',
  path: '/certificate-revocations',
  tags,
  summary: 'Revoke a certificate by serial (and issuer) or by fingerprint',
  request: { body: { required: true, content: { 'application/json': { schema: RevocationInput } } } },
  responses: { 201: { description: 'Created', content: { 'application/json': { schema: RevocationSchema } } }, ...errorResponses(400, 401, 403) },
});
const remove = createRoute({
  method: 'delete',
  path: '/certificate-revocations/{id}',
  tags,
  summary: 'Delete an entry',
  request: { params: idParam },
  responses: { 204: { description: 'Deleted' }, ...errorResponses(401, 403, 404) },
});
const crl = createRoute({
  method: 'post',
  path: '/certificate-revocations/crl',
  tags,
  summary: 'Upload PEM CRLs; each replaces the entries of an earlier CRL from the same issuer',
  request: { body: { required: true, content: { 'application/json': { schema: CrlInput } } } },
  responses: { 201: { description: 'Stored', content: { 'application/json': { schema: CrlResult } } }, ...errorResponses(400, 401, 403) },
});

export const revocationRoutes = newRouter()
  .openapi(list, async function listRevocationsRoute(c) {
    return c.json(await listRevocations(c.var.db, c.req.valid('query')), 200);
  })
  .openapi(crl, async function uploadCrl(c) {
    const input = c.req.valid('json');
    const crls = [];
    for (const parsed of parseCrlUpload(input.pem)) {
      const { crlId, replaced } = await replaceCrlEntries(
        c.var.db,
        { issuerDn: parsed.issuerDN, serials: parsed.revokedSerials, description: input.description ?? null },
        auditFor(c.var.caller, 'upload-crl', 'certificate-revocations', null, { issuerDn: parsed.issuerDN, entries: parsed.revokedSerials.length }),
      );
      crls.push({
        crlId,
        issuerDn: parsed.issuerDN,
        entries: parsed.revokedSerials.length,
        replaced,
        thisUpdate: new Date(parsed.thisUpdate).toISOString(),
        nextUpdate: parsed.nextUpdate === null ? null : new Date(parsed.nextUpdate).toISOString(),
      });
    }
    await c.var.configChanged();
    return c.json({ crls }, 201);
  })
  .openapi(create, async function createRevocation(c) {
    const input = c.req.valid('json');
    const values = {
      serial: input.serial ? normalizeSerial(input.serial) : null,
      issuerDn: input.issuerDn?.trim() || null,
      fingerprintSha256: input.fingerprintSha256 ? normalizeFingerprint(input.fingerprintSha256) : null,
      description: input.description ?? null,
    };
    const row = await insertRevocation(c.var.db, values, auditFor(c.var.caller, 'create', 'certificate-revocations', null, { ...values }));
    await c.var.configChanged();
    return c.json(toRevocationView(row), 201);
  })
  .openapi(remove, async function deleteRevocationRoute(c) {
    const { id } = c.req.valid('param');
    const existing = await getRevocation(c.var.db, id);
    if (!existing || !(await deleteRevocation(c.var.db, id, auditFor(c.var.caller, 'delete', 'certificate-revocations', id, { serial: existing.serial, fingerprintSha256: existing.fingerprintSha256 })))) {
      throw notFound('Revocation entry');
    }
    await c.var.configChanged();
    return c.body(null, 204);
  });
