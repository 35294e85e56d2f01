/** Python's '{:.Nf}' formatting: like toFixed, except exact ties round half to even. */
export function pyFixed(x: number, digits: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const exact = Math.abs(x).toFixed(100);
  const dot = exact.indexOf('.');
  const tail = exact.slice(dot + 1 + digits);
  if (!/^50*$/.test(tail)) return x.toFixed(digits);
  const truncated = exact.slice(0, dot + 1 + digits).replace(/\.$/, '');
  const lastDigit = Number(truncated[truncated.length - 1]);
  const mag = lastDigit % 2 === 0 ? Number(truncated) : Number(truncated) + 10 ** -digits;
  const s = mag.toFixed(digits);
  return x < 0 && Number(s) !== 0 ? `-${s}` : s;
}
