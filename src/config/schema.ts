// SPDX-License-Identifier: Apache-2.0
/**
 * A small schema language for Strata's resources. One schema value gives four things:
 * - the TypeScript type, by `Infer<typeof schema>`;
 * - defaulting and validation, by `decode(value)`, which reports every problem at once;
 * - the Kubernetes structural openAPIV3Schema, by `toOpenApi(schema)`, for the CRDs.
 *
 * Nodes: `s.boolean()`, `s.integer({minimum})`, `s.number({minimum | exclusiveMinimum})`,
 * `s.string({minLength, maxLength})`, `s.enum([...])`, `s.array(item, {minItems})`,
 * `s.map(value, {key})` (a string-keyed object with free keys), `s.object({...})` (fixed keys,
 * any other key is an error) and `s.exactlyOne({...})` (an object with exactly one of its keys).
 * Modifiers return a copy: `.optional()`, `.default(v)`, `.defaultFrom(ctx => v)`, `.describe(t)`,
 * `.refine(fn)` (a rule across fields, run only when the node itself is valid), `.openApi(o)`
 * (replaces the generated openAPI of a node) and `.as<U>()` (names the type with a supertype
 * of the inferred one, such as an interface with readonly fields).
 *
 * Invariants:
 * - A field is required, optional or defaulted. A default is an input: it is decoded like a
 *   written value, so nested defaults apply (`resources: {}` gives `{pods: true, ...}`), exactly
 *   as Kubernetes defaults a CR top-down.
 * - `null` is the same as an absent field (Kubernetes prunes nulls before defaulting).
 * - Issues are `{path, reason}`; paths are dotted (`spec.static[0].labels["app.kubernetes.io/x"]`),
 *   reasons say what was expected and what was given (`must be ≥ 1, got 0`).
 * - The openAPI output is structural: every node has a `type`; `oneOf` branches hold only
 *   `required`. Rules across fields (`refine`) are not in it: the admission webhook runs them.
 */

export type Presence = 'required' | 'optional' | 'defaulted';

/** What a default may depend on: the namespace of the resource being decoded. */
export interface DecodeContext {
  readonly namespace: string;
}

export interface Issue {
  readonly path: string;
  readonly reason: string;
}

/** Given to a `refine` rule: the node's path, the context, and a way to report issues. */
export interface Check {
  readonly path: string;
  readonly ctx: DecodeContext;
  report(path: string, reason: string): void;
}

/** A Kubernetes JSONSchemaProps subset, as a plain object. */
export type OpenApiSchema = { [key: string]: unknown };

export const INVALID: unique symbol = Symbol('invalid');
export type Invalid = typeof INVALID;

/** An input form of T: every object field optional, for defaults. */
export type Loose<T> = T extends readonly (infer E)[]
  ? readonly Loose<E>[]
  : T extends object
    ? { [K in keyof T]?: Loose<T[K]> }
    : T;

type Default = { readonly value: unknown } | { readonly fn: (ctx: DecodeContext) => unknown };

// Refinements are stored untyped: a property holding `(value: T) => void` would make Schema
// invariant in T, and `Infer`/`Props` need it covariant.
type Refinement = (value: never, check: Check) => void;

export abstract class Schema<T, P extends Presence = 'required'> {
  /** Phantom fields: the decoded type and the presence, for inference only. */
  declare readonly __type: T;
  declare readonly __presence: P;

  presence: Presence = 'required';
  description: string | undefined = undefined;
  defaultValue: Default | undefined = undefined;
  openApiOverride: OpenApiSchema | undefined = undefined;
  refinements: readonly Refinement[] = [];

  /** Decodes a present, non-null value: checks its type and range, applies nested defaults. */
  protected abstract decodeValue(value: unknown, path: string, ctx: DecodeContext, issues: Issue[]): T | Invalid;

  /** The openAPI of this node, without description and default. */
  abstract openApiBody(): OpenApiSchema;

  /** Decodes a value, reporting every issue; returns INVALID if there was at least one. */
  decode(value: unknown, path: string, ctx: DecodeContext, issues: Issue[]): T | Invalid {
    const out = this.decodeValue(value, path, ctx, issues);
    if (out === INVALID || this.refinements.length === 0) return out;
    let ok = true;
    const check: Check = {
      path,
      ctx,
      report(p, reason) {
        ok = false;
        issues.push({ path: p, reason });
      },
    };
    for (const rule of this.refinements) (rule as (value: T, check: Check) => void)(out, check);
    return ok ? out : INVALID;
  }

