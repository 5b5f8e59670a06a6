/**
 * `sinkproof/digest`: the helpers a sink needs to answer reconciliation's digest mode
 * (`SinkDigest`) in code or check its SQL against: `rowHash` (a row's place in the hash
 * space and its digest words), `formatDigest` (a bucket's digest from its word sums),
 * `digestIndex` (a whole `SinkDigest` over rows at hand) and `HASH_SPACE` (the size of
 * the hash space, the `to` of the full range).
 *
 * The types a digest sink implements (`SinkDigest`, `BucketDigest`, `DigestSplit`,
 * `HashRange`, `ObserveRange`) belong to `reconcile`'s options and stay in `sinkproof`.
 *
 * @module
 */

export {
  digestIndex,
  formatDigest,
  HASH_SPACE,
  type RowHash,
  rowHash,
} from "../reconcile/digest.js";
