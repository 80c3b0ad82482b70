// ciba-check interop harness: panva's oidc-provider configured as a
// FAPI-CIBA OP (FAPI 1.0 Final profile, CIBA poll and ping,
// private_key_jwt, tls_client_auth and self_signed_tls_client_auth,
// certificate-bound access tokens, signed backchannel request objects),
// served over TLS on loopback, with a small authentication device.
//
// Usage: node server.mjs CONFIG.json
//
// CONFIG.json is written by interop/harness_test.go (startHarness there
// writes the fields). Once listening, the server prints one JSON line to
// stdout: {"ready":true,"issuer":"https://127.0.0.1:PORT"}. Everything else
// (provider events, errors) goes to stderr.
//
// CONFIG.json's "choices" selects one of the sets of choices the specs
// leave to the OP (see CHOICES below): "default" (or absent), "strict",
// and "plain" (no FAPI profile: client secrets, unsigned requests).
//
// Beside the OP it serves a FAPI protected resource, GET or POST
// /fapi/accounts, which accepts the OP's certificate-bound access tokens
// as a FAPI API would (target.yaml's resource).
//
// The authentication device decides per user: "approve" and "deny" users
// are decided as soon as the request arrives; "hold" users stay pending
// until the approval endpoint is called, which follows the OpenID
// Foundation suite's automated_ciba_approval_url contract:
//
//   POST /ciba-sim?auth_req_id=ID&action=allow|deny  ->  200 {"done":true}
//
// Nothing here changes how the provider judges requests: the harness only
// supplies what oidc-provider requires the deployer to supply (accounts,
// login_hint lookup, the device, certificate checks, an adapter, a fetch)
// and sets the policies it leaves to the deployer (CHOICES below).

import { readFileSync } from 'node:fs';
import https from 'node:https';
import { X509Certificate, createHash, randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';

import Provider, { errors } from 'oidc-provider';

const configPath = process.argv[2];
if (!configPath) {
  console.error('usage: node server.mjs CONFIG.json');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));
const caPEM = readFileSync(config.tls.ca);

// Authentication context classes (OIDC Core 2 acr).
const SILVER = 'urn:ciba-check:acr:silver';
const GOLD = 'urn:ciba-check:acr:gold';

