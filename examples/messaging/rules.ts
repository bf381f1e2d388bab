/**
 * Every condition under which the demo messaging API answers with an error, in one place.
 * The README lists the same table; the demo test checks each row.
 */

/** Bearer tokens the demo accepts, and the account and scopes each one stands for. */
export const TOKENS: Readonly<Record<string, { account: string; scopes: ReadonlyArray<'messages:write' | 'messages:read' | 'lookups'> }>> = {
  demo_alice: { account: 'acct_alice', scopes: ['messages:write', 'messages:read', 'lookups'] },
  demo_bob: { account: 'acct_bob', scopes: ['messages:write', 'messages:read', 'lookups'] },
  demo_readonly: { account: 'acct_alice', scopes: ['messages:read'] },
  demo_broke: { account: 'acct_broke', scopes: ['messages:write', 'messages:read', 'lookups'] },
  // Accounts of the demo's tour (examples/tour.ts), so that its throttling and spending leave the others usable.
  demo_tour: { account: 'acct_tour', scopes: ['messages:write', 'messages:read', 'lookups'] },
  demo_burst: { account: 'acct_burst', scopes: ['messages:write', 'messages:read', 'lookups'] },
  demo_spender: { account: 'acct_spender', scopes: ['messages:write', 'messages:read', 'lookups'] },
};

/** Wallet balance of each account, in cents. A send costs `PRICE_CENTS` per recipient. */
export const WALLETS: Readonly<Record<string, number>> = {
  acct_alice: 100_000,
  acct_bob: 100_000,
  acct_broke: 3,
  acct_tour: 100_000,
  acct_burst: 100_000,
  acct_spender: 100_000,
};

/** Price of one message to one recipient, in cents. */
export const PRICE_CENTS = 5;

/** Daily spend cap per account, in cents (the spend cap answers 403 spend_limit_exceeded with period "daily"). */
export const DAILY_SPEND_CAP_CENTS = 100;

/** Sender IDs approved for every account. Anything else is `sender_not_approved`. */
export const APPROVED_SENDERS: ReadonlySet<string> = new Set(['BULWARK', 'ACME', '+15550100']);

/** Traffic types that have a route. Anything else (for example "marketing") is `traffic_not_routable`. */
export const ROUTABLE_TRAFFIC: ReadonlySet<string> = new Set(['transactional', 'otp']);

/** A usable destination number: E.164, "+" then 8 to 15 digits. */
export const NUMBER_PATTERN = /^\+[1-9][0-9]{7,14}$/;

/** Longest voice text that the demo can synthesise. */
export const MAX_VOICE_TEXT = 500;

/** Requests per minute per account (plus a burst), for the rate limit (429 throttled). */
export const RATE_LIMIT = { limit: 60, windowMs: 60_000, burst: 20 } as const;

/**
 * The error conditions as a table: the README prints it and the demo test walks it.
 * `request` is what triggers it with the demo's tokens.
 */
export const CONDITIONS: ReadonlyArray<{ code: string; status: number; when: string }> = [
  { code: 'unauthorized', status: 401, when: 'no bearer token, or one the demo does not know' },
  { code: 'forbidden', status: 403, when: 'token demo_readonly tries to send or look up' },
  { code: 'insufficient_balance', status: 402, when: 'account acct_broke (token demo_broke) sends: its wallet holds 3 cents, a message costs 5' },
  { code: 'spend_limit_exceeded', status: 403, when: 'a send would take an account past 100 cents in one day (UTC), e.g. a third send to 10 recipients; body has period "daily"' },
  { code: 'ip_not_allowed', status: 403, when: 'the client address is not on the allowlist (DEMO_ALLOW, default loopback only)' },
  { code: 'traffic_not_routable', status: 422, when: 'traffic_type other than "transactional" or "otp"; body has traffic_type' },
  { code: 'sender_not_approved', status: 422, when: 'from is not BULWARK, ACME or +15550100' },
  { code: 'no_valid_recipients', status: 422, when: 'to is a list and none of its numbers is E.164' },
  { code: 'invalid_recipient', status: 422, when: 'to is a single number that is not E.164' },
  { code: 'no_valid_numbers', status: 422, when: 'POST /v1/lookups with numbers of which none is E.164' },
  { code: 'invalid_request', status: 422, when: 'malformed JSON, a missing or mistyped field' },
  { code: 'audio_error', status: 422, when: 'type "voice" with text over 500 characters, or an audio_url that cannot be fetched (the demo fetches loopback URLs only)' },
  { code: 'throttled', status: 429, when: 'more than 60 requests a minute (a burst of 20 at once) from one account' },
  { code: 'idempotency_conflict', status: 409, when: 'a second POST with the same Idempotency-Key while the first still runs' },
  { code: 'not_found', status: 404, when: 'GET /v1/messages/:id of an unknown id or of another account, or an unknown route' },
];
