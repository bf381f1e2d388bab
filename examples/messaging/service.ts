/**
 * The demo messaging API's behaviour, framework-neutral: each function takes what a handler read from
 * the request and returns a status and a JSON body, or throws an ApiError with a documented code.
 * The Express, Koa and fetch versions of the demo only translate.
 */
import { randomUUID } from 'node:crypto';
import { ApiError } from '../../src/index.js';
import {
  APPROVED_SENDERS,
  MAX_VOICE_TEXT,
  NUMBER_PATTERN,
  PRICE_CENTS,
  ROUTABLE_TRAFFIC,
  TOKENS,
  WALLETS,
} from './rules.js';

export interface Caller {
  account: string;
  scopes: ReadonlyArray<string>;
}

export interface Reply {
  status: number;
  body: unknown;
}

interface Message {
  id: string;
  account: string;
  from: string;
  to: string[];
  type: 'sms' | 'voice';
  traffic_type: string;
  status: 'queued';
  cost_cents: number;
  created_at: string;
}

/** One demo API instance: its messages and wallets live in memory. */
export class MessagingService {
  readonly #messages = new Map<string, Message>();
  readonly #wallets = new Map<string, number>(Object.entries(WALLETS));
  /** Optional artificial delay of each send, in ms (the tour uses it to show an in-flight duplicate). */
  sendDelayMs = 0;
  /** How many sends were carried out (each one a side effect the idempotency guard must not repeat). */
  sends = 0;

  /** Resolves `Authorization: Bearer <token>`; 401 `unauthorized` when missing or unknown. */
  authenticate(authorization: string | undefined): Caller {
    const match = /^Bearer ([A-Za-z0-9_]+)$/.exec(authorization ?? '');
    const entry = match ? TOKENS[match[1]!] : undefined;
    if (!entry) throw new ApiError('unauthorized');
    return entry;
  }

  /** POST /v1/messages */
  async send(caller: Caller, body: unknown): Promise<Reply> {
    requireScope(caller, 'messages:write');
    const input = asObject(body);
    const from = requireString(input, 'from');
    const type = input.type === undefined ? 'sms' : input.type;
    if (type !== 'sms' && type !== 'voice') throw invalid('type must be "sms" or "voice".');
    const trafficType = input.traffic_type === undefined ? 'transactional' : input.traffic_type;
    if (typeof trafficType !== 'string') throw invalid('traffic_type must be a string.');
    const recipients = this.#recipients(input.to);
    if (!APPROVED_SENDERS.has(from)) throw new ApiError('sender_not_approved');
    if (!ROUTABLE_TRAFFIC.has(trafficType)) {
      throw new ApiError('traffic_not_routable', { details: { traffic_type: trafficType } });
    }
    if (type === 'voice') await checkVoice(input);
    else requireString(input, 'text');
    const cost = recipients.length * PRICE_CENTS;
    const balance = this.#wallets.get(caller.account) ?? 0;
    if (balance < cost) throw new ApiError('insufficient_balance');
    if (this.sendDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.sendDelayMs));
    this.#wallets.set(caller.account, balance - cost);
    this.sends += 1;
    const message: Message = {
      id: `msg_${randomUUID().replaceAll('-', '').slice(0, 20)}`,
      account: caller.account,
      from,
      to: recipients,
      type,
      traffic_type: trafficType,
      status: 'queued',
      cost_cents: cost,
      created_at: new Date().toISOString(),
    };
    this.#messages.set(message.id, message);
    return { status: 202, body: publicMessage(message) };
  }

  /** GET /v1/messages/:id: another account's message is a 404 like a missing one. */
  get(caller: Caller, id: string): Reply {
    requireScope(caller, 'messages:read');
    const message = this.#messages.get(id);
    if (!message || message.account !== caller.account) throw new ApiError('not_found');
    return { status: 200, body: publicMessage(message) };
  }

  /** POST /v1/lookups */
  lookup(caller: Caller, body: unknown): Reply {
    requireScope(caller, 'lookups');
    const input = asObject(body);
    if (!Array.isArray(input.numbers) || input.numbers.length === 0 || input.numbers.length > 100) {
      throw invalid('numbers must be a list of 1 to 100 phone numbers.');
    }
    const numbers = input.numbers.filter((n): n is string => typeof n === 'string' && NUMBER_PATTERN.test(n));
    if (numbers.length === 0) throw new ApiError('no_valid_numbers');
    return {
      status: 200,
      body: { results: numbers.map((number) => ({ number, valid: true, country: number.startsWith('+1') ? 'US' : 'ZZ' })) },
    };
  }

  /** Cost of a send request in cents, for the spend cap (0 when the body is not a send). */
  static costOf(body: unknown): number {
    if (typeof body !== 'object' || body === null) return 0;
    const to = (body as { to?: unknown }).to;
    const count = Array.isArray(to) ? to.filter((n) => typeof n === 'string' && NUMBER_PATTERN.test(n)).length : 1;
    return count * PRICE_CENTS;
  }

  #recipients(to: unknown): string[] {
    if (typeof to === 'string') {
      if (!NUMBER_PATTERN.test(to)) throw new ApiError('invalid_recipient');
      return [to];
    }
    if (Array.isArray(to) && to.length > 0 && to.length <= 100) {
      const valid = to.filter((n): n is string => typeof n === 'string' && NUMBER_PATTERN.test(n));
      if (valid.length === 0) throw new ApiError('no_valid_recipients');
      return valid;
    }
    throw invalid('to must be a phone number or a list of 1 to 100 phone numbers.');
  }
}

function publicMessage(message: Message): Record<string, unknown> {
  const { account: _account, ...rest } = message;
  return rest;
}

function requireScope(caller: Caller, scope: string): void {
  if (!caller.scopes.includes(scope)) throw new ApiError('forbidden');
}

function invalid(message: string): ApiError {
  return new ApiError('invalid_request', { message });
}

function asObject(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('The body must be a JSON object.');
  return body as Record<string, unknown>;
}

function requireString(input: Record<string, unknown>, name: string): string {
  const value = input[name];
  if (typeof value !== 'string' || value.length === 0) throw invalid(`${name} must be a non-empty string.`);
  return value;
}

async function checkVoice(input: Record<string, unknown>): Promise<void> {
  if (input.audio_url !== undefined) {
    if (typeof input.audio_url !== 'string') throw invalid('audio_url must be a string.');
    if (!(await fetchable(input.audio_url))) throw new ApiError('audio_error', { message: 'audio_url could not be fetched.' });
    return;
  }
  const text = requireString(input, 'text');
  if (text.length > MAX_VOICE_TEXT) {
    throw new ApiError('audio_error', { message: `The voice text could not be synthesized (over ${MAX_VOICE_TEXT} characters).` });
  }
}

/** The demo only ever fetches loopback URLs, with a short timeout. */
async function fetchable(url: string): Promise<boolean> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (!['http:', 'https:'].includes(parsed.protocol)) return false;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(parsed.hostname)) return false;
  try {
    const res = await fetch(parsed, { signal: AbortSignal.timeout(2000) });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}
