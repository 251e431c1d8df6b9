//! Task ids: 26-character, time-sortable, unique ids (the ULID layout in Crockford base32).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// The length of every task id.
pub const TASK_ID_LEN: usize = 26;

/// A task id. Ids made later sort after ids made earlier (millisecond resolution), so the
/// store can order by id and the list is newest first without a separate clock column.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TaskId(String);

impl TaskId {
    /// Builds an id from a Unix time in milliseconds and 80 random bits (the caller supplies
    /// both, so this crate stays free of clocks and randomness).
    pub fn from_parts(unix_ms: u64, random: u128) -> Self {
        let value: u128 =
            ((unix_ms as u128 & 0xFFFF_FFFF_FFFF) << 80) | (random & ((1u128 << 80) - 1));
        let mut out = [0u8; TASK_ID_LEN];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 5 * (TASK_ID_LEN - 1 - i);
            *slot = ALPHABET[((value >> shift) & 0x1F) as usize];
        }
        TaskId(String::from_utf8_lossy(&out).into_owned())
    }

    /// Parses an id as users send it (case-insensitive). Anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != TASK_ID_LEN {
            return None;
        }
        let upper = s.to_ascii_uppercase();
        let bytes = upper.as_bytes();
        // The first character carries only 3 bits (128 = 2 + 25*5).
        if !matches!(bytes[0], b'0'..=b'7') {
            return None;
        }
        if bytes.iter().all(|b| ALPHABET.contains(b)) {
            Some(TaskId(upper))
        } else {
            None
        }
    }

    /// The Unix time in milliseconds at which the id was made.
    pub fn unix_ms(&self) -> u64 {
        let mut v: u128 = 0;
        for b in self.0.bytes().take(10) {
            let d = ALPHABET.iter().position(|a| *a == b).unwrap_or(0) as u128;
            v = (v << 5) | d;
        }
        // 10 chars = 50 bits of a 130-bit field whose top 2 bits are zero: the 48-bit time.
        v as u64
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TaskId({})", self.0)
    }
}

impl Serialize for TaskId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TaskId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        TaskId::parse(&s).ok_or_else(|| serde::de::Error::custom("not a task id"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_made_later_sort_after_ids_made_earlier() {
        let a = TaskId::from_parts(1_700_000_000_000, u128::MAX);
        let b = TaskId::from_parts(1_700_000_000_001, 0);
        assert!(a < b);
        assert_eq!(a.as_str().len(), TASK_ID_LEN);
    }

    #[test]
    fn an_id_round_trips_through_parse_and_keeps_its_time() {
        let a = TaskId::from_parts(1_764_000_000_123, 0xDEAD_BEEF);
        let b = TaskId::parse(&a.as_str().to_ascii_lowercase()).expect("parses");
        assert_eq!(a, b);
        assert_eq!(b.unix_ms(), 1_764_000_000_123);
    }

    #[test]
    fn hostile_or_malformed_ids_do_not_parse() {
        for bad in [
            "",
            "../../etc/passwd",
            "01ARZ3NDEKTSV4RRFFQ69G5FAVX",
            "01ARZ3NDEKTSV4RRFFQ69G5FA",
            "81ARZ3NDEKTSV4RRFFQ69G5FAV",
            "01ARZ3NDEKTSV4RRFFQ69G5FAU",
            "01ARZ3NDEKTSV4RRFFQ69G5F\u{0}V",
        ] {
            assert!(TaskId::parse(bad).is_none(), "{bad:?} parsed");
        }
    }
}
