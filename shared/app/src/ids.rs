//! New task ids: ULIDs that sort in the order this process made them, even within one
//! millisecond (the monotonic ULID rule), so two tasks for one device submitted in the same
//! millisecond keep their submission order wherever ids order tasks (listings, the worker's
//! order check).

use std::collections::VecDeque;
use std::sync::Mutex;

use ccaas_domain::TaskId;

/// The last id made in each of the most recent milliseconds: (millisecond, random part).
/// More than one millisecond is kept because clocks of several use cases in one process (tests
/// with their own manual clocks) may interleave; the system clock only needs the newest.
static LAST: Mutex<VecDeque<(u64, u128)>> = Mutex::new(VecDeque::new());

/// How many milliseconds [`LAST`] remembers.
const REMEMBERED: usize = 64;

/// A new id for `now_ms`. In a millisecond that already has an id, the next one is that id's
/// random part plus one; otherwise the random part is fresh, below 2^79 so that 2^79 more ids
/// of that millisecond still fit. The id's time is always `now_ms`.
pub fn new_task_id(now_ms: u64) -> TaskId {
    let mut last = LAST.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let random = match last.iter_mut().find(|(ms, _)| *ms == now_ms) {
        Some((_, r)) => {
            *r += 1;
            *r
        }
        None => {
            let r = rand::random::<u128>() & ((1u128 << 79) - 1);
            if last.len() == REMEMBERED {
                last.pop_front();
            }
            last.push_back((now_ms, r));
            r
        }
    };
    TaskId::from_parts(now_ms, random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_of_one_millisecond_sort_in_the_order_they_were_made() {
        // A millisecond no other test uses.
        let ms = 1_234_567_890_123;
        let ids: Vec<TaskId> = (0..1000).map(|_| new_task_id(ms)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
        assert!(ids.iter().all(|id| id.unix_ms() == ms));
        let later = new_task_id(ms + 1);
        assert_eq!(later.unix_ms(), ms + 1);
        assert!(later > ids[999]);
        // A clock that steps back still stamps its own time, and another clock's ids in
        // between do not break this millisecond's order.
        assert_eq!(new_task_id(ms - 5).unix_ms(), ms - 5);
        let again = new_task_id(ms);
        assert!(again > ids[999] && again.unix_ms() == ms);
    }
}
