/**
 * A small RFC 8941 structured-field parser (Lists and Dictionaries of Items with parameters), strict
 * enough to refuse what a conforming client would refuse. Used to check bulwark's rate-limit headers.
 */
export type BareItem = number | string | boolean | { token: string };
export interface Item {
  value: BareItem;
  params: Record<string, BareItem>;
}

class Parser {
  i = 0;
  constructor(readonly s: string) {}
  fail(what: string): never {
    throw new SyntaxError(`structured field: ${what} at ${this.i} in ${JSON.stringify(this.s)}`);
  }
  peek(): string {
    return this.s[this.i] ?? '';
  }
  sp(): void {
    while (this.peek() === ' ') this.i++;
  }
  ows(): void {
    while (this.peek() === ' ' || this.peek() === '\t') this.i++;
  }
  key(): string {
    const m = /^[a-z*][a-z0-9_\-.*]*/.exec(this.s.slice(this.i));
    if (!m) this.fail('key expected');
    this.i += m[0].length;
    return m[0];
  }
  bare(): BareItem {
    const c = this.peek();
    if (c === '"') {
      this.i++;
      let out = '';
      for (;;) {
        const ch = this.s[this.i++];
        if (ch === undefined) this.fail('unterminated string');
        if (ch === '\\') {
          const next = this.s[this.i++];
          if (next !== '"' && next !== '\\') this.fail('bad escape');
          out += next;
        } else if (ch === '"') return out;
        else if (ch < ' ' || ch > '~') this.fail('bad string character');
        else out += ch;
      }
    }
    if (c === '?') {
      this.i++;
      const b = this.s[this.i++];
      if (b !== '0' && b !== '1') this.fail('bad boolean');
      return b === '1';
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      const m = /^-?\d{1,15}(\.\d{1,3})?/.exec(this.s.slice(this.i));
      if (!m) this.fail('bad number');
      this.i += m[0].length;
      return Number(m[0]);
    }
    const m = /^[A-Za-z*][A-Za-z0-9!#$%&'*+\-.^_`|~:/]*/.exec(this.s.slice(this.i));
    if (!m) this.fail('bare item expected');
    this.i += m[0].length;
    return { token: m[0] };
  }
  params(): Record<string, BareItem> {
    const params: Record<string, BareItem> = {};
    while (this.peek() === ';') {
      this.i++;
      this.sp();
      const k = this.key();
      let v: BareItem = true;
      if (this.peek() === '=') {
        this.i++;
        v = this.bare();
      }
      params[k] = v;
    }
    return params;
  }
  item(): Item {
    const value = this.bare();
    return { value, params: this.params() };
  }
  end(): boolean {
    this.ows();
    if (this.i >= this.s.length) return true;
    if (this.peek() !== ',') this.fail('comma expected');
    this.i++;
    this.ows();
    if (this.i >= this.s.length) this.fail('trailing comma');
    return false;
  }
}

/** Parses a List of Items (inner lists are not used by rate-limit headers and are refused). */
export function parseList(text: string): Item[] {
  const p = new Parser(text);
  p.sp();
  const out: Item[] = [];
  if (p.i >= text.length) return out;
  for (;;) {
    out.push(p.item());
    if (p.end()) return out;
  }
}

/** Parses a Dictionary. */
export function parseDictionary(text: string): Record<string, Item> {
  const p = new Parser(text);
  p.sp();
  const out: Record<string, Item> = {};
  if (p.i >= text.length) return out;
  for (;;) {
    const k = p.key();
    if (p.peek() === '=') {
      p.i++;
      out[k] = p.item();
    } else out[k] = { value: true, params: p.params() };
    if (p.end()) return out;
  }
}
