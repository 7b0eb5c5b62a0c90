//! A hasher for keys that are hashes already (a `TypeId`, a keyed digest
//! computed once): their bits are the hash, so a map lookup does not hash
//! twice.

/// The identity hasher of [`BuildPrehashed`] maps.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // How a key type hashes itself is its own business (a `TypeId`
        // may write bytes): fold whatever it writes.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
}

/// Builds [`Prehashed`] hashers.
pub(crate) type BuildPrehashed = std::hash::BuildHasherDefault<Prehashed>;
