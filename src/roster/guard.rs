//! The mass-deactivation guard: how many deactivations a plan may hold
//! before a person must allow them by number. One implementation, used by
//! `plan` (through `matching`), by the harness when it applies a plan
//! (`gladly_harness::roster::run`, which recounts a plan file against a
//! fresh read of the organisation), and by the Obelisk workflow
//! (`obelisk/workflow`, which recounts the plan its activity answered).
//!
//! This file uses nothing outside itself, on purpose: the workflow compiles
//! it with `#[path]`. It cannot depend on this crate, because on wasm32
//! this crate *is* the connector component (its `export!` and its wasi:http
//! imports would land in the workflow, which may only call activities); the
//! host can and does. Keep it pure and dependency-free.

/// The share of active agents in scope the guard lets a plan deactivate, in
/// percent, and the fewest it always allows.
pub const GUARD_PERCENT: u32 = 10;
pub const GUARD_MINIMUM: u32 = 5;

/// The threshold when none is given: 10% of the active agents in scope,
/// rounded up, never fewer than 5.
pub fn default_threshold(active_in_scope: u32) -> u32 {
    let share = (u64::from(active_in_scope) * u64::from(GUARD_PERCENT)).div_ceil(100);
    u32::try_from(share).unwrap_or(u32::MAX).max(GUARD_MINIMUM)
}

/// Whether `deactivations` trip the guard: more than the threshold, or every
/// active agent in scope (an empty or truncated roster must never offboard
/// everyone, however few they are).
pub fn trips(deactivations: u32, active_in_scope: u32, threshold: u32) -> bool {
    deactivations > threshold || (deactivations > 0 && deactivations >= active_in_scope)
}

/// The guard over a number of deactivations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Guard {
    pub deactivations: u32,
    pub active_in_scope: u32,
    pub threshold: u32,
    pub tripped: bool,
}

impl Guard {
    /// The guard over `deactivations` of `active_in_scope`, with `threshold`
    /// or else the default.
    pub fn new(deactivations: u32, active_in_scope: u32, threshold: Option<u32>) -> Self {
        let threshold = threshold.unwrap_or_else(|| default_threshold(active_in_scope));
        Self {
            deactivations,
            active_in_scope,
            threshold,
            tripped: trips(deactivations, active_in_scope, threshold),
        }
    }

    /// The guard when a plan is applied: over the deactivations counted
    /// from its changes (`counted`) and the active agents in scope now
    /// (`active_now`, from a fresh read), never over what the plan says of
    /// them. The threshold is the one the operator gave for this run, else
    /// the plan's (`planned`) only where it is stricter than the default for
    /// the organisation as it is now: a number read from a plan file may
    /// tighten the guard, never loosen it.
    pub fn at_apply(counted: u32, active_now: u32, given: Option<u32>, planned: u32) -> Self {
        let threshold = given.unwrap_or_else(|| planned.min(default_threshold(active_now)));
        Self::new(counted, active_now, Some(threshold))
    }

    /// Whether the operator's `allowed` (`--allow-deactivations`) lets the
    /// deactivations through.
    pub fn allows(&self, allowed: Option<u32>) -> bool {
        !self.tripped || allowed.is_some_and(|n| n >= self.deactivations)
    }
}

/// Where what a plan says of its guard (`stated`) disagrees with the
/// `counted` deactivate changes it holds, each disagreement in words; empty
/// when they agree. A plan that disagrees with itself was edited (or merged)
/// after it was made, and is refused whole.
pub fn disagreements(stated: &Guard, counted: u32) -> Vec<String> {
    let mut out = Vec::new();
    if stated.deactivations != counted {
        out.push(format!(
            "\"deactivations\" is {}, but the plan holds {counted} deactivate change(s)",
            stated.deactivations
        ));
    }
    let tripped = trips(counted, stated.active_in_scope, stated.threshold);
    if stated.tripped != tripped {
        out.push(format!(
            "\"guard-tripped\" is {}, but {counted} deactivation(s) of {} active agent(s) in scope, threshold {}, {}",
            stated.tripped,
            stated.active_in_scope,
            stated.threshold,
            if tripped {
                "trip it"
            } else {
                "do not trip it"
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_threshold_is_ten_percent_rounded_up_and_at_least_five() {
        for (active, want) in [
            (0, 5),
            (49, 5),
            (50, 5),
            (51, 6),
            (520, 52),
            (u32::MAX, 429_496_730),
        ] {
            assert_eq!(default_threshold(active), want, "for {active} active");
        }
    }

    #[test]
    fn the_guard_trips_beyond_the_threshold_or_on_everyone() {
        assert!(!trips(5, 100, 5));
        assert!(trips(6, 100, 5));
        assert!(trips(3, 3, 5), "every active agent in scope");
        assert!(!trips(0, 0, 5), "nothing to deactivate");
        assert!(!trips(2, 3, 5));
    }

    #[test]
    fn a_threshold_from_a_plan_file_tightens_the_guard_and_never_loosens_it() {
        // 500 deactivations of 520: a threshold of 1000 written in the file
        // is not believed; the default for 520 (52) is used.
        let g = Guard::at_apply(500, 520, None, 1000);
        assert_eq!((g.threshold, g.tripped), (52, true));
        // A stricter one is kept.
        let g = Guard::at_apply(3, 520, None, 2);
        assert_eq!((g.threshold, g.tripped), (2, true));
        // One the operator gives for this run is used as given.
        let g = Guard::at_apply(60, 520, Some(100), 52);
        assert_eq!((g.threshold, g.tripped), (100, false));
    }

    #[test]
    fn allowing_fewer_than_the_deactivations_is_not_enough() {
        let g = Guard::new(22, 22, None);
        assert!(g.tripped);
        assert!(!g.allows(None));
        assert!(!g.allows(Some(21)));
        assert!(g.allows(Some(22)));
        assert!(Guard::new(1, 100, None).allows(None));
    }

    #[test]
    fn a_plan_whose_numbers_disagree_with_its_changes_says_which() {
        let stated = Guard {
            deactivations: 0,
            active_in_scope: 520,
            threshold: 52,
            tripped: false,
        };
        let d = disagreements(&stated, 500);
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[0].contains("\"deactivations\" is 0") && d[0].contains("500"));
        assert!(d[1].contains("\"guard-tripped\" is false") && d[1].contains("trip it"));
        assert!(disagreements(&Guard::new(500, 520, None), 500).is_empty());
    }
}
