import type { AmfObject } from '../amf/amf-value.js';

/** The info object of an onStatus / _error reply. */
export function statusInfo(level: 'status' | 'error' | 'warning', code: string, description: string, extra: AmfObject = {}): AmfObject {
  return { level, code, description, ...extra };
}
