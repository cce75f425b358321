// Effective partition keys (EPK): where a partition key value sits in the hash ring, so that a
// change-feed read scoped by EPK range (what SDK 4.17 sends for `partition_key=`) can be served.
// Follows azure/cosmos/partition_key.py (`_write_for_hashing_v2`,
// `_get_effective_partition_key_for_hash_partitioning_v2`, `..._multi_hash_partitioning_v2`) and
// azure/cosmos/_cosmos_murmurhash3.py (MurmurHash3 x64 128, seed 0).
"use strict";

const MASK = (1n << 64n) - 1n;
const C1 = 0x87c37b91114253d5n;
const C2 = 0x4cf5ad432745937fn;

const mul = (a, b) => (a * b) & MASK;
const add = (a, b) => (a + b) & MASK;
const rotl = (x, r) => ((x << BigInt(r)) | (x >> BigInt(64 - r))) & MASK;

function fmix(k) {
  k ^= k >> 33n;
  k = mul(k, 0xff51afd7ed558ccdn);
  k ^= k >> 33n;
  k = mul(k, 0xc4ceb9fe1a85ec53n);
  return k ^ (k >> 33n);
}

const mixK1 = k1 => mul(rotl(mul(k1, C1), 31), C2);
const mixK2 = k2 => mul(rotl(mul(k2, C2), 33), C1);

// Little-endian integer of bytes [from, to) of the buffer (the tail block of the hash).
function littleEndian(bytes, from, to) {
  let value = 0n;
  for (let i = Math.min(to, bytes.length) - 1; i >= from; i -= 1) value = (value << 8n) | BigInt(bytes[i]);
  return value;
}

function murmurhash3x64(bytes) {
  let h1 = 0n;
  let h2 = 0n;
  let position = 0;
  for (; position + 16 <= bytes.length; position += 16) {
    h1 ^= mixK1(bytes.readBigUInt64LE(position));
    h1 = add(mul(add(rotl(h1, 27), h2), 5n), 0x52dce729n);
    h2 ^= mixK2(bytes.readBigUInt64LE(position + 8));
    h2 = add(mul(add(rotl(h2, 31), h1), 5n), 0x38495ab5n);
  }
  h2 ^= mixK2(littleEndian(bytes, position + 8, position + 16));
  h1 ^= mixK1(littleEndian(bytes, position, position + 8));
  const length = BigInt(bytes.length);
  h1 ^= length;
  h2 ^= length;
  h1 = add(h1, h2);
  h2 = add(h2, h1);
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = add(h1, h2);
  h2 = add(h2, h1);
  return [h1, h2];
}

// One partition key component as the SDK writes it for hashing (`_write_for_hashing_core`,
// string suffix 0xFF for v2). `undefined` is a document without the partition key path.
function encodeComponent(value) {
  if (value === true) return Buffer.from([0x03]);
  if (value === false) return Buffer.from([0x02]);
  if (value === null) return Buffer.from([0x01]);
  if (value === undefined || (typeof value === "object" && Object.keys(value).length === 0)) {
    return Buffer.from([0x00]);
  }
  if (typeof value === "number") {
    const number = Buffer.alloc(9);
    number[0] = 0x05;
    number.writeDoubleLE(value, 1);
    return number;
  }
  if (typeof value === "string") {
    return Buffer.concat([Buffer.from([0x08]), Buffer.from(value, "utf8"), Buffer.from([0xff])]);
  }
  throw new Error(`a partition key component cannot be ${JSON.stringify(value)}`);
}

// 128-bit hash, bytes reversed, two top bits cleared, upper-case hex (as the SDK does).
function hashToEpk(bytes) {
  const [low, high] = murmurhash3x64(bytes);
  const out = Buffer.alloc(16);
  out.writeBigUInt64LE(low, 0);
  out.writeBigUInt64LE(high, 8);
  out.reverse();
  out[0] &= 0x3f;
  return out.toString("hex").toUpperCase();
}

// The EPK of a list of components under the container's partition key definition.
function effectivePartitionKey(definition, components) {
  const kind = (definition && definition.kind) || "Hash";
  const version = (definition && definition.version) || 1;
  if (kind === "MultiHash") return components.map(c => hashToEpk(encodeComponent(c))).join("");
  if (kind === "Hash" && version === 2) return hashToEpk(Buffer.concat(components.map(encodeComponent)));
  throw new Error(`the stand-in computes EPKs for Hash v2 and MultiHash only, not ${kind} v${version}`);
}

// The partition key components of a document (undefined where a path is missing).
function partitionComponents(definition, doc) {
  const paths = (definition && definition.paths) || [];
  return paths.map(path =>
    path
      .slice(1)
      .split("/")
      .reduce((value, key) => (value === undefined || value === null ? undefined : value[key]), doc)
  );
}

module.exports = { effectivePartitionKey, partitionComponents };