// CHOICES: what each configuration decides where CIBA, FAPI-CIBA, OIDC and
// the OAuth RFCs let the OP choose. docs/interop.md quotes the sentences
// that allow each choice. Client registrations (which client registers
// backchannel_user_code_parameter) come with CONFIG.json.
const CHOICES = {
  // The first configuration: generous where the specs allow it.
  default: {
    // acr_values_supported, and the classes the device can perform: it
    // authenticates at the first requested one it supports, else the first.
    acrValues: [SILVER, GOLD],
    deviceACRs: [SILVER, GOLD],
    // A refresh token with every CIBA grant of a client allowed the
    // refresh_token grant (oidc-provider's default also demands
    // offline_access).
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    // binding_message: oidc-provider's default policy (optional; when
    // sent, ^[a-zA-Z0-9-._+/!?#]{1,20}$ or invalid_binding_message).
    validateBindingMessage: undefined,
    // requested_expiry is honoured up to ten minutes; 120 s without it.
    requestExpiry: (requested) => (requested ? Math.min(600, requested) : 120),
    // Any authenticated client may introspect (oidc-provider's default for
    // confidential clients).
    introspectionAllowed: undefined,
  },
  // The second configuration: other legal choices, each stricter.
  strict: {
    // gold is advertised, but the test users' devices reach silver only.
    acrValues: [GOLD, SILVER],
    deviceACRs: [SILVER],
    // oidc-provider's default: a refresh token only when the grant
    // includes offline_access.
    issueRefreshToken: undefined,
    // binding_message required (FAPI-CIBA 5.2.2-2) and limited to
    // oidc-provider's default character set and length.
    async validateBindingMessage(ctx, bindingMessage) {
      if (bindingMessage === undefined) {
        throw new errors.InvalidBindingMessage('a binding_message is required');
      }
      if (!/^[a-zA-Z0-9-._+/!?#]{1,20}$/.test(bindingMessage)) {
        throw new errors.InvalidBindingMessage('the binding_message must match ^[a-zA-Z0-9-._+/!?#]{1,20}$');
      }
    },
    // requested_expiry is accepted but not used: every request lives 30 s.
    requestExpiry: () => 30,
    // Introspection is reserved for the resource server's own client,
    // "resource-server", which the test does not register: every other
    // client gets {"active":false} (RFC 7662 2.2).
    introspectionAllowed: async (ctx, client) => client.clientId === 'resource-server',
  },
};
// The third configuration: a plain CIBA OP (CIBA Core 1.0, no FAPI
// profile), as most CIBA deployments are: clients authenticate with
// client_secret_basic or client_secret_post, send unsigned backchannel
// requests, poll or ping, and get unbound tokens (no mutual TLS). The
// policies are the default configuration's.
CHOICES.plain = {
  ...CHOICES.default,
  plain: true,
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
};
const choicesName = config.choices ?? 'default';
const choices = CHOICES[choicesName];
if (!choices) {
  console.error(`server.mjs: unknown choices ${JSON.stringify(choicesName)} (known: ${Object.keys(CHOICES).join(', ')})`);
  process.exit(2);
}

const usersByHint = new Map(config.users.map((u) => [u.login_hint, u]));
const usersBySub = new Map(config.users.map((u) => [u.sub, u]));

// Adapter: an in-memory store like oidc-provider's own, except that a
// backchannel authentication request outlives its expiry by `retainExpired`
// seconds. The built-in memory adapter drops it at expiry, after which the
// token endpoint can only answer invalid_grant ("not found"), never the
// expired_token of CIBA 11. Keeping the record lets the provider's own
// expiry check run.
const retainExpired = 600;
const store = new Map(); // key -> { payload, until (ms epoch or Infinity) }
const grantMembers = new Map(); // grantId -> Set of keys

function live(key) {
  const entry = store.get(key);
  if (!entry) return undefined;
  if (entry.until <= Date.now()) {
    store.delete(key);
    return undefined;
  }
  return entry.payload;
}

class HarnessAdapter {
  constructor(model) { this.model = model; }

  key(id) { return `${this.model}:${id}`; }

  async upsert(id, payload, expiresIn) {
    let seconds = typeof expiresIn === 'number' ? expiresIn : Infinity;
    if (this.model === 'BackchannelAuthenticationRequest') seconds += retainExpired;
    const key = this.key(id);
    store.set(key, { payload, until: Date.now() + seconds * 1000 });
    if (this.model === 'Session' && payload.uid) store.set(`sessionUid:${payload.uid}`, { payload: id, until: Infinity });
    if (payload.userCode) store.set(`userCode:${payload.userCode}`, { payload: id, until: Infinity });
    if (payload.grantId) {
      if (!grantMembers.has(payload.grantId)) grantMembers.set(payload.grantId, new Set());
      grantMembers.get(payload.grantId).add(key);
    }
  }

  async find(id) { return live(this.key(id)); }

  async findByUid(uid) {
    const id = live(`sessionUid:${uid}`);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode) {
    const id = live(`userCode:${userCode}`);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id) {
    const payload = live(this.key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id) { store.delete(this.key(id)); }

  async revokeByGrantId(grantId) {
    for (const key of grantMembers.get(grantId) ?? []) store.delete(key);
    grantMembers.delete(grantId);
  }
}

// Outgoing requests (ping notifications, CIBA 10.2). oidc-provider's own
// fetch refuses loopback and private addresses (an SSRF guard) and would
// use the system trust store; the notification endpoint of this test lives
// on 127.0.0.1 with a certificate from the test CA. Redirects are not
// followed (https.request never does).
function harnessFetch(url, options = {}) {
  return new Promise((resolve, reject) => {
    const headers = {};
    new Headers(options.headers).forEach((value, name) => { headers[name] = value; });
    const req = https.request(url, {
      method: options.method ?? 'GET',
      headers,
      ca: caPEM,
      signal: options.signal,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const status = res.statusCode;
        const body = [101, 204, 205, 304].includes(status) ? null : Buffer.concat(chunks);
        resolve(new Response(body, { status, statusText: STATUS_CODES[status] ?? '' }));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body !== undefined && options.body !== null) req.write(options.body);
    req.end();
  });
}

// Node reports a certificate subject one attribute per line; tls_client_auth
// subject DNs are registered as written by Go ("CN=x,O=y", RFC 4514 order).
function sameDN(registered, certificateSubject) {
  const norm = (parts) => parts.map((p) => p.trim()).filter(Boolean).sort().join('\n');
  return norm(registered.split(',')) === norm(certificateSubject.split('\n'));
}

function peerCertificatePEM(ctx) {
  const peer = ctx.socket.getPeerCertificate?.();
  if (!peer || !peer.raw) return undefined;
  return `-----BEGIN CERTIFICATE-----\n${peer.raw.toString('base64').match(/.{1,64}/g).join('\n')}\n-----END CERTIFICATE-----`;
}

const pendingDecisions = new Map(); // auth_req_id -> timer

// The path of the FAPI protected resource the harness serves beside the
// OP (target.yaml's resource).
const RESOURCE_PATH = '/fapi/accounts';

async function decide(provider, authReqId, action) {
  const request = await provider.BackchannelAuthenticationRequest.find(authReqId);
  if (!request) return false;
  if (action === 'allow') {
    const grant = new provider.Grant({ clientId: request.clientId, accountId: request.accountId });
    grant.addOIDCScope(request.scope);
    if (request.claims?.id_token) grant.addOIDCClaims(Object.keys(request.claims.id_token));
    if (request.claims?.userinfo) grant.addOIDCClaims(Object.keys(request.claims.userinfo));
    await grant.save();
    // The authentication "happened" at the first requested acr the device
    // can perform (CIBA 7.1 acr_values, FAPI-CIBA 5.2.2-8), else its first.
    const requested = String(request.params.acr_values ?? '').split(' ').find((v) => choices.deviceACRs.includes(v));
    await settle(provider, request, grant, { authTime: Math.floor(Date.now() / 1000), acr: requested ?? choices.deviceACRs[0] });
  } else {
    await settle(provider, request, new errors.AccessDenied('end-user denied the request'));
  }
  return true;
}

// settle records the user's decision. backchannelResult saves it and then
// sends the ping (CIBA 10.2) in the same call, so a notification endpoint
// answering 4xx makes it throw after the decision is stored: the device
// has done its part then, and the client can still poll for the result.
async function settle(provider, request, result, extra) {
  try {
    await provider.backchannelResult(request, result, extra);
  } catch (err) {
    const stored = await provider.BackchannelAuthenticationRequest.find(request.jti, { ignoreExpiration: true });
    if (!stored || (!stored.grantId && !stored.error)) throw err;
    console.error(`device: ${request.jti} decided; the ping failed: ${err.message}`);
  }
}

function buildProvider(issuer) {
  const provider = new Provider(issuer, {
    adapter: HarnessAdapter,
    acrValues: choices.acrValues,
    clients: config.clients,
    jwks: { keys: config.keys },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: { openid: ['sub'], profile: ['name'], email: ['email'] },
    clientAuthMethods: choices.clientAuthMethods ?? ['private_key_jwt', 'tls_client_auth', 'self_signed_tls_client_auth'],
    enabledJWA: {
      clientAuthSigningAlgValues: ['PS256', 'ES256'],
      idTokenSigningAlgValues: ['PS256', 'ES256'],
      requestObjectSigningAlgValues: ['PS256', 'ES256'],
      userinfoSigningAlgValues: ['PS256', 'ES256'],
      introspectionSigningAlgValues: ['PS256', 'ES256'],
      authorizationSigningAlgValues: ['PS256', 'ES256'],
    },
    async findAccount(ctx, sub) {
      const user = usersBySub.get(sub);
      if (!user) return undefined;
      return {
        accountId: sub,
        async claims() { return { sub, name: user.name, email: user.email }; },
      };
    },
    ...(choices.issueRefreshToken && { issueRefreshToken: choices.issueRefreshToken }),
    fetch: harnessFetch,
    features: {
      devInteractions: { enabled: false },
      // Open dynamic registration (RFC 7591) only when the test asks for it:
      // the onboarding test registers the clients `ciba-check init` made.
      registration: { enabled: config.registration === true },
      introspection: { enabled: true, ...(choices.introspectionAllowed && { allowedPolicy: choices.introspectionAllowed }) },
      revocation: { enabled: true },
      fapi: { enabled: !choices.plain, profile: '1.0 Final' },
      requestObjects: { enabled: true, requireSignedRequestObject: false },
      mTLS: {
        enabled: !choices.plain,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        selfSignedTlsClientAuth: true,
        getCertificate: peerCertificatePEM,
        certificateAuthorized: (ctx) => ctx.socket.authorized === true,
        certificateSubjectMatches(ctx, property, expected) {
          if (property !== 'tls_client_auth_subject_dn') return false;
          const pem = peerCertificatePEM(ctx);
          return pem !== undefined && sameDN(expected, new X509Certificate(pem).subject);
        },
      },
      ciba: {
        enabled: true,
        deliveryModes: ['poll', 'ping'],
        async processLoginHint(ctx, loginHint) {
          return usersByHint.get(loginHint)?.sub;
        },
        async processLoginHintToken() {
          // This test OP knows its users by login_hint only.
          return undefined;
        },
        async validateRequestContext() {},
        ...(choices.validateBindingMessage && { validateBindingMessage: choices.validateBindingMessage }),
        async verifyUserCode(ctx, account, userCode) {
          const user = usersBySub.get(account.accountId);
          if (ctx.oidc.client.backchannelUserCodeParameter && user?.user_code) {
            if (!userCode) throw new errors.MissingUserCode();
            if (userCode !== user.user_code) throw new errors.InvalidUserCode();
          }
        },
        async triggerAuthenticationDevice(ctx, request, account) {
          const user = usersBySub.get(account.accountId);
          const id = request.jti;
          console.error(`device: ${id} for ${user?.login_hint} (${user?.decision}) binding_message=${JSON.stringify(request.params.binding_message ?? '')}`);
          if (!user || user.decision === 'hold') return;
          // Decide after the acknowledgement has been sent, as a phone would.
          const timer = setTimeout(() => {
            pendingDecisions.delete(id);
            decide(provider, id, user.decision === 'approve' ? 'allow' : 'deny')
              .catch((err) => console.error(`device: deciding ${id}: ${err}`));
          }, user.delay_ms ?? 200);
          pendingDecisions.set(id, timer);
        },
      },
    },
    ttl: {
      // expires_in (CIBA 7.3) from requested_expiry (CIBA 7.1), as chosen.
      BackchannelAuthenticationRequest(ctx) {
        const requested = +ctx?.oidc?.params.requested_expiry;
        return choices.requestExpiry(Number.isSafeInteger(requested) && requested > 0 ? requested : undefined);
      },
      AccessToken: 600,
      IdToken: 600,
      Grant: 3600,
      RefreshToken: 3600,
      Session: 3600,
      Interaction: 600,
    },
  });

  for (const event of ['server_error', 'backchannel_error', 'grant.error', 'backchannel_authentication.error']) {
    provider.on(event, (ctx, err) => {
      console.error(`provider ${event}: ${err?.error ?? ''} ${err?.error_description ?? err?.message ?? err}${err?.cause ? ` (cause: ${err.cause.message ?? err.cause})` : ''}`);
    });
  }

  // A FAPI protected resource beside the OP, as a deployer's API would be
  // (oidc-provider has none; RESOURCE_PATH): GET or POST with the access
  // token as a Bearer header only (FAPI 1.0 Part 1 6.2.1-3, RFC 6750 2.1),
  // over the certificate it is bound to (RFC 8705 3), echoing
  // x-fapi-interaction-id or sending a fresh UUID (6.2.1-11); Node sends
  // the Date header itself.
  provider.use(async (ctx, next) => {
    if (ctx.path !== RESOURCE_PATH) return next();
    ctx.set('x-fapi-interaction-id', ctx.get('x-fapi-interaction-id') || randomUUID());
    ctx.set('cache-control', 'no-store');
    const refuse = (status, error, description) => {
      ctx.status = status;
      ctx.set('www-authenticate', error
        ? `Bearer realm="${RESOURCE_PATH}", error="${error}", error_description="${description}"`
        : `Bearer realm="${RESOURCE_PATH}"`);
      ctx.body = error ? { error, error_description: description } : '';
    };
    if (ctx.method !== 'GET' && ctx.method !== 'POST') {
      ctx.status = 405;
      ctx.set('allow', 'GET, POST');
      return undefined;
    }
    const match = /^Bearer ([A-Za-z0-9\-._~+/]+=*)$/i.exec(ctx.get('authorization'));
    if (!match) return refuse(401);
    const token = await provider.AccessToken.find(match[1]);
    if (!token) return refuse(401, 'invalid_token', 'the access token is unknown or expired');
    if (token['x5t#S256']) {
      const pem = peerCertificatePEM(ctx);
      const thumbprint = pem && createHash('sha256').update(new X509Certificate(pem).raw).digest('base64url');
      if (thumbprint !== token['x5t#S256']) {
        return refuse(401, 'invalid_token', 'the access token is bound to another certificate');
      }
    }
    ctx.body = { sub: token.accountId, client_id: token.clientId, accounts: [{ id: 'acc-1', currency: 'EUR' }] };
    return undefined;
  });

  // The approval endpoint (OIDF automated_ciba_approval_url contract).
  provider.use(async (ctx, next) => {
    if (ctx.path !== '/ciba-sim') return next();
    ctx.set('cache-control', 'no-store');
    const authReqId = ctx.query.auth_req_id;
    const { action } = ctx.query;
    if (typeof authReqId !== 'string' || !authReqId) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'auth_req_id is required' };
      return undefined;
    }
    if (action !== 'allow' && action !== 'deny') {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'action must be allow or deny' };
      return undefined;
    }
    clearTimeout(pendingDecisions.get(authReqId));
    pendingDecisions.delete(authReqId);
    if (!await decide(provider, authReqId, action)) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'no pending request with this auth_req_id' };
      return undefined;
    }
    ctx.body = { done: true };
    return undefined;
  });
  return provider;
}

