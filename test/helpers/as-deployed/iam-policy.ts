/**
 * IAM identity-policy evaluation, the part of AWS's logic the stack relies
 * on: an explicit Deny wins, else an Allow whose action, resource and every
 * condition match, else the implicit deny. Wildcards `*` and `?` in actions
 * (case-insensitive) and resources; the condition operators the template
 * uses, with AWS's multi-valued rules (ForAllValues is true for a request
 * that carries no value of the key; ForAnyValue is then false; a plain
 * operator on a missing key is false). An operator not modelled throws.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
 */
import type { PolicyStatement } from './template.js';

export interface AuthorizationRequest {
  action: string;
  resource: string;
  /** Condition keys of the request, e.g. dynamodb:LeadingKeys, s3:prefix. */
  context: Record<string, string[]>;
}

const wildcard = (pattern: string, flags = '') =>
  new RegExp(`^${pattern.split('').map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('')}$`, flags);

const matchesAny = (patterns: string | string[], value: string, flags = '') => [patterns].flat().some((p) => wildcard(p, flags).test(value));

function operatorMatches(operator: string, actual: string, expected: string): boolean {
  switch (operator) {
    case 'StringEquals': return actual === expected;
    case 'StringLike': return wildcard(expected).test(actual);
    case 'StringNotEquals': return actual !== expected;
    case 'StringNotLike': return !wildcard(expected).test(actual);
    default: throw new Error(`condition operator ${operator} is not modelled`);
  }
}

function conditionHolds(qualifiedOperator: string, key: string, expected: string[], context: Record<string, string[]>): boolean {
  const [qualifier, operator] = qualifiedOperator.includes(':') ? qualifiedOperator.split(':') as [string, string] : [undefined, qualifiedOperator];
  const values = context[key];
  if (qualifier === 'ForAllValues') return (values ?? []).every((v) => expected.some((e) => operatorMatches(operator, v, e)));
  if (qualifier === 'ForAnyValue') return (values ?? []).some((v) => expected.some((e) => operatorMatches(operator, v, e)));
  if (qualifier !== undefined) throw new Error(`condition qualifier ${qualifier} is not modelled`);
  if (values === undefined || values.length === 0) return operator.startsWith('StringNot');
  if (values.length > 1) throw new Error(`single-valued operator ${operator} on multi-valued ${key}`);
  return expected.some((e) => operatorMatches(operator, values[0]!, e));
}

function statementApplies(st: PolicyStatement, request: AuthorizationRequest): boolean {
  if (!matchesAny(st.Action, request.action, 'i')) return false;
  if (!matchesAny(st.Resource, request.resource)) return false;
  for (const [operator, keys] of Object.entries(st.Condition ?? {})) {
    for (const [key, expected] of Object.entries(keys)) {
      if (!conditionHolds(operator, key, [expected].flat(), request.context)) return false;
    }
  }
  return true;
}

export function isAllowed(statements: PolicyStatement[], request: AuthorizationRequest): boolean {
  if (statements.some((st) => st.Effect === 'Deny' && statementApplies(st, request))) return false;
  return statements.some((st) => st.Effect === 'Allow' && statementApplies(st, request));
}
