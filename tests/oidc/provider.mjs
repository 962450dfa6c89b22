// A real OpenID Connect provider for Switchboard's single sign-on tests: the certified
// `oidc-provider` package, on 127.0.0.1 and a port the system picks, with one confidential
// client (PKCE required), an RSA signing key made at start, and the test users given in
// OIDC_USERS. Sign-in and consent are oidc-provider's own development interactions (a login
// form taking the user's id, then a consent form).
//
// Environment: OIDC_REDIRECT_URI (the hub's callback), OIDC_CLIENT_ID, OIDC_CLIENT_SECRET,
// OIDC_USERS (JSON: {"<login>": {claims}}). Once it answers it prints `ready <ISSUER>` (issuer
// http://127.0.0.1:PORT), and it runs until its standard input closes (the test ended).

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { createInterface } from 'node:readline';

import Provider from 'oidc-provider';

const clientId = process.env.OIDC_CLIENT_ID ?? 'switchboard';
const clientSecret = process.env.OIDC_CLIENT_SECRET ?? 'switchboard-test-secret';
const users = JSON.parse(process.env.OIDC_USERS ?? '{}');

const redirectUri = process.env.OIDC_REDIRECT_URI;
if (!redirectUri) throw new Error('OIDC_REDIRECT_URI is required');
createInterface({ input: process.stdin }).on('close', () => process.exit(0));

const server = createServer();
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'test-key', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  pkce: { required: () => true },
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  features: { devInteractions: { enabled: true } },
  async findAccount(_ctx, id) {
    const claims = users[id];
    if (!claims) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...claims }) };
  },
});
server.on('request', provider.callback());
process.stdout.write(`ready ${issuer}\n`);