const server = https.createServer({
  key: readFileSync(config.tls.key),
  cert: readFileSync(config.tls.cert),
  ca: caPEM,
  // Client certificates are requested but verified per client by the
  // provider: self-signed ones (RFC 8705 2.2) have no chain.
  requestCert: true,
  rejectUnauthorized: false,
  minVersion: 'TLSv1.2',
  // FAPI-RW 8.5: TLS 1.2 only with these suites (TLS 1.3 suites unrestricted).
  ciphers: [
    'TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES256-GCM-SHA384',
    'DHE-RSA-AES128-GCM-SHA256', 'DHE-RSA-AES256-GCM-SHA384',
  ].join(':'),
});

let handler = (req, res) => { res.writeHead(503); res.end(); };
server.on('request', (req, res) => handler(req, res));

server.listen(config.port ?? 0, config.host ?? '127.0.0.1', () => {
  const { address, port } = server.address();
  const issuer = `https://${address}:${port}`;
  const provider = buildProvider(issuer);
  handler = provider.callback();
  process.stdout.write(`${JSON.stringify({ ready: true, issuer, instance: randomUUID() })}\n`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    server.close();
    server.closeAllConnections?.();
    process.exit(0);
  });
}
// The Go test closes our stdin when it is done; exit then even if it could
// not send a signal.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
