// @sigstore/sign's declarations import types from two packages that ship none here
// (make-fetch-happen; @sigstore/rekor-types, a dev-only dependency of it). Declaring them keeps
// `skipLibCheck: false`, so our own .d.ts files are type-checked in full.
declare module 'make-fetch-happen' {
  export type MakeFetchHappenOptions = Record<string, unknown>;
}
declare module '@sigstore/rekor-types' {
  export type LogEntry = Record<string, unknown>;
  export type ProposedEntry = Record<string, unknown>;
  export type ProposedDSSEEntry = Record<string, unknown>;
  export type ProposedHashedRekordEntry = Record<string, unknown>;
  export type ProposedIntotoEntry = Record<string, unknown>;
}
