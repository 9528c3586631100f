//! Ids, keys and hashes derived from a seed, so that a fleet gets the same ones on every run.

/// 64-bit FNV-1a: stable across runs and platforms, so generated ids are reproducible.
pub(crate) fn fnv1a(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// `len` characters from `alphabet`, derived from `seed`.
pub(crate) fn derived_chars(seed: &[&str], alphabet: &[u8], len: usize) -> String {
    let mut state = fnv1a(seed);
    (0..len)
        .map(|_| {
            // xorshift keeps drawing characters from one seed.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            char::from(alphabet[(state % alphabet.len() as u64) as usize])
        })
        .collect()
}

/// A version-4-shaped UUID derived from `seed`, so generated ids are reproducible.
pub(crate) fn derived_uuid(seed: &[&str]) -> String {
    let hex = derived_chars(seed, b"0123456789abcdef", 32);
    format!(
        "{}-{}-4{}-8{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        &hex[17..20],
        &hex[20..32]
    )
}
