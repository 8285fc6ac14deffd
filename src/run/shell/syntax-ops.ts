// Token numbers of mvdan.cc/sh/v3 (syntax/tokens.go), as its GopherJS build reports them.
// test/run/shell.test.ts parses each operator and checks these values.
export const OP = {
  and: 10, or: 11, pipe: 12, pipeAll: 13,
  rdrOut: 54, appOut: 55, rdrIn: 56, rdrInOut: 57, dplIn: 58, dplOut: 59, clbOut: 60, hdoc: 61, dashHdoc: 62, wordHdoc: 63, rdrAll: 64, appAll: 65,
  // parameter expansion
  alternate: 68, alternateColon: 69, default: 70, defaultColon: 71, error: 72, errorColon: 73, assign: 74, assignColon: 75,
  remSmallSuffix: 76, remLargeSuffix: 77, remSmallPrefix: 78, remLargePrefix: 79,
} as const;

// Arithmetic operators (the same token space).
export const ARITH: Record<number, string> = { 68: '+', 70: '-', 38: '*', 85: '/', 76: '%', 40: '==', 41: '!=', 56: '<', 54: '>', 42: '<=', 43: '>=', 10: '&&', 11: '||' };