  /**
   * Decodes a field that is absent (or null): the default if there is one, nothing if optional,
   * an issue if required. Returns `undefined` for an absent optional field.
   */
  decodeAbsent(path: string, ctx: DecodeContext, issues: Issue[]): T | Invalid | undefined {
    const d = this.defaultValue;
    if (d !== undefined) {
      const input = 'value' in d ? structuredClone(d.value) : d.fn(ctx);
      return this.decode(input, path, ctx, issues);
    }
    if (this.presence === 'optional') return undefined;
    issues.push({ path, reason: 'required' });
    return INVALID;
  }

  optional(): Schema<T, 'optional'> {
    return copy(this, { presence: 'optional', defaultValue: undefined }) as unknown as Schema<T, 'optional'>;
  }

  default(value: Loose<T>): Schema<T, 'defaulted'> {
    return copy(this, { presence: 'defaulted', defaultValue: { value } }) as unknown as Schema<T, 'defaulted'>;
  }

  /** A default computed from the context; it does not appear in the openAPI output. */
  defaultFrom(fn: (ctx: DecodeContext) => Loose<T>): Schema<T, 'defaulted'> {
    return copy(this, { presence: 'defaulted', defaultValue: { fn } }) as unknown as Schema<T, 'defaulted'>;
  }

  describe(description: string): this {
    return copy(this, { description });
  }

  refine(rule: (value: T, check: Check) => void): this {
    return copy(this, { refinements: [...this.refinements, rule as Refinement] });
  }

  openApi(schema: OpenApiSchema): this {
    return copy(this, { openApiOverride: schema });
  }

  /**
   * Names the type of this node with a supertype of the inferred one (e.g. an interface with
   * readonly fields); compiles only if the inferred type is assignable to U.
   */
  as<U>(..._proof: [T] extends [U] ? [] : [error: 'the schema type is not assignable to this type']): Schema<U, P> {
    return this as unknown as Schema<U, P>;
  }
}

type Patch = Partial<Pick<AnySchema, 'presence' | 'description' | 'defaultValue' | 'openApiOverride' | 'refinements'>>;

/** A shallow copy with some settings changed: schemas are immutable once built. */
function copy<S extends object>(schema: S, patch: Patch): S {
  return Object.assign(Object.create(Object.getPrototypeOf(schema) as object) as S, schema, patch);
}

export type AnySchema = Schema<unknown, Presence>;
export type Infer<S> = S extends Schema<infer T, Presence> ? T : never;
type Props = { readonly [key: string]: Schema<unknown, Presence> };

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type OptionalKeys<S extends Props> = { [K in keyof S]: S[K] extends Schema<unknown, 'optional'> ? K : never }[keyof S];
export type ObjectOf<S extends Props> = Simplify<
  { [K in Exclude<keyof S, OptionalKeys<S>>]: Infer<S[K]> } & { [K in OptionalKeys<S>]?: Infer<S[K]> }
>;
export type OneOf<V extends Props> = { [K in keyof V]: { [Q in K]: Infer<V[K]> } }[keyof V];

// ---- messages and paths ----

const QUOTE_LIMIT = 64;

/** A string as JSON, capped at 64 characters. */
export function quoteString(v: string): string {
  return v.length > QUOTE_LIMIT ? `${JSON.stringify(v.slice(0, QUOTE_LIMIT))}…` : JSON.stringify(v);
}

/** A value for "got ..." where a string was expected: a string quoted, anything else with its type. */
export function showValue(v: unknown): string {
  return typeof v === 'string' ? quoteString(v) : describeValue(v);
}

