// SPDX-License-Identifier: Apache-2.0
/**
 * Float formatting the way other exporters and Go write numbers. Used by the benchmark data
 * generator (to write values as Go, Python and Java clients do) and by the line-split baseline
 * (to render `bucket` and `quantile` tags in the canonical Go `%v` form the sample model uses).
 *
 * `formatGoFloat` is Go's `fmt.Sprint(float64)`, i.e. `strconv.FormatFloat(v, 'g', -1, 64)`:
 * the shortest digits that round-trip, in `%e` form when the decimal exponent is < -4 or ≥ 6
 * (`1e+06`, `1.234567e+06`, `123456`, `0.0001`, `1e-05`), with an exponent of at least two
 * digits; non-finite values are `+Inf`, `-Inf` and `NaN`.
 */

export function formatGoFloat(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Number.POSITIVE_INFINITY) return '+Inf';
  if (v === Number.NEGATIVE_INFINITY) return '-Inf';
  if (v === 0) return Object.is(v, -0) ? '-0' : '0';
  const e = v.toExponential(); // shortest round-trip digits: "d.ddde±x"
  const at = e.indexOf('e');
  const exp = Number(e.slice(at + 1));
  if (exp < -4 || exp >= 6) {
    const digits = e.slice(0, at);
    const sign = exp < 0 ? '-' : '+';
    const abs = Math.abs(exp);
    return `${digits}e${sign}${abs < 10 ? '0' : ''}${abs}`;
  }
  // JavaScript only switches to exponent form outside [1e-7, 1e21), so this is plain decimal.
  return String(v);
}

/** Python prometheus_client's `floatToGoString`: Go's form, but integral values keep `.0`. */
export function formatPythonFloat(v: number): string {
  const s = formatGoFloat(v);
  if (!Number.isFinite(v)) return s;
  return /^-?\d+$/.test(s) ? `${s}.0` : s;
}

/** Java simpleclient's `doubleToGoString`: `Double.toString` (`1234.0`, `1.7E9`, `1.0E-5`). */
export function formatJavaFloat(v: number): string {
  if (!Number.isFinite(v)) return formatGoFloat(v);
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const a = Math.abs(v);
  if (a >= 1e-3 && a < 1e7) {
    const s = String(v);
    return s.includes('.') ? s : `${s}.0`;
  }
  const e = v.toExponential();
  const at = e.indexOf('e');
  let mantissa = e.slice(0, at);
  if (!mantissa.includes('.')) mantissa += '.0';
  return `${mantissa}E${Number(e.slice(at + 1))}`;
}
