import { describe, expect, it } from 'vitest';
import type { RequestView } from '../../src/guard/types.js';
import { addressKey, createClientKey, PEER_KEYS_MAX } from '../../src/throttle/client-key.js';
import { view } from './view.js';

describe('createClientKey', () => {
  it('puts the prefix in front of the address key', () => {
    const keyOf = createClientKey({}, 'test', 'rl:p:');
    expect(keyOf(view('203.0.113.7'))).toBe('rl:p:203.0.113.7');
    expect(keyOf(view('::ffff:203.0.113.7'))).toBe('rl:p:203.0.113.7');
    expect(keyOf(view('2001:db8:0:12ff::9'))).toBe('rl:p:2001:db8:0:1200:0:0:0:0/56');
    expect(keyOf(view(null))).toBe('rl:p:unknown');
    expect(keyOf(view('garbage'))).toBe('rl:p:unknown');
  });

  it('gives every peer its own key, interleaved and past the number of peers it remembers', () => {
    const keyOf = createClientKey({}, 'test', 'p:');
    const peers = Array.from({ length: PEER_KEYS_MAX * 2 + 7 }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < peers.length; i++) {
        // A peer seen just before, then another: what was remembered must never answer for a different peer.
        const peer = peers[(i * 7 + round) % peers.length]!;
        expect(keyOf(view(peer))).toBe(`p:${addressKey(peer, 56)}`);
        expect(keyOf(view(peers[i]!))).toBe(`p:${peers[i]}`);
      }
    }
  });

  it('with a trusted proxy, the same peer gets the key of each request forwarding header', () => {
    const keyOf = createClientKey({ trustProxy: ['10.0.0.0/8'] }, 'test', 'p:');
    const peer = '10.0.0.2';
    expect(keyOf(view(peer, { 'x-forwarded-for': '203.0.113.1' }))).toBe('p:203.0.113.1');
    expect(keyOf(view(peer, { 'x-forwarded-for': '203.0.113.2' }))).toBe('p:203.0.113.2');
    expect(keyOf(view(peer))).toBe('p:10.0.0.2');
  });

  it('a peer that cannot be read is the unknown client, not an exception', () => {
    const keyOf = createClientKey({}, 'test', 'p:');
    const broken = {
      ...view(),
      get peer(): string {
        throw new Error('socket gone');
      },
    } as RequestView<any>;
    expect(keyOf(broken)).toBe('p:unknown');
    expect(keyOf(view('203.0.113.9'))).toBe('p:203.0.113.9');
  });
});