/** A value with its type, for "got ..." in a reason about its type. */
export function describeValue(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'string':
      return `string ${quoteString(v)}`;
    case 'number':
    case 'boolean':
      return `${typeof v} ${String(v)}`;
    case 'object':
      return 'an object';
    default:
      return typeof v;
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `path.key`, or `path["odd key"]` when the key is not a plain word. */
export function joinKey(path: string, key: string): string {
  if (!IDENT.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

export function joinIndex(path: string, index: number): string {
  return `${path}[${index}]`;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function setOwn(out: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
}

function typeIssue(issues: Issue[], path: string, expected: string, value: unknown): Invalid {
  issues.push({ path, reason: `must be ${expected}, got ${describeValue(value)}` });
  return INVALID;
}

// ---- scalars ----

class BooleanSchema extends Schema<boolean> {
  protected decodeValue(value: unknown, path: string, _ctx: DecodeContext, issues: Issue[]): boolean | Invalid {
    return typeof value === 'boolean' ? value : typeIssue(issues, path, 'true or false', value);
  }
  openApiBody(): OpenApiSchema {
    return { type: 'boolean' };
  }
}

export interface NumberOptions {
  /** Inclusive lower bound. */
  readonly minimum?: number;
  /** Exclusive lower bound (`> n`). */
  readonly exclusiveMinimum?: number;
  readonly maximum?: number;
  /** Reject NaN and ±Infinity (YAML `.nan`, `.inf`). */
  readonly finite?: boolean;
}

class NumberSchema extends Schema<number> {
  constructor(
    readonly integer: boolean,
    readonly options: NumberOptions,
  ) {
    super();
  }
  protected decodeValue(value: unknown, path: string, _ctx: DecodeContext, issues: Issue[]): number | Invalid {
    const o = this.options;
    if (typeof value !== 'number') return typeIssue(issues, path, this.integer ? 'an integer' : 'a number', value);
    if (this.integer && !Number.isInteger(value)) return typeIssue(issues, path, 'an integer', value);
    let reason: string | undefined;
    if (o.finite === true && !Number.isFinite(value)) reason = 'must be a finite number';
    else if (o.minimum !== undefined && !(value >= o.minimum)) reason = `must be ≥ ${o.minimum}`;
    else if (o.exclusiveMinimum !== undefined && !(value > o.exclusiveMinimum)) reason = `must be > ${o.exclusiveMinimum}`;
    else if (o.maximum !== undefined && !(value <= o.maximum)) reason = `must be ≤ ${o.maximum}`;
    if (reason === undefined) return value;
    issues.push({ path, reason: `${reason}, got ${value}` });
    return INVALID;
  }
  openApiBody(): OpenApiSchema {
    const o = this.options;
    const out: OpenApiSchema = { type: this.integer ? 'integer' : 'number' };
    // Kubernetes (openAPI 3.0): exclusiveMinimum is a flag on minimum.
    if (o.minimum !== undefined) out['minimum'] = o.minimum;
    else if (o.exclusiveMinimum !== undefined) Object.assign(out, { minimum: o.exclusiveMinimum, exclusiveMinimum: true });
    if (o.maximum !== undefined) out['maximum'] = o.maximum;
    return out;
  }
}

export interface StringOptions {
  readonly minLength?: number;
  readonly maxLength?: number;
}

class StringSchema extends Schema<string> {
  constructor(readonly options: StringOptions) {
    super();
  }
  protected decodeValue(value: unknown, path: string, _ctx: DecodeContext, issues: Issue[]): string | Invalid {
    const o = this.options;
    if (typeof value !== 'string') return typeIssue(issues, path, 'a string', value);
    if (o.minLength !== undefined && value.length < o.minLength) {
      issues.push({ path, reason: o.minLength === 1 ? 'must not be empty' : `must be at least ${o.minLength} characters, got ${quoteString(value)}` });
      return INVALID;
    }
    if (o.maxLength !== undefined && value.length > o.maxLength) {
      issues.push({ path, reason: `must be at most ${o.maxLength} characters, got ${value.length}: ${quoteString(value)}` });
      return INVALID;
    }
    return value;
  }
  openApiBody(): OpenApiSchema {
    const o = this.options;
    return { type: 'string', ...(o.minLength === undefined ? {} : { minLength: o.minLength }), ...(o.maxLength === undefined ? {} : { maxLength: o.maxLength }) };
  }
}

class EnumSchema<E extends string> extends Schema<E> {
  constructor(readonly values: readonly E[]) {
    super();
  }
  protected decodeValue(value: unknown, path: string, _ctx: DecodeContext, issues: Issue[]): E | Invalid {
    if (typeof value === 'string' && (this.values as readonly string[]).includes(value)) return value as E;
    const expected = this.values.length === 1 ? `${this.values[0]}` : `one of ${this.values.join(', ')}`;
    issues.push({ path, reason: `must be ${expected}, got ${showValue(value)}` });
    return INVALID;
  }
  openApiBody(): OpenApiSchema {
    return { type: 'string', enum: [...this.values] };
  }
}

// ---- containers ----

export interface ArrayOptions {
  readonly minItems?: number;
}

class ArraySchema<I extends AnySchema> extends Schema<Infer<I>[]> {
  constructor(
    readonly item: I,
    readonly options: ArrayOptions,
  ) {
    super();
  }
  protected decodeValue(value: unknown, path: string, ctx: DecodeContext, issues: Issue[]): Infer<I>[] | Invalid {
    if (!Array.isArray(value)) return typeIssue(issues, path, 'a list', value);
    const min = this.options.minItems;
    let ok = true;
    if (min !== undefined && value.length < min) {
      issues.push({ path, reason: min === 1 ? 'must not be empty' : `must have at least ${min} items, got ${value.length}` });
      ok = false;
    }
    const out: Infer<I>[] = [];
    value.forEach((v: unknown, i) => {
      const p = joinIndex(path, i);
      // A null item is not absent: a list has no optional slots.
      const d = v === null || v === undefined ? typeIssue(issues, p, describeExpected(this.item), v) : this.item.decode(v, p, ctx, issues);
      if (d === INVALID) ok = false;
      else out.push(d as Infer<I>);
    });
    return ok ? out : INVALID;
  }
  openApiBody(): OpenApiSchema {
    const out: OpenApiSchema = { type: 'array', items: toOpenApi(this.item) };
    if (this.options.minItems !== undefined) out['minItems'] = this.options.minItems;
    return out;
  }
}

export interface MapOptions {
  /** Checks a key; returns the reason it is invalid, or undefined. */
  readonly key?: (key: string) => string | undefined;
}

class MapSchema<V extends AnySchema> extends Schema<Record<string, Infer<V>>> {
  constructor(
    readonly value: V,
    readonly options: MapOptions,
  ) {
    super();
  }
  protected decodeValue(value: unknown, path: string, ctx: DecodeContext, issues: Issue[]): Record<string, Infer<V>> | Invalid {
    if (!isPlainObject(value)) return typeIssue(issues, path, 'an object', value);
    const out: Record<string, Infer<V>> = {};
    let ok = true;
    for (const [key, v] of Object.entries(value)) {
      const p = joinKey(path, key);
      const bad = this.options.key?.(key);
      if (bad !== undefined) {
        issues.push({ path: p, reason: bad });
        ok = false;
        continue;
      }
      const d = v === null || v === undefined ? typeIssue(issues, p, describeExpected(this.value), v) : this.value.decode(v, p, ctx, issues);
      if (d === INVALID) ok = false;
      else setOwn(out, key, d);
    }
    return ok ? out : INVALID;
  }
  openApiBody(): OpenApiSchema {
    return { type: 'object', additionalProperties: toOpenApi(this.value) };
  }
}

export interface ObjectOptions {
  /** Keys accepted and dropped (e.g. server-set metadata), never reported as unknown. */
  readonly ignore?: readonly string[];
}

class ObjectSchema<S extends Props> extends Schema<ObjectOf<S>> {
  constructor(
    readonly props: S,
    readonly options: ObjectOptions,
  ) {
    super();
  }
  protected decodeValue(value: unknown, path: string, ctx: DecodeContext, issues: Issue[]): ObjectOf<S> | Invalid {
    if (!isPlainObject(value)) return typeIssue(issues, path, 'an object', value);
    let ok = true;
    const got = new Map<string, unknown>();
    // Pass 1, in the order written: unknown fields and present values.
    for (const [key, v] of Object.entries(value)) {
      const prop = Object.hasOwn(this.props, key) ? this.props[key] : undefined;
      if (prop === undefined) {
        if (this.options.ignore?.includes(key) === true) continue;
        issues.push({ path: joinKey(path, key), reason: 'unknown field' });
        ok = false;
        continue;
      }
      if (v === null || v === undefined) continue;
      const d = prop.decode(v, joinKey(path, key), ctx, issues);
      if (d === INVALID) ok = false;
      got.set(key, d);
    }
    // Pass 2, in the order declared: defaults and missing required fields.
    const out: Record<string, unknown> = {};
    for (const [key, prop] of Object.entries(this.props)) {
      const d = got.has(key) ? got.get(key) : prop.decodeAbsent(joinKey(path, key), ctx, issues);
      if (d === INVALID) ok = false;
      else if (d !== undefined) out[key] = d;
    }
    return ok ? (out as ObjectOf<S>) : INVALID;
  }
  openApiBody(): OpenApiSchema {
    const properties: OpenApiSchema = {};
    const required: string[] = [];
    for (const [key, prop] of Object.entries(this.props)) {
      properties[key] = toOpenApi(prop);
      if (prop.presence === 'required') required.push(key);
    }
    const out: OpenApiSchema = { type: 'object' };
    if (required.length > 0) out['required'] = required;
    if (Object.keys(properties).length > 0) out['properties'] = properties;
    return out;
  }
}

export interface ExactlyOneOptions {
  /** The reason for a key that is not a variant; default "unknown field". */
  readonly unknownKey?: (key: string) => string;
}

class ExactlyOneSchema<V extends Props> extends Schema<OneOf<V>> {
  constructor(
    readonly variants: V,
    readonly options: ExactlyOneOptions,
  ) {
    super();
  }
  protected decodeValue(value: unknown, path: string, ctx: DecodeContext, issues: Issue[]): OneOf<V> | Invalid {
    if (!isPlainObject(value)) return typeIssue(issues, path, 'an object', value);
    const names = Object.keys(this.variants);
    const present: string[] = [];
    const empty: string[] = [];
    let ok = true;
    let out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const variant = Object.hasOwn(this.variants, key) ? this.variants[key] : undefined;
      if (variant === undefined) {
        issues.push({ path: joinKey(path, key), reason: this.options.unknownKey?.(key) ?? 'unknown field' });
        ok = false;
      } else if (v === null || v === undefined) {
        empty.push(key);
      } else {
        present.push(key);
        const d = variant.decode(v, joinKey(path, key), ctx, issues);
        if (d === INVALID) ok = false;
        else out = { [key]: d };
      }
    }
    if (present.length > 1) {
      issues.push({ path, reason: `must have exactly one of ${names.join(', ')}, got ${present.join(', ')}` });
      ok = false;
    } else if (present.length === 0 && ok) {
      const hint = empty.length > 0 ? ` (${empty[0]} has no value: write "${empty[0]}: {}")` : '';
      issues.push({ path, reason: `must have exactly one of ${names.join(', ')}, got none${hint}` });
      ok = false;
    }
    return ok ? (out as OneOf<V>) : INVALID;
  }
  openApiBody(): OpenApiSchema {
    const properties: OpenApiSchema = {};
    for (const [key, variant] of Object.entries(this.variants)) properties[key] = toOpenApi(variant);
    return { type: 'object', properties, oneOf: Object.keys(this.variants).map((key) => ({ required: [key] })) };
  }
}

function describeExpected(schema: AnySchema): string {
  const type = toOpenApi(schema)['type'];
  switch (type) {
    case 'integer':
      return 'an integer';
    case 'array':
      return 'a list';
    case 'object':
      return 'an object';
    case 'boolean':
      return 'true or false';
    default:
      return `a ${String(type)}`;
  }
}

// ---- the builder ----

export const s = {
  boolean: (): Schema<boolean> => new BooleanSchema(),
  integer: (options: NumberOptions = {}): Schema<number> => new NumberSchema(true, options),
  number: (options: NumberOptions = {}): Schema<number> => new NumberSchema(false, options),
  string: (options: StringOptions = {}): Schema<string> => new StringSchema(options),
  enum: <const E extends readonly [string, ...string[]]>(values: E): Schema<E[number]> => new EnumSchema<E[number]>(values),
  array: <I extends AnySchema>(item: I, options: ArrayOptions = {}): Schema<Infer<I>[]> => new ArraySchema(item, options),
  map: <V extends AnySchema>(value: V, options: MapOptions = {}): Schema<Record<string, Infer<V>>> => new MapSchema(value, options),
  object: <S extends Props>(props: S, options: ObjectOptions = {}): Schema<ObjectOf<S>> => new ObjectSchema(props, options),
  exactlyOne: <V extends Props>(variants: V, options: ExactlyOneOptions = {}): Schema<OneOf<V>> => new ExactlyOneSchema(variants, options),
};

/** Decodes a whole value: `{value}` with defaults applied, or every issue. */
export function decode<T>(schema: Schema<T, Presence>, value: unknown, ctx: DecodeContext, path = ''): { value: T } | { issues: Issue[] } {
  const issues: Issue[] = [];
  const out = value === null || value === undefined ? schema.decodeAbsent(path, ctx, issues) : schema.decode(value, path, ctx, issues);
  if (out === INVALID || issues.length > 0) return { issues };
  return { value: out as T };
}

/**
 * The Kubernetes structural openAPIV3Schema of a schema: `type` everywhere, `properties` and
 * `required` for objects, `additionalProperties` for maps, `items` for lists, `enum`, `minimum`
 * (with `exclusiveMinimum: true` for `>`), `minLength`, `minItems`, `description` and static
 * `default` values. `oneOf` branches carry only `required`, as structural schemas demand.
 */
export function toOpenApi(schema: Schema<unknown, Presence>): OpenApiSchema {
  if (schema.openApiOverride !== undefined) return structuredClone(schema.openApiOverride);
  const body = schema.openApiBody();
  const out: OpenApiSchema = { type: body['type'] };
  if (schema.description !== undefined) out['description'] = schema.description;
  Object.assign(out, body);
  const d = schema.defaultValue;
  if (d !== undefined && 'value' in d) out['default'] = structuredClone(d.value);
  return out;
}
