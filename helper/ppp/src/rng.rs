//! The engine's randomness: Magic-Numbers, CHAP challenges, MS-CHAPv2 peer
//! challenges and IPv6 interface identifiers. The caller supplies a 32-byte
//! seed (from the OS in the runtime, fixed in tests) so that runs are
//! reproducible; the stream is MD5 in counter mode over that seed, which is
//! unpredictable to a peer that does not know the seed.

use md5::{Digest, Md5};

#[derive(Clone, Debug)]
pub(crate) struct Rng {
    seed: [u8; 32],
    counter: u64,
    block: [u8; 16],
    used: usize,
}

impl Rng {
    pub(crate) fn new(seed: [u8; 32]) -> Self {
        Rng {
            seed,
            counter: 0,
            block: [0; 16],
            used: 16,
        }
    }

    /// A generator for one component, independent of the others.
    pub(crate) fn fork(&mut self, label: &[u8]) -> Rng {
        let mut seed = [0u8; 32];
        for (i, half) in seed.chunks_mut(16).enumerate() {
            let digest = Md5::new()
                .chain_update(self.seed)
                .chain_update(label)
                .chain_update([i as u8])
                .finalize();
            half.copy_from_slice(&digest);
        }
        Rng::new(seed)
    }

    pub(crate) fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            if self.used == self.block.len() {
                let digest = Md5::new()
                    .chain_update(self.seed)
                    .chain_update(self.counter.to_le_bytes())
                    .finalize();
                self.block.copy_from_slice(&digest);
                self.counter = self.counter.wrapping_add(1);
                self.used = 0;
            }
            *b = self.block[self.used];
            self.used += 1;
        }
    }

    pub(crate) fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill(&mut b);
        u32::from_le_bytes(b)
    }

    /// A non-zero u32 (Magic-Numbers may not be zero, RFC 1661 §6.4).
    pub(crate) fn nonzero_u32(&mut self) -> u32 {
        loop {
            let v = self.u32();
            if v != 0 {
                return v;
            }
        }
    }

    pub(crate) fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        self.fill(&mut b);
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_forks_differ() {
        let mut a = Rng::new([7; 32]);
        let mut b = Rng::new([7; 32]);
        assert_eq!(a.bytes::<40>(), b.bytes::<40>());
        let mut fa = a.fork(b"lcp");
        let mut fb = a.fork(b"ipcp");
        assert_ne!(fa.u32(), fb.u32());
        assert_ne!(a.nonzero_u32(), 0);
    }
}
