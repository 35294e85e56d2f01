/** Every problem found in one input, each with its location; thrown together at the end. */
export class CocoFormatError extends Error {
  override name = 'CocoFormatError';
  constructor(
    readonly file: string,
    readonly issues: readonly string[],
    readonly totalIssues = issues.length,
  ) {
    const more = totalIssues > issues.length ? `\n... and ${totalIssues - issues.length} more problems` : '';
    super(
      issues.length === 1 && totalIssues === 1
        ? issues[0]!
        : `${file}: ${totalIssues} problems\n${issues.map((s) => `  ${s}`).join('\n')}${more}`,
    );
  }
}

/** Collects problems (keeping the first `limit` messages) so one pass reports all of them. */
export class IssueList {
  readonly messages: string[] = [];
  count = 0;
  constructor(
    readonly file: string,
    readonly limit = 50,
  ) {}

  add(where: string, message: string): void {
    this.count++;
    if (this.messages.length < this.limit) this.messages.push(`${this.file}: ${where}: ${message}`);
  }

  throwIfAny(): void {
    if (this.count > 0) throw new CocoFormatError(this.file, this.messages, this.count);
  }
}

/** A short rendering of a bad value for messages: `[12, 5, -3]`, `"abc"`, `NaN`, `undefined`. */
export function show(v: unknown, max = 80): string {
  let s: string;
  if (typeof v === 'number') s = String(v);
  else if (v === undefined) s = 'undefined';
  else if (Array.isArray(v)) {
    s = '[';
    for (let i = 0; i < v.length; i++) {
      if (s.length > max) {
        s += `, ... (${v.length} items)`;
        break;
      }
      s += (i ? ', ' : '') + show(v[i], max);
    }
    s += ']';
  } else {
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = String(v);
    }
  }
  return s.length > max + 30 ? `${s.slice(0, max)}...` : s;
}
